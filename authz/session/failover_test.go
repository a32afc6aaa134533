package session

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tfgate/tfgate/authz"
)

// testFailover writes a session, a request ID and a replay-cache entry with
// WaitReplicas 1, kills the master that holds the session (kill returns
// once the failover is done), and checks that every write survived. Until
// the new master answers, every Lookup must fail with "could not decide",
// never succeed with another session nor claim the session is gone.
func testFailover(t *testing.T, client redis.UniversalClient, kill func(key string)) {
	ctx := context.Background()
	clock := newTestClock()
	s, err := NewRedis(client, RedisConfig{Prefix: newTestPrefix(), Timeout: time.Second, WaitReplicas: 1, WaitTimeout: 5 * time.Second, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := authz.NewToken(nil)
	if err != nil {
		t.Fatal(err)
	}
	want := authz.Session{Subject: "failover@example.com", Groups: []string{"g"}, CreatedAt: clock.Now(), ExpiresAt: clock.Now().Add(time.Hour)}
	if err := s.Create(ctx, tok, want); err != nil {
		t.Fatalf("Create: %v", err)
	}
	if err := s.Remember(ctx, "req-failover", time.Hour); err != nil {
		t.Fatalf("Remember: %v", err)
	}
	if seen, err := s.SeenBefore(ctx, "assertion-failover", clock.Now().Add(time.Hour)); err != nil || seen {
		t.Fatalf("SeenBefore = %v, %v", seen, err)
	}
	// Lookups run throughout: before, during and after the failover.
	var failed, found atomic.Int64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
			got, err := s.Lookup(ctx, tok)
			switch {
			case errors.Is(err, authz.ErrNoSession):
				t.Errorf("Lookup during failover: %v; the session was lost", err)
			case err != nil:
				failed.Add(1)
			case got.Subject != want.Subject:
				t.Errorf("Lookup during failover returned %q's session", got.Subject)
			default:
				found.Add(1)
			}
		}
	}()
	start := time.Now()
	kill(sessionKey(s.prefix, refOf(tok)))
	failedAtFailover := failed.Load()
	var got authz.Session
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		got, err = s.Lookup(ctx, tok)
		if err == nil {
			break
		}
		if errors.Is(err, authz.ErrNoSession) {
			t.Fatalf("Lookup after failover: %v; the session was lost", err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("Lookup still failing %v after the kill: %v", time.Since(start), err)
		}
	}
	close(stop)
	<-done
	t.Logf("session found again %v after the kill; %d lookups could not decide (%d of them after the failover), %d found it",
		time.Since(start), failed.Load(), failed.Load()-failedAtFailover, found.Load())
	assertSession(t, got, want)
	// The new master has no replica left, so a store that waits would now
	// fail every write with ErrNotReplicated; check the survivors with one
	// that does not.
	s.wait = 0
	if seen, err := s.SeenBefore(ctx, "assertion-failover", clock.Now().Add(time.Hour)); err != nil || !seen {
		t.Errorf("replay cache after failover: SeenBefore = %v, %v; want true", seen, err)
	}
	if ok, err := s.Consume(ctx, "req-failover"); err != nil || !ok {
		t.Errorf("request ID after failover: Consume = %v, %v; want true", ok, err)
	}
	if infos, err := s.SessionsOf(ctx, want.Subject); err != nil || len(infos) != 1 {
		t.Errorf("index after failover: SessionsOf = %v, %v; want the session", infos, err)
	}
}
