package session

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tfgate/tfgate/authz"
	"github.com/tfgate/tfgate/internal/redistest"
)

// fakeStore is an inner store that counts lookups and can fail or block.
type fakeStore struct {
	mu       sync.Mutex
	sessions map[string]authz.Session
	err      error // returned by every Lookup when set
	calls    atomic.Int32
	// during, when set, runs inside Lookup before it answers.
	during func()
}

func (f *fakeStore) Lookup(_ context.Context, token string) (authz.Session, error) {
	f.calls.Add(1)
	if f.during != nil {
		f.during()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return authz.Session{}, f.err
	}
	s, ok := f.sessions[token]
	if !ok {
		return authz.Session{}, ErrNotFound
	}
	return cloneSession(s), nil
}

func (f *fakeStore) set(token string, s authz.Session, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.sessions == nil {
		f.sessions = map[string]authz.Session{}
	}
	if s.ExpiresAt.IsZero() {
		delete(f.sessions, token)
	} else {
		f.sessions[token] = s
	}
	f.err = err
}

func newCacheTest(cfg CacheConfig) (*Cached, *fakeStore, *testClock) {
	clock := newTestClock()
	inner := &fakeStore{}
	inner.set("tok", authz.Session{Subject: "alice", Groups: []string{"g"}, ExpiresAt: clock.Now().Add(time.Hour)}, nil)
	cfg.Now = clock.Now
	return NewCached(inner, cfg), inner, clock
}

func lookupN(t *testing.T, c *Cached, n int) error {
	t.Helper()
	var err error
	for range n {
		_, err = c.Lookup(context.Background(), "tok")
	}
	return err
}

func TestCachedHitsWithinTTL(t *testing.T) {
	t.Parallel()
	c, inner, clock := newCacheTest(CacheConfig{TTL: time.Second})
	if err := lookupN(t, c, 10); err != nil {
		t.Fatal(err)
	}
	if n := inner.calls.Load(); n != 1 {
		t.Errorf("inner lookups = %d, want 1", n)
	}
	clock.Advance(time.Second)
	if err := lookupN(t, c, 1); err != nil {
		t.Fatal(err)
	}
	if n := inner.calls.Load(); n != 2 {
		t.Errorf("inner lookups after TTL = %d, want 2", n)
	}
	if st := c.Stats(); st.Hits != 9 || st.Misses != 2 || st.Evictions != 0 || !st.Subscribed {
		t.Errorf("Stats = %+v, want 9 hits, 2 misses, no evictions, subscribed", st)
	}
}

func TestCachedNeverOutlivesTheSession(t *testing.T) {
	t.Parallel()
	c, inner, clock := newCacheTest(CacheConfig{TTL: time.Hour})
	inner.set("tok", authz.Session{Subject: "alice", ExpiresAt: clock.Now().Add(time.Second)}, nil)
	if err := lookupN(t, c, 1); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Second)
	inner.set("tok", authz.Session{}, nil) // the store has dropped it
	if _, err := c.Lookup(context.Background(), "tok"); !errors.Is(err, authz.ErrNoSession) {
		t.Errorf("Lookup at ExpiresAt: error = %v, want authz.ErrNoSession", err)
	}
}

// TestCachedNeverCachesMissesOrErrors: a miss or an outage is asked of the
// inner store every time, and a miss drops what was cached.
func TestCachedNeverCachesMissesOrErrors(t *testing.T) {
	t.Parallel()
	c, inner, clock := newCacheTest(CacheConfig{TTL: time.Second})
	outage := errors.New("redis: connection refused")
	inner.set("tok", authz.Session{}, outage)
	for range 3 {
		if _, err := c.Lookup(context.Background(), "tok"); !errors.Is(err, outage) {
			t.Fatalf("Lookup during an outage: error = %v, want the outage", err)
		}
	}
	inner.set("tok", authz.Session{}, nil)
	for range 3 {
		if _, err := c.Lookup(context.Background(), "tok"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Lookup of a missing session: error = %v, want ErrNotFound", err)
		}
	}
	if n := inner.calls.Load(); n != 6 {
		t.Errorf("inner lookups = %d, want 6: misses and errors must not be cached", n)
	}
	if c.Len() != 0 {
		t.Errorf("Len = %d, want 0", c.Len())
	}
	// A cached session survives an outage until its TTL, then errors.
	inner.set("tok", authz.Session{Subject: "alice", ExpiresAt: clock.Now().Add(time.Hour)}, nil)
	if err := lookupN(t, c, 1); err != nil {
		t.Fatal(err)
	}
	inner.set("tok", authz.Session{Subject: "alice", ExpiresAt: clock.Now().Add(time.Hour)}, outage)
	if err := lookupN(t, c, 1); err != nil {
		t.Errorf("cached session during an outage, within TTL: %v", err)
	}
	clock.Advance(time.Second)
	if err := lookupN(t, c, 1); !errors.Is(err, outage) {
		t.Errorf("cached session during an outage, after TTL: error = %v, want the outage", err)
	}
}

