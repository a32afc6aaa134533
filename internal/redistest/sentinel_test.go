package redistest

import (
	"context"
	"testing"
	"time"
)

func TestStartSentinelFailover(t *testing.T) {
	t.Parallel()
	start := time.Now()
	s := StartSentinel(t, 1)
	t.Logf("master, replica and sentinel up in %v", time.Since(start))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := s.Client()
	if err := c.Set(ctx, "k", "v", time.Minute).Err(); err != nil {
		t.Fatalf("SET through the sentinel: %v", err)
	}
	// WAIT makes the replica hold the key before the master dies.
	if n, err := c.Wait(ctx, 1, 5*time.Second).Result(); err != nil || n != 1 {
		t.Fatalf("WAIT 1 = %d, %v", n, err)
	}
	old := s.Master()
	if old != s.Nodes[0] {
		t.Fatalf("master is %s, want the first node %s", old.Addr, s.Nodes[0].Addr)
	}
	start = time.Now()
	old.Kill()
	s.WaitFailover(old)
	t.Logf("failover done in %v", time.Since(start))
	if s.Master() == old {
		t.Fatal("the killed master is still the master")
	}
	// The client follows the sentinel to the new master.
	var got string
	var err error
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if got, err = c.Get(ctx, "k").Result(); err == nil {
			break
		}
	}
	if err != nil || got != "v" {
		t.Fatalf("GET after failover = %q, %v; want v", got, err)
	}
	if err := c.Set(ctx, "k2", "v", time.Minute).Err(); err != nil {
		t.Fatalf("SET after failover: %v", err)
	}
}
