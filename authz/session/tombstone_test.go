package session

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tfgate/tfgate/authz"
	"github.com/tfgate/tfgate/internal/redistest"
	"github.com/tfgate/tfgate/samlverify/sp"
)

// The family tombstone (fx:) lasts two minutes after a revocation ends:
// four times sp.RequestTimeout, the deadline under which every request
// that mints a family member runs (family.go, familyTombstoneTTL). These
// tests pin the TTL and the two things that make it safe: a revocation
// re-arms its tombstones when it has deleted the members, and Create
// refuses a family member whose check was answered after its deadline.

func TestTombstoneTTLIsTwoMinutes(t *testing.T) {
	t.Parallel()
	if familyTombstoneTTL < 4*sp.RequestTimeout {
		t.Errorf("tombstones last %v, want at least 4 x sp.RequestTimeout (%v)", familyTombstoneTTL, sp.RequestTimeout)
	}
	srv := redistest.Start(t)
	c := srv.Client()
	s, err := NewRedis(c, RedisConfig{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	sess := authz.Session{Subject: "a", Family: "0123456789abcdef", ExpiresAt: time.Now().Add(time.Hour)}
	if err := s.Create(ctx, "tfg_child", sess); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RevokeFamily(ctx, sess.Family); err != nil {
		t.Fatal(err)
	}
	ttl, err := c.PTTL(ctx, revokedKey("tfgate:", sess.Family)).Result()
	if err != nil {
		t.Fatal(err)
	}
	if ttl <= 2*time.Minute-5*time.Second || ttl > 2*time.Minute {
		t.Errorf("the tombstone's PTTL is %v, want just under 2m", ttl)
	}

	clock := newTestClock()
	m := NewMemory(MemoryConfig{Now: clock.Now})
	if _, err := m.RevokeFamily(ctx, "f"); err != nil {
		t.Fatal(err)
	}
	clock.Advance(2*time.Minute - time.Millisecond)
	if err := createInFamily(t, &harness{store: m, clock: clock}, "f"); !errors.Is(err, ErrFamilyRevoked) {
		t.Errorf("memory: Create just under 2m after the revocation = %v, want ErrFamilyRevoked", err)
	}
	clock.Advance(time.Millisecond)
	if err := createInFamily(t, &harness{store: m, clock: clock}, "f"); err != nil {
		t.Errorf("memory: Create 2m after the revocation = %v, want it stored", err)
	}
}

// slowDeletes delays every pipeline that deletes something by delay once
// armed: a revocation of many sessions, or a slow Redis.
type slowDeletes struct {
	armed atomic.Bool
	delay time.Duration
}

func (h *slowDeletes) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *slowDeletes) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if h.armed.Load() && cmd.Name() == "del" {
			time.Sleep(h.delay)
		}
		return next(ctx, cmd)
	}
}

func (h *slowDeletes) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if h.armed.Load() {
			for _, c := range cmds {
				if c.Name() == "del" {
					time.Sleep(h.delay)
					break
				}
			}
		}
		return next(ctx, cmds)
	}
}

