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
	"SessionsOfMeta":     testSessionsOfMeta,
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

// testSessionsOfMeta: SessionsOf shows each session's metadata record
// (meta.go): its kind from Family, Access and Auth, the IdP, creation,
// expiry and groups; the last use once a Lookup records it (at most once
// per TouchInterval); nothing for a record that does not open under the
// subject and handle it is listed for; and a record deleted with its
// session is never written again by a late Lookup.
func testSessionsOfMeta(t *testing.T, h *harness) {
	ctx := context.Background()
	r := h.store.(*Redis)
	created := h.clock.Now()
	browser := h.token(t)
	bs := h.session(time.Hour)
	if err := r.Create(ctx, browser, bs); err != nil {
		t.Fatal(err)
	}
	root := authz.SessionHandle(browser)
	kinds := []struct {
		kind string
		edit func(s *authz.Session)
	}{
		{KindCLI, func(s *authz.Session) { s.Family = root + "/g1" }},
		{KindCLIRefresh, func(s *authz.Session) { s.Family, s.Access = root+"/g1", "acc" }},
		{KindToken, func(s *authz.Session) { s.Family = "f2" }},
		{KindTokenRefresh, func(s *authz.Session) { s.Family, s.Access = "f2", "acc" }},
		{KindK8s, func(s *authz.Session) { s.Family, s.Auth, s.IdP = "f3", authz.AuthK8s, "" }},
	}
	toks := map[string]string{KindBrowser: browser}
	for i, k := range kinds {
		tok := h.token(t)
		s := h.session(time.Hour + time.Duration(i+1)*time.Minute) // listed in this order
		k.edit(&s)
		if err := r.Create(ctx, tok, s); err != nil {
			t.Fatalf("Create %s: %v", k.kind, err)
		}
		toks[k.kind] = tok
	}
	infos, err := r.SessionsOf(ctx, "alice@example.com")
	if err != nil {
		t.Fatal(err)
	}
	wantKinds := []string{KindBrowser, KindCLI, KindCLIRefresh, KindToken, KindTokenRefresh, KindK8s}
	if len(infos) != len(wantKinds) {
		t.Fatalf("SessionsOf lists %d sessions, want %d", len(infos), len(wantKinds))
	}
	for i, in := range infos {
		m := in.Meta
		if !in.HasMeta || m.Kind != wantKinds[i] {
			t.Errorf("session %d: HasMeta %v, Kind %q; want %q", i, in.HasMeta, m.Kind, wantKinds[i])
		}
		if in.Handle != authz.SessionHandle(toks[wantKinds[i]]) {
			t.Errorf("session %d (%s): handle %s is not its token's", i, wantKinds[i], in.Handle)
		}
		wantIdP := "https://idp.example.com"
		if m.Kind == KindK8s {
			wantIdP = ""
		}
		if m.IdP != wantIdP || !m.CreatedAt.Equal(created) || !m.ExpiresAt.Equal(in.ExpiresAt) ||
			!slices.Equal(m.Groups, []string{"ml-readers", "ml-admins"}) || !m.LastUsed.IsZero() {
			t.Errorf("session %d (%s): Meta = %+v; want IdP %q, CreatedAt %v, ExpiresAt %v, the groups, no last use",
				i, m.Kind, m, wantIdP, created, in.ExpiresAt)
		}
	}

	// A use is recorded once per TouchInterval (default 1m): the second
	// Lookup within it writes nothing; one after it does.
	lastUsed := func(tok string) time.Time {
		t.Helper()
		infos, err := r.SessionsOf(ctx, "alice@example.com")
		if err != nil {
			t.Fatal(err)
		}
		for _, in := range infos {
			if in.Handle == authz.SessionHandle(tok) {
				return in.Meta.LastUsed
			}
		}
		t.Fatalf("session %s not listed", authz.SessionHandle(tok))
		return time.Time{}
	}
	h.clock.Advance(2 * time.Minute)
	first := h.clock.Now()
	for _, kind := range []string{KindBrowser, KindCLI} {
		if _, err := r.Lookup(ctx, toks[kind]); err != nil {
			t.Fatal(err)
		}
		h.clock.Advance(10 * time.Second)
		if _, err := r.Lookup(ctx, toks[kind]); err != nil {
			t.Fatal(err)
		}
		h.clock.Advance(-10 * time.Second)
		if got := lastUsed(toks[kind]); !got.Equal(first) {
			t.Errorf("%s: LastUsed = %v after two Lookups 10s apart, want the first, %v", kind, got, first)
		}
	}
	h.clock.Advance(time.Minute)
	if _, err := r.Lookup(ctx, toks[KindCLI]); err != nil {
		t.Fatal(err)
	}
	if got := lastUsed(toks[KindCLI]); !got.Equal(h.clock.Now()) {
		t.Errorf("LastUsed = %v a minute later, want %v", got, h.clock.Now())
	}

	// With an idle timeout, the idle write records the use. TouchInterval
	// is short because the key's TTL runs on Redis's clock, not the test's.
	idle := h.reopen(Lifetime{Idle: time.Hour, TouchInterval: time.Millisecond}).(*Redis)
	itok := h.token(t)
	if err := idle.Create(ctx, itok, h.session(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Millisecond)
	h.clock.Advance(3 * time.Minute)
	if _, err := idle.Lookup(ctx, itok); err != nil {
		t.Fatal(err)
	}
	if got := lastUsed(itok); !got.Equal(h.clock.Now()) {
		t.Errorf("idle session: LastUsed = %v after a touching Lookup, want %v", got, h.clock.Now())
	}

	// A record moved onto another session's key does not open: the
	// session is listed, without metadata.
	c := r.client
	b, err := c.Get(ctx, metaKey(r.prefix, authz.SessionHandle(toks[KindToken]))).Bytes()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Set(ctx, metaKey(r.prefix, authz.SessionHandle(toks[KindK8s])), b, time.Hour).Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := openMeta("bob@example.com", authz.SessionHandle(toks[KindToken]), b); err == nil {
		t.Error("a record opened under another subject")
	}
	infos, err = r.SessionsOf(ctx, "alice@example.com")
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range infos {
		if in.Handle == authz.SessionHandle(toks[KindK8s]) && in.HasMeta {
			t.Errorf("a record copied from another session opened: %+v", in.Meta)
		}
	}
	// (The dump check refuses a record that opens for no session.)
	if err := c.Del(ctx, metaKey(r.prefix, authz.SessionHandle(toks[KindK8s]))).Err(); err != nil {
		t.Fatal(err)
	}

	// Deleted with its session, and not recreated by a Lookup that read
	// the session just before (SET XX): neither write path brings it back.
	s, err := r.Lookup(ctx, toks[KindCLI])
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Delete(ctx, toks[KindCLI]); err != nil {
		t.Fatal(err)
	}
	gone := authz.SessionHandle(toks[KindCLI])
	h.clock.Advance(time.Hour)
	r.noteUse(ctx, gone, s, h.clock.Now())
	idle.touch(ctx, sessionKey(r.prefix, refOf(toks[KindCLI])), gone, s, time.Millisecond, h.clock.Now())
	if n, err := c.Exists(ctx, metaKey(r.prefix, gone)).Result(); err != nil || n != 0 {
		t.Errorf("the record of a deleted session exists (%d, %v) after a late write", n, err)
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
	want := Stats{Sessions: 2, Handles: 2, Metas: 2, Subjects: 2, Groups: 2, SAML: 2, Requests: 1, Replays: 1}
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
