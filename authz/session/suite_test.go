package session

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tfgate/tfgate/authz"
)

// store is the API both stores share.
type store interface {
	authz.SessionStore
	Create(ctx context.Context, token string, s authz.Session) error
	Delete(ctx context.Context, token string) error
	Remember(ctx context.Context, id string, ttl time.Duration) error
	Consume(ctx context.Context, id string) (bool, error)
	SeenBefore(ctx context.Context, id string, until time.Time) (bool, error)
	RevokeFamily(ctx context.Context, family string) (int, error)
}

// harness is one store under test, its clock, and a view of its backend.
type harness struct {
	store store
	clock *testClock
	// reopen replaces store with one on the same backend and clock, with
	// other lifetime limits.
	reopen func(Lifetime) store
	// backend lists what the store wrote, or is nil when there is nothing
	// to inspect (Memory).
	backend func(tb testing.TB) []storedKey
	// tokens are the tokens the test used; none may appear in the backend.
	tokens []string
}

// storedKey is one key in a backend, with everything Redis would reveal
// about it: its type, its value (a string's bytes, a sorted set's members
// and scores), its DUMP serialisation and its remaining TTL.
type storedKey struct {
	Key, Type, Value, Dump string
	TTL                    time.Duration
}

// secrets are the names in harness.session; no backend may hold them in
// the clear.
var secrets = []string{"alice@example.com", "Alice", "ml-readers", "ml-admins", "idp.example.com", "model:resnet"}

// token returns a fresh token and remembers it for the backend checks.
func (h *harness) token(tb testing.TB) string {
	tb.Helper()
	tok, err := authz.NewToken(nil)
	if err != nil {
		tb.Fatal(err)
	}
	h.tokens = append(h.tokens, tok)
	return tok
}

// session returns a session that expires after ttl on the harness clock.
func (h *harness) session(ttl time.Duration) authz.Session {
	now := h.clock.Now()
	return authz.Session{
		Subject:   "alice@example.com",
		Email:     "alice@example.com",
		Name:      "Alice",
		Groups:    []string{"ml-readers", "ml-admins"},
		IdP:       "https://idp.example.com",
		Scope:     []string{"model:resnet"},
		CreatedAt: now,
		ExpiresAt: now.Add(ttl),
	}
}

// testClock is a settable clock for Now fields.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func newTestClock() *testClock { return &testClock{now: time.Now().Round(time.Millisecond)} }

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// storeCases is the behaviour every store must have.
var storeCases = map[string]func(t *testing.T, h *harness){
	"CreateLookup":           testCreateLookup,
	"LookupUnknown":          testLookupUnknown,
	"CreateRejectsBadExpiry": testCreateRejectsBadExpiry,
	"Expired":                testExpired,
	"Replace":                testReplace,
	"Delete":                 testDelete,
	"LookupCopies":           testLookupCopies,
	"RememberConsume":        testRememberConsume,
	"RememberRejects":        testRememberRejects,
	"ConsumeConcurrent":      testConsumeConcurrent,
	"SeenBefore":             testSeenBefore,
	"SeenBeforeConcurrent":   testSeenBeforeConcurrent,
	"KindsAreSeparate":       testKindsAreSeparate,
	"MaxLifetime":            testMaxLifetime,
	"MaxAuthAge":             testMaxAuthAge,
	"IdleTimeout":            testIdleTimeout,
}

// runStoreSuite runs storeCases against stores from newHarness, then checks
// the backend of each: every key has a TTL and none holds a raw token.
func runStoreSuite(t *testing.T, newHarness func(t *testing.T) *harness) {
	for name, tc := range storeCases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			tc(t, h)
			if h.backend != nil && !t.Failed() {
				checkBackend(t, h)
			}
		})
	}
}