// TestSlowRevocationKeepsTombstone: a revocation that takes longer than
// the tombstone's TTL (here shortened to 300ms, with 400ms per deletion)
// still leaves its family refused right after it returns, so a token
// minted from a parent read just before the parent was deleted cannot
// survive. With the tombstone written only before the deletions, it has
// expired by then.
func TestSlowRevocationKeepsTombstone(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	cases := map[string]func(ctx context.Context, s *Redis, parent string) error{
		"RevokeFamily": func(ctx context.Context, s *Redis, parent string) error {
			_, err := s.RevokeFamily(ctx, authz.SessionHandle(parent))
			return err
		},
		"Delete": func(ctx context.Context, s *Redis, parent string) error {
			return s.Delete(ctx, parent)
		},
		"RevokeHandle": func(ctx context.Context, s *Redis, parent string) error {
			_, err := s.RevokeHandle(ctx, authz.SessionHandle(parent))
			return err
		},
		"RevokeSubject": func(ctx context.Context, s *Redis, _ string) error {
			_, err := s.RevokeSubject(ctx, "alice@example.com")
			return err
		},
	}
	db := 0
	for name, revoke := range cases {
		db++
		t.Run(name, func(t *testing.T) {
			c := redis.NewClient(&redis.Options{Addr: srv.Addr, DB: db, ContextTimeoutEnabled: true})
			t.Cleanup(func() { _ = c.Close() })
			hook := &slowDeletes{delay: 400 * time.Millisecond}
			c.AddHook(hook)
			s, err := NewRedis(c, RedisConfig{UpdateTimeout: 5 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			s.tombstoneTTL = 300 * time.Millisecond
			ctx := context.Background()
			h := &harness{store: s, clock: newTestClock()}
			parent := signIn(t, h, "alice@example.com")
			child(t, h, parent)
			hook.armed.Store(true)
			start := time.Now()
			if err := revoke(ctx, s, parent); err != nil {
				t.Fatal(err)
			}
			took := time.Since(start)
			hook.armed.Store(false)
			if took <= s.tombstoneTTL {
				t.Fatalf("the revocation took %v, not longer than the tombstone's %v", took, s.tombstoneTTL)
			}
			if err := createInFamily(t, h, authz.SessionHandle(parent)); !errors.Is(err, ErrFamilyRevoked) {
				t.Errorf("Create in the family right after a %v revocation = %v, want ErrFamilyRevoked", took, err)
			}
		})
	}
}

// lateAnswers delays the family check's answer (a pipeline of EXISTS)
// past a deadline once armed: a process paused after Redis answered.
type lateAnswers struct {
	armed atomic.Bool
	delay time.Duration
}

func (h *lateAnswers) DialHook(next redis.DialHook) redis.DialHook          { return next }
func (h *lateAnswers) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }

func (h *lateAnswers) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		err := next(ctx, cmds)
		if h.armed.Load() && len(cmds) > 0 && cmds[0].Name() == "exists" {
			time.Sleep(h.delay)
		}
		return err
	}
}

// TestFamilyCheckAfterDeadline: a family member whose tombstone check is
// answered after the caller's deadline is refused and deleted, since the
// tombstone only outlives checks made before it (Redis, a real server;
// Memory, a deadline already past).
func TestFamilyCheckAfterDeadline(t *testing.T) {
	t.Parallel()
	t.Run("redis", func(t *testing.T) {
		t.Parallel()
		srv := redistest.Start(t)
		c := srv.Client()
		hook := &lateAnswers{delay: 300 * time.Millisecond}
		c.AddHook(hook)
		s, err := NewRedis(c, RedisConfig{UpdateTimeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		tok := "tfg_late"
		sess := authz.Session{Subject: "a", Family: "0123456789abcdef", ExpiresAt: time.Now().Add(time.Hour)}
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		hook.armed.Store(true)
		err = s.Create(ctx, tok, sess)
		hook.armed.Store(false)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Create whose family check was answered after the deadline = %v, want DeadlineExceeded", err)
		}
		if _, err := s.Lookup(context.Background(), tok); !errors.Is(err, authz.ErrNoSession) {
			t.Errorf("Lookup of the refused session = %v, want ErrNoSession", err)
		}
		// Without a deadline, or before it, the same Create stores.
		if err := s.Create(context.Background(), tok, sess); err != nil {
			t.Errorf("Create without a deadline: %v", err)
		}
	})
	t.Run("memory", func(t *testing.T) {
		t.Parallel()
		m := NewMemory(MemoryConfig{})
		tok := "tfg_late"
		sess := authz.Session{Subject: "a", Family: "f", ExpiresAt: time.Now().Add(time.Hour)}
		ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Millisecond))
		defer cancel()
		if err := m.Create(ctx, tok, sess); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Create after the deadline = %v, want DeadlineExceeded", err)
		}
		if _, err := m.Lookup(context.Background(), tok); !errors.Is(err, authz.ErrNoSession) {
			t.Errorf("Lookup of the refused session = %v, want ErrNoSession", err)
		}
	})
}
