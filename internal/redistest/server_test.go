package redistest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestStart(t *testing.T) {
	t.Parallel()
	s := Start(t)
	ctx := context.Background()
	c := s.Client()
	if err := c.Set(ctx, "k", "v", time.Minute).Err(); err != nil {
		t.Fatalf("SET: %v", err)
	}
	if got, err := c.Get(ctx, "k").Result(); err != nil || got != "v" {
		t.Fatalf("GET = %q, %v; want v", got, err)
	}
	if !strings.HasPrefix(s.Addr, "127.0.0.1:") {
		t.Errorf("Addr = %q, want a loopback address", s.Addr)
	}
	cfg, err := c.ConfigGet(ctx, "save").Result()
	if err != nil || cfg["save"] != "" {
		t.Errorf("CONFIG GET save = %v, %v; want empty (no persistence)", cfg, err)
	}
}

func TestStartIsolated(t *testing.T) {
	t.Parallel()
	a, b := Start(t), Start(t)
	if a.Addr == b.Addr {
		t.Fatalf("two servers share %s", a.Addr)
	}
	ctx := context.Background()
	a.Client().Set(ctx, "k", "a", 0)
	if n, _ := b.Client().Exists(ctx, "k").Result(); n != 0 {
		t.Fatal("a key written to one server is visible on the other")
	}
}

func TestStopRestart(t *testing.T) {
	t.Parallel()
	s := Start(t)
	ctx := context.Background()
	c := s.Client()
	c.Set(ctx, "k", "v", 0)

	s.Stop()
	if err := c.Ping(ctx).Err(); err == nil {
		t.Fatal("PING succeeded on a stopped server")
	}
	s.Stop() // idempotent

	s.Restart()
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatalf("PING after Restart: %v", err)
	}
	if n, _ := c.Exists(ctx, "k").Result(); n != 0 {
		t.Error("data survived a restart; persistence should be off")
	}
}

func TestKill(t *testing.T) {
	t.Parallel()
	s := Start(t)
	s.Kill()
	s.Kill() // idempotent
	if err := s.Client().Ping(context.Background()).Err(); err == nil {
		t.Fatal("PING succeeded on a killed server")
	}
}

func TestPauseResume(t *testing.T) {
	t.Parallel()
	s := Start(t)
	c := s.Client()
	if err := c.Ping(context.Background()).Err(); err != nil {
		t.Fatalf("PING: %v", err)
	}
	s.Pause()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := c.Ping(ctx).Err()
	if err == nil {
		t.Fatal("PING succeeded on a paused server")
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("PING on a paused server took %v; the context deadline should bound it", d)
	}
	s.Resume()
	if err := c.Ping(context.Background()).Err(); err != nil {
		t.Fatalf("PING after Resume: %v", err)
	}
}

// fatalTB records Fatalf and stops the calling goroutine, as testing.T does.
type fatalTB struct {
	testing.TB
	msg string
}

func (f *fatalTB) Helper() {}

func (f *fatalTB) Fatalf(format string, args ...any) {
	f.msg = strings.TrimSpace(fmt.Sprintf(format, args...))
	runtime.Goexit()
}

func TestStartWithoutRedisServer(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	fake := &fatalTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		Start(fake)
	}()
	<-done
	const want = "redis-server not found: install it with `apt-get install -y redis-server redis-tools`"
	if !strings.Contains(fake.msg, want) {
		t.Fatalf("Fatalf message = %q, want it to contain %q", fake.msg, want)
	}
}

func TestLogTail(t *testing.T) {
	t.Parallel()
	s := &Server{Dir: t.TempDir()}
	var b strings.Builder
	for i := range 100 {
		b.WriteString("line " + string(rune('a'+i%26)) + "\n")
	}
	if err := os.WriteFile(s.logPath(), []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(s.logTail()), "\n") + 1; n != logTailLines {
		t.Errorf("logTail has %d lines, want %d", n, logTailLines)
	}
	if _, err := os.Stat(s.logPath()); errors.Is(err, os.ErrNotExist) {
		t.Fatal("log missing")
	}
}