func TestCachedInvalidate(t *testing.T) {
	t.Parallel()
	c, inner, _ := newCacheTest(CacheConfig{TTL: time.Hour})
	if err := lookupN(t, c, 1); err != nil {
		t.Fatal(err)
	}
	c.Invalidate([]string{"not-a-hash", Hash("other"), "ZZ" + Hash("tok")[2:]})
	if err := lookupN(t, c, 1); err != nil || inner.calls.Load() != 1 {
		t.Fatalf("other invalidations dropped the entry (%d inner lookups, %v)", inner.calls.Load(), err)
	}
	c.Invalidate([]string{Hash("tok")})
	inner.set("tok", authz.Session{}, nil)
	if _, err := c.Lookup(context.Background(), "tok"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Lookup after Invalidate: error = %v, want ErrNotFound", err)
	}
}

// TestCachedInvalidationDuringLookup is the race the epoch closes: the
// inner store answers with a session that another replica deletes, and
// whose invalidation arrives, before the answer is cached.
func TestCachedInvalidationDuringLookup(t *testing.T) {
	t.Parallel()
	c, inner, _ := newCacheTest(CacheConfig{TTL: time.Hour})
	inner.during = func() { c.Invalidate([]string{Hash("tok")}) }
	if err := lookupN(t, c, 1); err != nil {
		t.Fatal(err)
	}
	if c.Len() != 0 {
		t.Error("a session fetched before an invalidation was cached after it")
	}
}

func TestCachedSubscription(t *testing.T) {
	t.Parallel()
	c, inner, _ := newCacheTest(CacheConfig{TTL: time.Hour, Invalidations: &fakeInvalidator{}})
	// Not subscribed yet: nothing is cached.
	lookupN(t, c, 2)
	if n := inner.calls.Load(); n != 2 || c.Len() != 0 {
		t.Fatalf("before Subscribed: %d inner lookups, %d cached; want 2, 0", n, c.Len())
	}
	c.Subscribed()
	lookupN(t, c, 2)
	if n := inner.calls.Load(); n != 3 {
		t.Fatalf("after Subscribed: %d inner lookups, want 3", n)
	}
	// Lost: what is cached is served (until TTL), nothing new is cached.
	c.Unsubscribed()
	lookupN(t, c, 1)
	if n := inner.calls.Load(); n != 3 {
		t.Errorf("after Unsubscribed: cached entry not served (%d inner lookups)", n)
	}
	c.Invalidate([]string{Hash("tok")})
	lookupN(t, c, 2)
	if n := inner.calls.Load(); n != 5 {
		t.Errorf("while unsubscribed: %d inner lookups, want 5 (no caching)", n)
	}
	// Resubscribed: everything cached before is dropped.
	c.Subscribed()
	lookupN(t, c, 1)
	c.Unsubscribed()
	c.Subscribed()
	if c.Len() != 0 {
		t.Errorf("Subscribed left %d entries", c.Len())
	}
}

type fakeInvalidator struct{}

func (fakeInvalidator) WatchInvalidations(ctx context.Context, _ InvalidationWatcher) error {
	<-ctx.Done()
	return ctx.Err()
}

