package loadgen_test

import (
	"context"
	"net"
	"os"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tfgate/tfgate/internal/loadgen"
)

// TestStartRedis checks the launcher tfgate-bench uses: a server that
// answers, keeps nothing on disk, and is gone after Close.
func TestStartRedis(t *testing.T) {
	r, err := loadgen.StartRedis()
	if err != nil {
		t.Fatalf("%v (redis-server is needed: apt-get install -y redis-server)", err)
	}
	defer r.Close()
	if host, _, _ := net.SplitHostPort(r.Addr); host != "127.0.0.1" {
		t.Errorf("Addr %s is not on loopback", r.Addr)
	}
	c := redis.NewClient(&redis.Options{Addr: r.Addr})
	defer c.Close()
	ctx := context.Background()
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatalf("PING: %v", err)
	}
	cfg, err := c.ConfigGet(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if cfg["save"] != "" || cfg["appendonly"] != "no" {
		t.Errorf("save %q, appendonly %q; want persistence off", cfg["save"], cfg["appendonly"])
	}
	dir := cfg["dir"]
	r.Close()
	r.Close() // a second Close does nothing
	if conn, err := net.DialTimeout("tcp", r.Addr, time.Second); err == nil {
		conn.Close()
		t.Error("redis-server still answers after Close")
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("directory %s not removed: %v", dir, err)
	}
}
