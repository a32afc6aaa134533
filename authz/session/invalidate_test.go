package session

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tfgate/tfgate/authz"
	"github.com/tfgate/tfgate/internal/redistest"
)

// TestInvalidationLag: with a real Redis, a deletion's message carries its
// publish time and the subscriber reports the lag; a message in the old
// format (hashes only, from an older replica) still invalidates, and
// reports no lag.
func TestInvalidationLag(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	prefix := newTestPrefix()
	r, err := NewRedis(srv.Client(), RedisConfig{Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	r.watchInterval = 100 * time.Millisecond
	var (
		mu   sync.Mutex
		lags []time.Duration
	)
	r.ObserveInvalidationLag(func(d time.Duration) { mu.Lock(); lags = append(lags, d); mu.Unlock() })
	observed := func() []time.Duration { mu.Lock(); defer mu.Unlock(); return slices.Clone(lags) }
	c := startCache(t, r, time.Hour)
	ctx := context.Background()
	now := time.Now()
	newSession := func(tok string) {
		t.Helper()
		s := authz.Session{Subject: "alice@example.com", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
		if err := r.Create(ctx, tok, s); err != nil {
			t.Fatal(err)
		}
		// Create publishes too (a replaced session); let that arrive
		// before caching.
		time.Sleep(100 * time.Millisecond)
		if _, err := c.Lookup(ctx, tok); err != nil {
			t.Fatal(err)
		}
	}
	gone := func(tok string) func() bool {
		return func() bool { _, err := c.Lookup(ctx, tok); return errors.Is(err, authz.ErrNoSession) }
	}

	newSession("tfg_lag-new")
	if err := r.Delete(ctx, "tfg_lag-new"); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, time.Second, "the new-format invalidation", gone("tfg_lag-new"))
	waitUntil(t, time.Second, "a lag sample", func() bool { return len(observed()) > 0 })
	for _, l := range observed() {
		if l < 0 || l > time.Second {
			t.Errorf("lag %v: want a small non-negative duration", l)
		}
	}

	// An older replica: hashes only. The session is still in Redis, so
	// only the message can make the cache ask again and see it gone.
	newSession("tfg_lag-old")
	samples := len(observed())
	keys, err := srv.Client().Keys(ctx, prefix+"*").Result()
	if err != nil || len(keys) == 0 {
		t.Fatalf("keys: %v %v", keys, err)
	}
	if err := srv.Client().Del(ctx, keys...).Err(); err != nil { // no message
		t.Fatal(err)
	}
	if _, err := c.Lookup(ctx, "tfg_lag-old"); err != nil {
		t.Fatalf("the cache should still hold the session: %v", err)
	}
	if err := srv.Client().Publish(ctx, channel(prefix), Hash("tfg_lag-old")).Err(); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, time.Second, "the old-format invalidation", gone("tfg_lag-old"))
	if n := len(observed()); n != samples {
		t.Errorf("%d lag samples after an old-format message, want still %d", n, samples)
	}
}

func TestParseInvalidation(t *testing.T) {
	t0 := time.UnixMicro(1764979200123456)
	for _, tc := range []struct {
		payload string
		hashes  []string
		ok      bool
	}{
		{"aa bb t=1764979200123456", []string{"aa", "bb"}, true},
		{"aa bb", []string{"aa", "bb"}, false},
		{"aa t=", []string{"aa"}, false},
		{"aa t=-5", []string{"aa"}, false},
		{"aa t=12x", []string{"aa"}, false},
		{"t=1764979200123456", []string{}, true},
		{"", nil, false},
		{"t=1 aa", []string{"t=1", "aa"}, false},
	} {
		hashes, at, ok := parseInvalidation(tc.payload)
		if !slices.Equal(hashes, tc.hashes) || ok != tc.ok || (ok && tc.payload != "t=1 aa" && !at.Equal(t0)) {
			t.Errorf("parseInvalidation(%q) = %q, %v, %v; want %q, %v", tc.payload, hashes, at, ok, tc.hashes, tc.ok)
		}
	}
}

// FuzzParseInvalidation: a payload anyone with PUBLISH rights can send
// never panics, and yields every field but a last time field as a hash.
func FuzzParseInvalidation(f *testing.F) {
	f.Add("aa bb t=1764979200123456")
	f.Add("aa")
	f.Add("t=99999999999999999999999")
	f.Add("t=\x00 t=1")
	f.Fuzz(func(t *testing.T, payload string) {
		hashes, at, ok := parseInvalidation(payload)
		fields := strings.Fields(payload)
		want := fields
		if n := len(fields); n > 0 && strings.HasPrefix(fields[n-1], publishTimePrefix) {
			want = fields[:n-1] // the time field is never taken for a hash
		}
		if !slices.Equal(hashes, want) {
			t.Errorf("%q: hashes %q, want %q", payload, hashes, want)
		}
		if ok && at.UnixMicro() <= 0 {
			t.Errorf("%q: time %v", payload, at)
		}
	})
}
