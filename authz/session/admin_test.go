package session

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/tfgate/tfgate/authz"
)

// redisCases are the behaviour only the Redis store has: revocation by
// subject, group and handle, statistics, and invalidations across replicas.
var redisCases = map[string]func(t *testing.T, h *harness){
	"SessionsOf":         testSessionsOf,
	"RevokeHandle":       testRevokeHandle,
	"RevokeSubject":      testRevokeSubject,
	"RevokeGroup":        testRevokeGroup,
	"Stats":              testStats,
	"Ping":               testPing,
	"InvalidationsReach": testInvalidationsReach,
}

// runRedisSuite runs redisCases, then the backend checks of runStoreSuite.
func runRedisSuite(t *testing.T, newHarness func(t *testing.T) *harness) {
	for name, tc := range redisCases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			tc(t, h)
			if !t.Failed() {
				checkBackend(t, h)
			}
		})
	}
}

// signIn creates a session for subject in groups and returns its token.
func signIn(t *testing.T, h *harness, subject string, groups ...string) string {
	t.Helper()
	tok := h.token(t)
	s := h.session(time.Hour)
	s.Subject, s.Email, s.Groups = subject, subject, groups
	if err := h.store.Create(context.Background(), tok, s); err != nil {
		t.Fatalf("Create: %v", err)
	}
	return tok
}

// live reports which of tokens still name a session.
func live(t *testing.T, h *harness, tokens ...string) []bool {
	t.Helper()
	out := make([]bool, len(tokens))
	for i, tok := range tokens {
		_, err := h.store.Lookup(context.Background(), tok)
		if err != nil && !errors.Is(err, authz.ErrNoSession) {
			t.Fatalf("Lookup: %v", err)
		}
		out[i] = err == nil
	}
	return out
}

func testSessionsOf(t *testing.T, h *harness) {
	ctx := context.Background()
	r := h.store.(*Redis)
	a1 := signIn(t, h, "alice@example.com", "ml-readers")
	h.clock.Advance(time.Minute)
	a2 := signIn(t, h, "alice@example.com")
	signIn(t, h, "bob@example.com", "ml-readers")
	infos, err := r.SessionsOf(ctx, "alice@example.com")
	if err != nil {
		t.Fatal(err)
	}
	var handles []string
	for _, in := range infos {
		handles = append(handles, in.Handle)
		if d := in.ExpiresAt.Sub(h.clock.Now()); d < 58*time.Minute || d > time.Hour {
			t.Errorf("ExpiresAt in %v, want about an hour", d)
		}
		if in.KeyExpiresAt.IsZero() {
			t.Errorf("KeyExpiresAt unset")
		}
	}
	want := []string{authz.SessionHandle(a1), authz.SessionHandle(a2)}
	if !slices.Equal(handles, want) {
		t.Errorf("handles = %v, want %v (soonest expiry first)", handles, want)
	}
	if err := r.Delete(ctx, a1); err != nil {
		t.Fatal(err)
	}
	if infos, _ := r.SessionsOf(ctx, "alice@example.com"); len(infos) != 1 {
		t.Errorf("after Delete: %d sessions listed, want 1", len(infos))
	}
	if infos, _ := r.SessionsOf(ctx, "nobody"); len(infos) != 0 {
		t.Errorf("unknown subject: %v", infos)
	}
}

func testRevokeHandle(t *testing.T, h *harness) {
	ctx := context.Background()
	r := h.store.(*Redis)
	a, b := signIn(t, h, "alice@example.com"), signIn(t, h, "alice@example.com")
	found, err := r.RevokeHandle(ctx, authz.SessionHandle(a))
	if err != nil || !found {
		t.Fatalf("RevokeHandle = %v, %v", found, err)
	}
	if got := live(t, h, a, b); !slices.Equal(got, []bool{false, true}) {
		t.Errorf("live after revoking a = %v, want [false true]", got)
	}
	if found, err := r.RevokeHandle(ctx, authz.SessionHandle(a)); err != nil || found {
		t.Errorf("second RevokeHandle = %v, %v; want false", found, err)
	}
	for _, bad := range []string{"", "xyz", a, Hash(a)} {
		if _, err := r.RevokeHandle(ctx, bad); err == nil {
			t.Errorf("RevokeHandle(%q) succeeded; want an error for a non-handle", bad)
		}
	}
}

func testRevokeSubject(t *testing.T, h *harness) {
	ctx := context.Background()
	r := h.store.(*Redis)
	a1, a2 := signIn(t, h, "alice@example.com", "ml-readers"), signIn(t, h, "alice@example.com")
	b := signIn(t, h, "bob@example.com", "ml-readers")
	n, err := r.RevokeSubject(ctx, "alice@example.com")
	if err != nil || n != 2 {
		t.Fatalf("RevokeSubject = %d, %v; want 2", n, err)
	}
	if got := live(t, h, a1, a2, b); !slices.Equal(got, []bool{false, false, true}) {
		t.Errorf("live = %v, want [false false true]", got)
	}
	// Signing in again after a revocation works, and is revocable again.
	a3 := signIn(t, h, "alice@example.com")
	if n, err := r.RevokeSubject(ctx, "alice@example.com"); err != nil || n != 1 {
		t.Errorf("second RevokeSubject = %d, %v; want 1", n, err)
	}
	if got := live(t, h, a3); got[0] {
		t.Error("the new session survived")
	}
	if n, err := r.RevokeSubject(ctx, "nobody"); err != nil || n != 0 {
		t.Errorf("RevokeSubject(nobody) = %d, %v", n, err)
	}
}