// checkBackend is the dump check: every key has a TTL, and no key, value or
// DUMP holds a token or a name.
func checkBackend(t *testing.T, h *harness) {
	t.Helper()
	for _, k := range h.backend(t) {
		if k.TTL <= 0 {
			t.Errorf("key %s has no TTL (PTTL %v)", k.Key, k.TTL)
		}
		for _, tok := range h.tokens {
			if strings.Contains(k.Key+k.Value+k.Dump, tok) {
				t.Errorf("key %s or its value contains a raw token", k.Key)
			}
		}
		for _, name := range secrets {
			if strings.Contains(k.Key+k.Value+k.Dump, name) {
				t.Errorf("key %s (%s) or its value contains %q in the clear", k.Key, k.Type, name)
			}
		}
	}
}

// sessionKeys returns the session keys among a backend's keys.
func sessionKeys(keys []storedKey) []storedKey {
	var out []storedKey
	for _, k := range keys {
		if strings.Contains(k.Key, ":s:{") {
			out = append(out, k)
		}
	}
	return out
}

func testCreateLookup(t *testing.T, h *harness) {
	ctx := context.Background()
	tok, want := h.token(t), h.session(time.Hour)
	if err := h.store.Create(ctx, tok, want); err != nil {
		t.Fatalf("Create: %v", err)
	}
	got, err := h.store.Lookup(ctx, tok)
	if err != nil {
		t.Fatalf("Lookup: %v", err)
	}
	assertSession(t, got, want)
	// Proves the backend view works, so the key checks are not vacuous:
	// a session, its handle, its metadata record, the indexes of its
	// subject and 2 groups, and its IdP's single logout index (slo.go).
	if h.backend != nil {
		keys := h.backend(t)
		if len(keys) != 7 || len(sessionKeys(keys)) != 1 {
			t.Errorf("backend holds %d keys (%d sessions) after one Create, want 7 (1)", len(keys), len(sessionKeys(keys)))
		}
	}
}

func testLookupUnknown(t *testing.T, h *harness) {
	ctx := context.Background()
	for name, tok := range map[string]string{"unknown": h.token(t), "empty": "", "garbage": "x\x00{y}"} {
		_, err := h.store.Lookup(ctx, tok)
		if !errors.Is(err, authz.ErrNoSession) || !errors.Is(err, ErrNotFound) {
			t.Errorf("%s: Lookup error = %v, want ErrNotFound wrapping authz.ErrNoSession", name, err)
		}
	}
}

func testCreateRejectsBadExpiry(t *testing.T, h *harness) {
	ctx := context.Background()
	tok := h.token(t)
	past, zero := h.session(-time.Second), h.session(time.Hour)
	zero.ExpiresAt = time.Time{}
	for name, s := range map[string]authz.Session{"past": past, "now": h.session(0), "zero": zero} {
		if err := h.store.Create(ctx, tok, s); !errors.Is(err, ErrInvalidExpiry) {
			t.Errorf("%s: Create error = %v, want ErrInvalidExpiry", name, err)
		}
	}
	if err := h.store.Create(ctx, "", h.session(time.Hour)); !errors.Is(err, ErrEmptyKey) {
		t.Errorf("Create with empty token: error = %v, want ErrEmptyKey", err)
	}
	if _, err := h.store.Lookup(ctx, tok); !errors.Is(err, ErrNotFound) {
		t.Errorf("Lookup after rejected Create: error = %v, want ErrNotFound", err)
	}
}

func testExpired(t *testing.T, h *harness) {
	ctx := context.Background()
	tok := h.token(t)
	if err := h.store.Create(ctx, tok, h.session(time.Minute)); err != nil {
		t.Fatalf("Create: %v", err)
	}
	h.clock.Advance(time.Minute - time.Millisecond)
	if _, err := h.store.Lookup(ctx, tok); err != nil {
		t.Fatalf("Lookup just before expiry: %v", err)
	}
	// The backend may still hold the session; the store must not return it.
	h.clock.Advance(time.Millisecond)
	_, err := h.store.Lookup(ctx, tok)
	if !errors.Is(err, ErrExpired) || !errors.Is(err, authz.ErrNoSession) {
		t.Fatalf("Lookup at expiry: error = %v, want ErrExpired wrapping authz.ErrNoSession", err)
	}
}