func TestCachedBound(t *testing.T) {
	t.Parallel()
	clock := newTestClock()
	inner := &fakeStore{}
	c := NewCached(inner, CacheConfig{TTL: time.Hour, MaxEntries: 64, Now: clock.Now})
	for i := range 1000 {
		tok := string(rune('a'+i%26)) + string(rune(i))
		inner.set(tok, authz.Session{Subject: tok, ExpiresAt: clock.Now().Add(time.Hour)}, nil)
		if _, err := c.Lookup(context.Background(), tok); err != nil {
			t.Fatal(err)
		}
	}
	if n := c.Len(); n > 64 || n < 32 {
		t.Errorf("Len = %d, want at most 64 (and not needlessly fewer)", n)
	}
	if st := c.Stats(); st.Misses != 1000 || st.Evictions < 1000-64 {
		t.Errorf("Stats = %+v, want 1000 misses and at least %d evictions", st, 1000-64)
	}
}

func TestCachedCopies(t *testing.T) {
	t.Parallel()
	c, _, _ := newCacheTest(CacheConfig{})
	s, _ := c.Lookup(context.Background(), "tok")
	s.Groups[0] = "changed"
	again, _ := c.Lookup(context.Background(), "tok")
	if again.Groups[0] != "g" {
		t.Errorf("Groups[0] = %q: the cache shares slices with callers", again.Groups[0])
	}
}

func TestCachedDefaults(t *testing.T) {
	t.Parallel()
	c := NewCached(&fakeStore{}, CacheConfig{TTL: -1, MaxEntries: -1})
	if c.ttl != defaultCacheTTL || c.perShard*cacheShards < defaultCacheMaxEntries || c.now == nil || !c.subscribed.Load() {
		t.Errorf("defaults: ttl %v, perShard %d, now set %v, subscribed %v", c.ttl, c.perShard, c.now != nil, c.subscribed.Load())
	}
}

// TestCachedResubscribes: when Redis goes away and comes back, the cache
// notices the lost subscription, stops caching, and on resubscribing drops
// everything, since invalidations may have been missed meanwhile.
func TestCachedResubscribes(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	r, err := NewRedis(srv.Client(), RedisConfig{Prefix: newTestPrefix(), Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	r.watchInterval = 100 * time.Millisecond
	c := startCache(t, r, time.Hour)
	ctx := context.Background()
	tok := "tfg_resubscribe"
	if err := r.Create(ctx, tok, authz.Session{Subject: "a", ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	// A loaded machine can make the 100 ms subscription watchdog flap,
	// which (safely) stops caching for a moment; retry until cached.
	waitUntil(t, 5*time.Second, "a lookup to be cached", func() bool {
		_, err := c.Lookup(ctx, tok)
		return err == nil && c.Len() == 1
	})
	srv.Stop()
	waitUntil(t, 5*time.Second, "the cache to notice", func() bool { return !c.subscribed.Load() })
	srv.Restart() // empty: no persistence
	waitUntil(t, 5*time.Second, "the cache to resubscribe", c.subscribed.Load)
	if c.Len() != 0 {
		t.Errorf("%d entries survived resubscribing", c.Len())
	}
	if _, err := c.Lookup(ctx, tok); !errors.Is(err, authz.ErrNoSession) {
		t.Errorf("Lookup after resubscribing: error = %v, want authz.ErrNoSession", err)
	}
}

// TestCachedKilledSubscription: a subscription dropped by the server (a
// proxy restart, CLIENT KILL) while a session is revoked costs the
// revocation at most the reconnection.
func TestCachedKilledSubscription(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	r, err := NewRedis(srv.Client(), RedisConfig{Prefix: newTestPrefix(), Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	r.watchInterval = 100 * time.Millisecond
	c := startCache(t, r, time.Hour)
	ctx := context.Background()
	tok := "tfg_killed"
	if err := r.Create(ctx, tok, authz.Session{Subject: "a", ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Lookup(ctx, tok); err != nil {
		t.Fatal(err)
	}
	if err := srv.Client().ClientKillByFilter(ctx, "TYPE", "pubsub").Err(); err != nil && !errors.Is(err, redis.Nil) {
		t.Fatal(err)
	}
	if err := r.Delete(ctx, tok); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	waitUntil(t, time.Second, "the revocation to reach the cache", func() bool {
		_, err := c.Lookup(ctx, tok)
		return errors.Is(err, authz.ErrNoSession)
	})
	t.Logf("revoked in %v despite the killed subscription", time.Since(start))
}