func testRevokeGroup(t *testing.T, h *harness) {
	ctx := context.Background()
	r := h.store.(*Redis)
	a := signIn(t, h, "alice@example.com", "ml-readers", "ml-admins")
	b := signIn(t, h, "bob@example.com", "ml-readers")
	c := signIn(t, h, "carol@example.com", "ml-admins")
	n, err := r.RevokeGroup(ctx, "ml-admins")
	if err != nil || n != 2 {
		t.Fatalf("RevokeGroup = %d, %v; want 2", n, err)
	}
	if got := live(t, h, a, b, c); !slices.Equal(got, []bool{false, true, false}) {
		t.Errorf("live = %v, want [false true false]", got)
	}
	// alice's subject index still lists the revoked session; listing and
	// revoking skip what is gone.
	if infos, _ := r.SessionsOf(ctx, "alice@example.com"); len(infos) != 0 {
		t.Errorf("SessionsOf(alice) = %v after her group was revoked", infos)
	}
	if n, err := r.RevokeSubject(ctx, "alice@example.com"); err != nil || n != 0 {
		t.Errorf("RevokeSubject(alice) = %d, %v; want 0", n, err)
	}
}

func testStats(t *testing.T, h *harness) {
	ctx := context.Background()
	r := h.store.(*Redis)
	signIn(t, h, "alice@example.com", "ml-readers", "ml-admins")
	signIn(t, h, "bob@example.com", "ml-readers")
	if err := r.Remember(ctx, "req", time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, err := r.SeenBefore(ctx, "assertion", h.clock.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	st, err := r.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	st.Masters, st.Subscribers = 0, 0 // depend on the deployment
	want := Stats{Sessions: 2, Handles: 2, Subjects: 2, Groups: 2, SAML: 2, Requests: 1, Replays: 1}
	if st != want {
		t.Errorf("Stats = %+v, want %+v", st, want)
	}
}

func testPing(t *testing.T, h *harness) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := h.store.(*Redis).Ping(ctx); err != nil {
		t.Errorf("Ping: %v", err)
	}
}

// testInvalidationsReach is revocation across two tfgate replicas sharing
// one Redis: each has its own Cached with a TTL far longer than a second,
// so only the invalidation can make a revocation on A take effect on B
// within a second.
func testInvalidationsReach(t *testing.T, h *harness) {
	ctx := context.Background()
	r := h.store.(*Redis)
	r.watchInterval = 100 * time.Millisecond
	a, b := startCache(t, r, time.Hour), startCache(t, r, time.Hour)
	revocations := map[string]func(tok string) error{
		"Delete":        func(tok string) error { return r.Delete(ctx, tok) },
		"RevokeHandle":  func(tok string) error { _, err := r.RevokeHandle(ctx, authz.SessionHandle(tok)); return err },
		"RevokeSubject": func(string) error { _, err := r.RevokeSubject(ctx, "alice@example.com"); return err },
		"RevokeGroup":   func(string) error { _, err := r.RevokeGroup(ctx, "ml-admins"); return err },
	}
	for name, revoke := range revocations {
		tok := signIn(t, h, "alice@example.com", "ml-admins")
		for _, c := range []*Cached{a, b} {
			if _, err := c.Lookup(ctx, tok); err != nil {
				t.Fatalf("%s: Lookup before: %v", name, err)
			}
		}
		if err := revoke(tok); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		start := time.Now()
		for _, c := range []*Cached{a, b} {
			for {
				_, err := c.Lookup(ctx, tok)
				if errors.Is(err, authz.ErrNoSession) {
					break
				}
				if time.Since(start) > time.Second {
					t.Fatalf("%s: still cached %v after the revocation: %v", name, time.Since(start), err)
				}
				time.Sleep(5 * time.Millisecond)
			}
		}
		t.Logf("%s reached both caches in %v", name, time.Since(start))
	}
}

// startCache returns a Cached in front of r, listening for invalidations
// until the test ends, once its subscription is confirmed.
func startCache(t *testing.T, r *Redis, ttl time.Duration) *Cached {
	t.Helper()
	c := NewCached(r, CacheConfig{TTL: ttl, Invalidations: r})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = c.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	waitUntil(t, 5*time.Second, "the cache to subscribe", c.subscribed.Load)
	return c
}

func waitUntil(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(d); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s", d, what)
		}
	}
}