func testReplace(t *testing.T, h *harness) {
	ctx := context.Background()
	tok := h.token(t)
	first, second := h.session(time.Hour), h.session(2*time.Hour)
	second.Groups = []string{"other"}
	for _, s := range []authz.Session{first, second} {
		if err := h.store.Create(ctx, tok, s); err != nil {
			t.Fatalf("Create: %v", err)
		}
	}
	got, err := h.store.Lookup(ctx, tok)
	if err != nil {
		t.Fatalf("Lookup: %v", err)
	}
	assertSession(t, got, second)
}

func testDelete(t *testing.T, h *harness) {
	ctx := context.Background()
	tok, other := h.token(t), h.token(t)
	for _, tk := range []string{tok, other} {
		if err := h.store.Create(ctx, tk, h.session(time.Hour)); err != nil {
			t.Fatalf("Create: %v", err)
		}
	}
	if err := h.store.Delete(ctx, tok); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, err := h.store.Lookup(ctx, tok); !errors.Is(err, authz.ErrNoSession) {
		t.Errorf("Lookup after Delete: error = %v, want authz.ErrNoSession", err)
	}
	if _, err := h.store.Lookup(ctx, other); err != nil {
		t.Errorf("Delete removed another session: %v", err)
	}
	for _, tk := range []string{tok, h.token(t), ""} {
		if err := h.store.Delete(ctx, tk); err != nil {
			t.Errorf("Delete of a missing session: %v", err)
		}
	}
}

func testLookupCopies(t *testing.T, h *harness) {
	ctx := context.Background()
	tok, s := h.token(t), h.session(time.Hour)
	if err := h.store.Create(ctx, tok, s); err != nil {
		t.Fatalf("Create: %v", err)
	}
	s.Groups[0] = "changed-after-create"
	got, _ := h.store.Lookup(ctx, tok)
	got.Groups[0] = "changed-after-lookup"
	again, _ := h.store.Lookup(ctx, tok)
	if again.Groups[0] != "ml-readers" {
		t.Errorf("stored Groups[0] = %q; the store must not share slices with callers", again.Groups[0])
	}
}

func testRememberConsume(t *testing.T, h *harness) {
	ctx := context.Background()
	if err := h.store.Remember(ctx, "id-1", time.Minute); err != nil {
		t.Fatalf("Remember: %v", err)
	}
	for i, want := range []bool{true, false, false} {
		got, err := h.store.Consume(ctx, "id-1")
		if err != nil || got != want {
			t.Errorf("Consume #%d = %v, %v; want %v", i+1, got, err, want)
		}
	}
	if got, err := h.store.Consume(ctx, "never-remembered"); err != nil || got {
		t.Errorf("Consume of an unknown ID = %v, %v; want false", got, err)
	}
}

func testRememberRejects(t *testing.T, h *harness) {
	ctx := context.Background()
	for _, ttl := range []time.Duration{0, -time.Second} {
		if err := h.store.Remember(ctx, "id", ttl); !errors.Is(err, ErrInvalidExpiry) {
			t.Errorf("Remember with ttl %v: error = %v, want ErrInvalidExpiry", ttl, err)
		}
	}
	if err := h.store.Remember(ctx, "", time.Minute); !errors.Is(err, ErrEmptyKey) {
		t.Errorf("Remember with empty ID: error = %v, want ErrEmptyKey", err)
	}
	if _, err := h.store.Consume(ctx, ""); !errors.Is(err, ErrEmptyKey) {
		t.Errorf("Consume with empty ID: error = %v, want ErrEmptyKey", err)
	}
}

func testConsumeConcurrent(t *testing.T, h *harness) {
	ctx := context.Background()
	if err := h.store.Remember(ctx, "race", time.Minute); err != nil {
		t.Fatalf("Remember: %v", err)
	}
	var wins atomic.Int32
	concurrently(t, 20, func() error {
		ok, err := h.store.Consume(ctx, "race")
		if ok {
			wins.Add(1)
		}
		return err
	})
	if n := wins.Load(); n != 1 {
		t.Errorf("%d concurrent Consume calls returned true, want exactly 1", n)
	}
}

