package session

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/tfgate/tfgate/authz"
)

func TestMemory(t *testing.T) {
	t.Parallel()
	runStoreSuite(t, func(t *testing.T) *harness {
		clock := newTestClock()
		m := NewMemory(MemoryConfig{Now: clock.Now})
		// A Memory's sessions live in the store itself, so reopening keeps
		// them by swapping only the limits.
		reopen := func(l Lifetime) store { m.life = l.withDefaults(); return m }
		return &harness{store: m, clock: clock, reopen: reopen}
	})
}

func TestNewMemoryDefaults(t *testing.T) {
	t.Parallel()
	m := NewMemory(MemoryConfig{MaxEntries: -1})
	if m.sessions.max != defaultMaxEntries || m.now == nil {
		t.Errorf("max = %d, now set = %v; want %d and true", m.sessions.max, m.now != nil, defaultMaxEntries)
	}
}

// memoryAt returns a Memory store bounded at max, with a clock, and a
// session maker: sess(d) expires d after the clock's start.
func memoryAt(max int) (*Memory, *testClock, func(d time.Duration) authz.Session) {
	clock := newTestClock()
	start := clock.Now()
	sess := func(d time.Duration) authz.Session {
		return authz.Session{Subject: "s", CreatedAt: start, ExpiresAt: start.Add(d)}
	}
	return NewMemory(MemoryConfig{MaxEntries: max, Now: clock.Now}), clock, sess
}

func TestMemoryEviction(t *testing.T) {
	t.Parallel()
	// Each case fills a store of 3 with sessions named by their lifetimes,
	// then adds one more; the evicted one is gone, the rest remain.
	tests := map[string]struct {
		lifetimes []time.Duration
		evicted   int // index into lifetimes
	}{
		"soonest expiring goes":           {[]time.Duration{10 * time.Minute, 5 * time.Minute, 20 * time.Minute, 30 * time.Minute}, 1},
		"new entry may evict a later one": {[]time.Duration{10 * time.Minute, 20 * time.Minute, 30 * time.Minute, time.Minute}, 0},
		"equal expiry evicts the oldest":  {[]time.Duration{time.Hour, time.Hour, time.Hour, time.Hour}, 0},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			m, _, sess := memoryAt(3)
			tokens := []string{"t0", "t1", "t2", "t3"}
			for i, d := range tc.lifetimes {
				if err := m.Create(ctx, tokens[i], sess(d)); err != nil {
					t.Fatalf("Create %s: %v", tokens[i], err)
				}
			}
			if n := m.Len(); n != 3 {
				t.Errorf("Len = %d, want 3", n)
			}
			for i, tok := range tokens {
				_, err := m.Lookup(ctx, tok)
				if gone := errors.Is(err, ErrNotFound); gone != (i == tc.evicted) {
					t.Errorf("Lookup(%s): error = %v; evicted should be %s", tok, err, tokens[tc.evicted])
				}
			}
		})
	}
}

