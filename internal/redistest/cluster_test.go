package redistest

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestStartCluster(t *testing.T) {
	t.Parallel()
	start := time.Now()
	c := StartCluster(t, 3, 0)
	t.Logf("3-master cluster up in %v", time.Since(start))
	if len(c.Addrs) != 3 || len(c.IDs) != 3 {
		t.Fatalf("Addrs = %v, IDs = %v; want 3 each", c.Addrs, c.IDs)
	}
	writeAcrossSlots(t, c)
	ctx := context.Background()
	for _, m := range c.Masters() {
		if n, err := m.Client().DBSize(ctx).Result(); err != nil || n == 0 {
			t.Errorf("master %s holds %d keys (%v); want keys on every master", m.Addr, n, err)
		}
	}
}

func TestStartClusterFailover(t *testing.T) {
	t.Parallel()
	start := time.Now()
	c := StartCluster(t, 3, 1)
	t.Logf("3+3 cluster up in %v", time.Since(start))
	ctx := context.Background()
	for _, r := range c.Replicas() {
		info, err := r.Client().Info(ctx, "replication").Result()
		if err != nil || !strings.Contains(info, "role:slave") {
			t.Fatalf("replica %s: %v\n%s", r.Addr, err, info)
		}
	}

	start = time.Now()
	c.Masters()[0].Kill()
	c.WaitOK()
	t.Logf("failover done in %v", time.Since(start))
	writeAcrossSlots(t, c)
}

// writeAcrossSlots writes and reads back keys that land on every master.
func writeAcrossSlots(t *testing.T, c *Cluster) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cl := c.Client()
	for i := range 100 {
		k, v := fmt.Sprintf("key:%d", i), fmt.Sprint(i)
		if err := cl.Set(ctx, k, v, time.Minute).Err(); err != nil {
			t.Fatalf("SET %s: %v", k, err)
		}
		if got, err := cl.Get(ctx, k).Result(); err != nil || got != v {
			t.Fatalf("GET %s = %q, %v; want %q", k, got, err, v)
		}
	}
}