func testSeenBefore(t *testing.T, h *harness) {
	ctx := context.Background()
	until := h.clock.Now().Add(5 * time.Minute)
	for i, want := range []bool{false, true, true} {
		got, err := h.store.SeenBefore(ctx, "assertion-1", until)
		if err != nil || got != want {
			t.Errorf("SeenBefore #%d = %v, %v; want %v", i+1, got, err, want)
		}
	}
	if got, err := h.store.SeenBefore(ctx, "assertion-2", until); err != nil || got {
		t.Errorf("SeenBefore of another ID = %v, %v; want false", got, err)
	}
	for name, u := range map[string]time.Time{"past": h.clock.Now().Add(-time.Second), "now": h.clock.Now(), "zero": {}} {
		if _, err := h.store.SeenBefore(ctx, "assertion-3", u); !errors.Is(err, ErrInvalidExpiry) {
			t.Errorf("SeenBefore until %s: error = %v, want ErrInvalidExpiry", name, err)
		}
	}
	if _, err := h.store.SeenBefore(ctx, "", until); !errors.Is(err, ErrEmptyKey) {
		t.Errorf("SeenBefore with empty ID: error = %v, want ErrEmptyKey", err)
	}
}

func testSeenBeforeConcurrent(t *testing.T, h *harness) {
	ctx := context.Background()
	until := h.clock.Now().Add(time.Minute)
	var firsts atomic.Int32
	concurrently(t, 20, func() error {
		seen, err := h.store.SeenBefore(ctx, "race", until)
		if err == nil && !seen {
			firsts.Add(1)
		}
		return err
	})
	if n := firsts.Load(); n != 1 {
		t.Errorf("%d concurrent SeenBefore calls returned false, want exactly 1", n)
	}
}

// testKindsAreSeparate checks that one string used as a token, a request ID
// and an assertion ID names three different entries.
func testKindsAreSeparate(t *testing.T, h *harness) {
	ctx := context.Background()
	tok := h.token(t)
	if err := h.store.Create(ctx, tok, h.session(time.Hour)); err != nil {
		t.Fatalf("Create: %v", err)
	}
	if ok, err := h.store.Consume(ctx, tok); err != nil || ok {
		t.Errorf("Consume(token) = %v, %v; a session must not count as a remembered request", ok, err)
	}
	if seen, err := h.store.SeenBefore(ctx, tok, h.clock.Now().Add(time.Minute)); err != nil || seen {
		t.Errorf("SeenBefore(token) = %v, %v; a session must not count as a replay", seen, err)
	}
	if err := h.store.Remember(ctx, "shared", time.Minute); err != nil {
		t.Fatalf("Remember: %v", err)
	}
	if _, err := h.store.Lookup(ctx, "shared"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Lookup of a remembered request ID: error = %v, want ErrNotFound", err)
	}
	if _, err := h.store.Lookup(ctx, tok); err != nil {
		t.Errorf("the session did not survive: %v", err)
	}
}

// concurrently runs f n times at once and fails the test on any error.
func concurrently(t *testing.T, n int, f func() error) {
	t.Helper()
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make(chan error, n)
	for range n {
		wg.Go(func() {
			<-start
			if err := f(); err != nil {
				errs <- err
			}
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func assertSession(t *testing.T, got, want authz.Session) {
	t.Helper()
	if !got.CreatedAt.Equal(want.CreatedAt) || !got.ExpiresAt.Equal(want.ExpiresAt) {
		t.Errorf("times = %v, %v; want %v, %v", got.CreatedAt, got.ExpiresAt, want.CreatedAt, want.ExpiresAt)
	}
	got.CreatedAt, got.ExpiresAt = want.CreatedAt, want.ExpiresAt
	if !reflect.DeepEqual(got, want) {
		t.Errorf("session = %+v, want %+v", got, want)
	}
}