func TestMemoryKindsBoundedSeparately(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	m, _, sess := memoryAt(2)
	for _, tok := range []string{"a", "b"} {
		if err := m.Create(ctx, tok, sess(time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	// A flood of request IDs (anyone can start a login) must not push out
	// sessions or the replay cache.
	if _, err := m.SeenBefore(ctx, "assertion", m.now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		if err := m.Remember(ctx, string(rune('A'+i)), time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	for _, tok := range []string{"a", "b"} {
		if _, err := m.Lookup(ctx, tok); err != nil {
			t.Errorf("session %s evicted by request IDs: %v", tok, err)
		}
	}
	if seen, _ := m.SeenBefore(ctx, "assertion", m.now().Add(time.Hour)); !seen {
		t.Error("replay-cache entry evicted by request IDs")
	}
	if n := m.requests.len(); n != 2 {
		t.Errorf("request IDs held = %d, want 2 (the bound)", n)
	}
}

func TestMemorySweep(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	m, clock, sess := memoryAt(100)
	for _, tok := range []string{"a", "b", "c"} {
		if err := m.Create(ctx, tok, sess(time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.Create(ctx, "long", sess(time.Hour)); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Minute)
	// The next write drops every expired session.
	if err := m.Create(ctx, "d", sess(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if n := m.sessions.len(); n != 2 {
		t.Errorf("sessions held after sweep = %d, want 2", n)
	}
}

func TestMemoryLookupRemovesExpired(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	m, clock, sess := memoryAt(100)
	if err := m.Create(ctx, "a", sess(time.Minute)); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Hour)
	if _, err := m.Lookup(ctx, "a"); !errors.Is(err, ErrExpired) {
		t.Fatalf("Lookup: error = %v, want ErrExpired", err)
	}
	if n := m.Len(); n != 0 {
		t.Errorf("Len after Lookup of an expired session = %d, want 0", n)
	}
	if _, err := m.Lookup(ctx, "a"); !errors.Is(err, ErrNotFound) {
		t.Errorf("second Lookup: error = %v, want ErrNotFound", err)
	}
}

func TestMemoryReplaceKeepsOneEntry(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	m, _, sess := memoryAt(100)
	for _, d := range []time.Duration{time.Hour, time.Minute, 2 * time.Hour} {
		if err := m.Create(ctx, "a", sess(d)); err != nil {
			t.Fatal(err)
		}
	}
	if n := m.Len(); n != 1 {
		t.Errorf("Len = %d, want 1", n)
	}
}

func TestMemoryOneTimeExpiry(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		advance time.Duration
		consume bool // Consume's answer after advance
		seen    bool // SeenBefore's answer after advance
	}{
		"before expiry": {advance: time.Minute - time.Millisecond, consume: true, seen: true},
		"at expiry":     {advance: time.Minute, consume: false, seen: false},
		"after expiry":  {advance: time.Hour, consume: false, seen: false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			m, clock, _ := memoryAt(100)
			if err := m.Remember(ctx, "req", time.Minute); err != nil {
				t.Fatal(err)
			}
			if seen, err := m.SeenBefore(ctx, "assertion", clock.Now().Add(time.Minute)); err != nil || seen {
				t.Fatalf("first SeenBefore = %v, %v", seen, err)
			}
			clock.Advance(tc.advance)
			if got, err := m.Consume(ctx, "req"); err != nil || got != tc.consume {
				t.Errorf("Consume = %v, %v; want %v", got, err, tc.consume)
			}
			if got, err := m.SeenBefore(ctx, "assertion", clock.Now().Add(time.Minute)); err != nil || got != tc.seen {
				t.Errorf("SeenBefore = %v, %v; want %v", got, err, tc.seen)
			}
		})
	}
}

// TestMemoryTokensNeverEvictSessions (issue 8 items 1 and 2): the token
// endpoint's tokens and records live in their own pool, so any number of
// them (one client rotating refresh tokens, or minting grants) evicts no
// browser session; and the one-time IDs of CLI codes live in a pool of
// their own too, apart from the replay cache. (Before, tokens shared the
// sessions table and evicted browser sessions.)
func TestMemoryTokensNeverEvictSessions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	m, _, sess := memoryAt(3)
	// The browser sessions end sooner than the tokens (whose login started
	// later): soonest-expiry eviction in a shared table would pick them.
	for _, tok := range []string{"alice", "carol"} {
		if err := m.Create(ctx, tok, sess(time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 50 {
		s := sess(8 * time.Hour)
		s.Family = "root/grant"
		if err := m.Create(ctx, fmt.Sprintf("token-%d", i), s); err != nil {
			t.Fatal(err)
		}
		if _, err := m.SeenBefore(ctx, fmt.Sprintf("used-%d", i), m.now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.Remember(ctx, "code", time.Minute); err != nil {
		t.Fatal(err)
	}
	for _, tok := range []string{"alice", "carol"} {
		if _, err := m.Lookup(ctx, tok); err != nil {
			t.Errorf("browser session %s evicted by tokens: %v", tok, err)
		}
	}
	if _, err := m.Lookup(ctx, "token-49"); err != nil {
		t.Errorf("newest token: %v", err)
	}
	if ok, _ := m.Consume(ctx, "code"); !ok {
		t.Error("code marker evicted by replay-cache entries")
	}
	if n := m.tokens.len(); n != 3 {
		t.Errorf("tokens held = %d, want 3 (the bound)", n)
	}
}

// TestMemoryDiscardAndForget: Discard deletes tokens by ref without
// revoking their family; Forget drops a replay-cache entry.
func TestMemoryDiscardAndForget(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	m, _, sess := memoryAt(100)
	s := sess(time.Hour)
	s.Family = "root/grant"
	for _, tok := range []string{"a", "b"} {
		if err := m.Create(ctx, tok, s); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.Discard(ctx, s, authz.TokenRef("a"), "not a ref"); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Lookup(ctx, "a"); !errors.Is(err, ErrNotFound) {
		t.Errorf("discarded token: %v", err)
	}
	if _, err := m.Lookup(ctx, "b"); err != nil {
		t.Errorf("other member of the family: %v", err)
	}
	if err := m.Create(ctx, "c", s); err != nil {
		t.Errorf("family revoked by Discard: %v", err)
	}
	if n := len(m.fam.members["root/grant"]); n != 2 {
		t.Errorf("family members = %d, want 2", n)
	}
	until := m.now().Add(time.Hour)
	if _, err := m.SeenBefore(ctx, "x", until); err != nil {
		t.Fatal(err)
	}
	if err := m.Forget(ctx, "x"); err != nil {
		t.Fatal(err)
	}
	if seen, _ := m.SeenBefore(ctx, "x", until); seen {
		t.Error("forgotten id still seen")
	}
}
