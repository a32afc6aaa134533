package session

import (
	"context"
	"crypto/sha256"
	"errors"
	"maps"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tfgate/tfgate/authz"
	"github.com/tfgate/tfgate/internal/redistest"
)

// familyCases are the behaviour of families (the token endpoint's tokens)
// that every store has; they run with storeCases.
var familyCases = map[string]func(t *testing.T, h *harness){
	"RevokeFamily":           testRevokeFamily,
	"DeleteRevokesFamily":    testDeleteRevokesFamily,
	"DeleteOfGoneParent":     testDeleteOfGoneParent,
	"FamilyHasNoIdleTimeout": testFamilyHasNoIdleTimeout,
	"RevokeFamilyConcurrent": testRevokeFamilyConcurrent,
	"NestedFamilies":         testNestedFamilies,
}

func init() { maps.Copy(storeCases, familyCases) }

// child creates a session minted from parent's sign-in (Family = the
// parent's handle) and returns its token.
func child(t *testing.T, h *harness, parent string) string {
	t.Helper()
	tok := h.token(t)
	s := h.session(time.Hour)
	s.Family = authz.SessionHandle(parent)
	if err := h.store.Create(context.Background(), tok, s); err != nil {
		t.Fatalf("Create in a family: %v", err)
	}
	return tok
}

// createInFamily tries to create a session of family and returns Create's
// error.
func createInFamily(t *testing.T, h *harness, family string) error {
	t.Helper()
	s := h.session(time.Hour)
	s.Family = family
	return h.store.Create(context.Background(), h.token(t), s)
}

func testRevokeFamily(t *testing.T, h *harness) {
	ctx := context.Background()
	p, q := signIn(t, h, "alice@example.com", "ml-readers"), signIn(t, h, "alice@example.com")
	a, b, c := child(t, h, p), child(t, h, p), child(t, h, q)
	n, err := h.store.RevokeFamily(ctx, authz.SessionHandle(p))
	if err != nil || n != 2 {
		t.Fatalf("RevokeFamily = %d, %v; want 2", n, err)
	}
	if got := live(t, h, p, a, b, q, c); !slices.Equal(got, []bool{true, false, false, true, true}) {
		t.Errorf("live [p a b q c] = %v; only p's family goes, not p itself", got)
	}
	// A token minted from the revoked family afterwards (a refresh that
	// read its record before the revocation) is refused.
	err = createInFamily(t, h, authz.SessionHandle(p))
	if !errors.Is(err, ErrFamilyRevoked) || !errors.Is(err, authz.ErrNoSession) {
		t.Errorf("Create in a revoked family: %v, want ErrFamilyRevoked wrapping authz.ErrNoSession", err)
	}
	if err := createInFamily(t, h, authz.SessionHandle(q)); err != nil {
		t.Errorf("Create in another family: %v", err)
	}
	if n, err := h.store.RevokeFamily(ctx, "0123456789abcdef"); err != nil || n != 0 {
		t.Errorf("RevokeFamily of an empty family = %d, %v", n, err)
	}
	if _, err := h.store.RevokeFamily(ctx, ""); !errors.Is(err, ErrEmptyKey) {
		t.Errorf("RevokeFamily(\"\") error = %v, want ErrEmptyKey", err)
	}
}

func testDeleteRevokesFamily(t *testing.T, h *harness) {
	ctx := context.Background()
	p, q := signIn(t, h, "alice@example.com"), signIn(t, h, "alice@example.com")
	a, b, c := child(t, h, p), child(t, h, p), child(t, h, q)
	if err := h.store.Delete(ctx, p); err != nil {
		t.Fatal(err)
	}
	if got := live(t, h, p, a, b, q, c); !slices.Equal(got, []bool{false, false, false, true, true}) {
		t.Errorf("live [p a b q c] after Delete(p) = %v", got)
	}
	if err := createInFamily(t, h, authz.SessionHandle(p)); !errors.Is(err, ErrFamilyRevoked) {
		t.Errorf("Create in a signed-out session's family: %v, want ErrFamilyRevoked", err)
	}
	// Deleting a child deletes only the child.
	if err := h.store.Delete(ctx, c); err != nil {
		t.Fatal(err)
	}
	if got := live(t, h, q, c); !slices.Equal(got, []bool{true, false}) {
		t.Errorf("live [q c] after Delete(c) = %v", got)
	}
}

// testNestedFamilies: a grant ("ROOT/GRANT") is revoked alone, or with
// every other grant of its root.
func testNestedFamilies(t *testing.T, h *harness) {
	ctx := context.Background()
	p := signIn(t, h, "alice@example.com")
	root := authz.SessionHandle(p)
	inGrant := func(grant string) string {
		tok := h.token(t)
		s := h.session(time.Hour)
		s.Family = root + "/" + grant
		if err := h.store.Create(ctx, tok, s); err != nil {
			t.Fatalf("Create in %s: %v", grant, err)
		}
		return tok
	}
	a1, a2, b1 := inGrant("a"), inGrant("a"), inGrant("b")
	// A family named like a grant's prefix is another family.
	other := createInFamily(t, h, root+"/aa")
	if other != nil {
		t.Fatal(other)
	}
	if n, err := h.store.RevokeFamily(ctx, root+"/a"); err != nil || n != 2 {
		t.Fatalf("RevokeFamily(grant a) = %d, %v; want 2", n, err)
	}
	if got := live(t, h, p, a1, a2, b1); !slices.Equal(got, []bool{true, false, false, true}) {
		t.Errorf("live [p a1 a2 b1] = %v", got)
	}
	if err := createInFamily(t, h, root+"/a"); !errors.Is(err, ErrFamilyRevoked) {
		t.Errorf("Create in the revoked grant: %v, want ErrFamilyRevoked", err)
	}
	if err := h.store.Delete(ctx, p); err != nil {
		t.Fatal(err)
	}
	if got := live(t, h, b1); got[0] {
		t.Error("grant b survived its root's sign-out")
	}
	if err := createInFamily(t, h, root+"/c"); !errors.Is(err, ErrFamilyRevoked) {
		t.Errorf("Create in a new grant of a signed-out root: %v, want ErrFamilyRevoked", err)
	}
}

// testDeleteOfGoneParent: a browser session may idle out while the tokens
// minted from it live on; signing out (deleting it) still revokes them.
func testDeleteOfGoneParent(t *testing.T, h *harness) {
	ctx := context.Background()
	p := signIn(t, h, "alice@example.com")
	a := child(t, h, p)
	if err := h.store.Delete(ctx, p); err != nil {
		t.Fatal(err)
	}
	// Re-create a child: the tombstone refuses it, so use a fresh parent
	// whose session is removed behind the family's back.
	p2 := signIn(t, h, "alice@example.com")
	b := child(t, h, p2)
	switch s := h.store.(type) {
	case *Memory:
		s.sessions.remove(digestOf(p2))
	case *Redis:
		if _, err := s.deleteRef(ctx, refOf(p2)); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.store.Delete(ctx, p2); err != nil {
		t.Fatal(err)
	}
	if got := live(t, h, a, b); !slices.Equal(got, []bool{false, false}) {
		t.Errorf("live [a b] = %v; the tokens of a gone session must go with it", got)
	}
}

func digestOf(token string) digest { return sha256.Sum256([]byte(token)) }

func testFamilyHasNoIdleTimeout(t *testing.T, h *harness) {
	const idle = time.Second
	ctx := context.Background()
	h.store = h.reopen(Lifetime{Idle: idle, TouchInterval: 200 * time.Millisecond})
	p := signIn(t, h, "alice@example.com")
	a := child(t, h, p)
	time.Sleep(idle + 300*time.Millisecond)
	h.clock.Advance(idle + 300*time.Millisecond)
	if got := live(t, h, p, a); !slices.Equal(got, []bool{false, true}) {
		t.Errorf("live [browser session, token] after idling = %v, want [false true]", got)
	}
	if err := h.store.Delete(ctx, p); err != nil {
		t.Fatal(err)
	}
	if got := live(t, h, a); got[0] {
		t.Error("the token outlived its idle browser session's sign-out")
	}
}

// testRevokeFamilyConcurrent races tokens being minted in a family with
// its revocation: once both are done, none of them may be live, whether it
// was created before the revocation (and deleted by it) or during it (and
// refused by the tombstone).
func testRevokeFamilyConcurrent(t *testing.T, h *harness) {
	ctx := context.Background()
	p := signIn(t, h, "alice@example.com")
	family := authz.SessionHandle(p)
	const workers, each = 8, 10
	tokens := make([][]string, workers)
	for i := range tokens {
		for range each {
			tokens[i] = append(tokens[i], h.token(t))
		}
	}
	var (
		mu      sync.Mutex
		created []string
		wg      sync.WaitGroup
	)
	someCreated := make(chan struct{})
	var once sync.Once
	for i := range workers {
		wg.Go(func() {
			for _, tok := range tokens[i] {
				s := h.session(time.Hour)
				s.Family = family
				err := h.store.Create(ctx, tok, s)
				if err != nil && !errors.Is(err, ErrFamilyRevoked) {
					t.Error(err)
				}
				if err == nil {
					mu.Lock()
					created = append(created, tok)
					mu.Unlock()
					once.Do(func() { close(someCreated) })
				}
			}
		})
	}
	wg.Go(func() {
		<-someCreated
		if _, err := h.store.RevokeFamily(ctx, family); err != nil {
			t.Error(err)
		}
	})
	wg.Wait()
	for i, ok := range live(t, h, created...) {
		if ok {
			t.Errorf("token %d of %d survived its family's revocation", i, len(created))
		}
	}
	t.Logf("%d of %d tokens created before their family was revoked; none survived", len(created), workers*each)
}

// testRevokeSubjectRevokesFamilies: revoking a user also refuses tokens
// still being minted from the sessions it revoked.
func testRevokeSubjectRevokesFamilies(t *testing.T, h *harness) {
	ctx := context.Background()
	r := h.store.(*Redis)
	p := signIn(t, h, "alice@example.com", "ml-readers")
	a := child(t, h, p)
	if n, err := r.RevokeSubject(ctx, "alice@example.com"); err != nil || n != 2 {
		t.Fatalf("RevokeSubject = %d, %v; want 2 (the session and its token)", n, err)
	}
	if got := live(t, h, p, a); !slices.Equal(got, []bool{false, false}) {
		t.Errorf("live = %v", got)
	}
	if err := createInFamily(t, h, authz.SessionHandle(p)); !errors.Is(err, ErrFamilyRevoked) {
		t.Errorf("Create in a revoked user's family: %v, want ErrFamilyRevoked", err)
	}
	q := signIn(t, h, "alice@example.com")
	if err := createInFamily(t, h, authz.SessionHandle(q)); err != nil {
		t.Errorf("a new sign-in after the revocation cannot mint tokens: %v", err)
	}
}

func testRevokeHandleRevokesFamily(t *testing.T, h *harness) {
	ctx := context.Background()
	r := h.store.(*Redis)
	p := signIn(t, h, "alice@example.com")
	a := child(t, h, p)
	if found, err := r.RevokeHandle(ctx, authz.SessionHandle(p)); err != nil || !found {
		t.Fatalf("RevokeHandle = %v, %v", found, err)
	}
	if got := live(t, h, p, a); !slices.Equal(got, []bool{false, false}) {
		t.Errorf("live = %v", got)
	}
}

func init() {
	redisCases["RevokeSubjectRevokesFamilies"] = testRevokeSubjectRevokesFamilies
	redisCases["RevokeHandleRevokesFamily"] = testRevokeHandleRevokesFamily
}

// TestRedisFamilyKeys pins the keys of a family: its index, like the
// subject's, and the tombstone its revocation leaves for ten minutes. A
// token's session has no idle timeout.
func TestRedisFamilyKeys(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	c := srv.Client()
	clock := newTestClock()
	s, err := NewRedis(c, RedisConfig{Now: clock.Now, Lifetime: Lifetime{Idle: 30 * time.Minute}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	tok, family := "tfg_child", "0123456789abcdef"
	sess := authz.Session{Subject: "a", Family: family, ExpiresAt: clock.Now().Add(time.Hour)}
	if err := s.Create(ctx, tok, sess); err != nil {
		t.Fatal(err)
	}
	h := authz.SessionHandle(tok)
	fam := "tfgate:f:" + Hash("tfgate family\x00"+family)
	expectKeys(t, c, map[string]time.Duration{
		"tfgate:s:{" + h + "}:" + Hash(tok):       time.Hour, // no idle timeout
		"tfgate:h:{" + h + "}":                    time.Hour,
		"tfgate:m:{" + h + "}":                    time.Hour, // the metadata record, gone with the session
		"tfgate:u:" + Hash("tfgate subject\x00a"): time.Hour,
		fam: time.Hour,
	})
	if m, _ := c.ZRange(ctx, fam, 0, -1).Result(); len(m) != 1 || m[0] != h+":"+Hash(tok) {
		t.Errorf("family index holds %q, want [handle:hash]", m)
	}
	if n, err := s.RevokeFamily(ctx, family); err != nil || n != 1 {
		t.Fatalf("RevokeFamily = %d, %v", n, err)
	}
	expectKeys(t, c, map[string]time.Duration{
		"tfgate:u:" + Hash("tfgate subject\x00a"):       time.Hour,
		"tfgate:fx:" + Hash("tfgate family\x00"+family): familyTombstoneTTL,
	})
	st, err := s.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Revoked != 1 || st.Other != 0 {
		t.Errorf("Stats = %+v, want 1 tombstone and nothing else unknown", st)
	}
	// Deleting made-up tokens writes nothing.
	if err := s.Delete(ctx, "tfg_made_up"); err != nil {
		t.Fatal(err)
	}
	if n := len(dumpKeys(t, "tfgate:", []*redis.Client{c})); n != 2 {
		t.Errorf("%d keys after deleting a made-up token, want 2", n)
	}
}

// expectKeys checks that exactly the keys of want exist, each with a TTL
// just under its value.
func expectKeys(t *testing.T, c *redis.Client, want map[string]time.Duration) {
	t.Helper()
	got := dumpKeys(t, "tfgate:", []*redis.Client{c})
	var names []string
	for _, k := range got {
		names = append(names, k.Key)
		ttl, ok := want[k.Key]
		if !ok {
			t.Errorf("unexpected key %s", k.Key)
			continue
		}
		if k.TTL <= ttl-5*time.Second || k.TTL > ttl {
			t.Errorf("PTTL %s = %v, want just under %v", k.Key, k.TTL, ttl)
		}
	}
	if len(got) != len(want) {
		sort.Strings(names)
		t.Errorf("keys = %v, want %d keys", names, len(want))
	}
}

// TestMemoryFamilyTombstoneExpires: the tombstone lasts ten minutes, then a
// family can be used again (by then nothing that read it is in flight).
func TestMemoryFamilyTombstoneExpires(t *testing.T) {
	t.Parallel()
	clock := newTestClock()
	m := NewMemory(MemoryConfig{Now: clock.Now})
	h := &harness{store: m, clock: clock}
	if _, err := m.RevokeFamily(context.Background(), "f"); err != nil {
		t.Fatal(err)
	}
	if err := createInFamily(t, h, "f"); !errors.Is(err, ErrFamilyRevoked) {
		t.Fatalf("Create right after the revocation: %v", err)
	}
	clock.Advance(familyTombstoneTTL)
	if err := createInFamily(t, h, "f"); err != nil {
		t.Errorf("Create after the tombstone expired: %v", err)
	}
	// Deleting made-up tokens leaves no tombstone behind.
	before := m.Len()
	if err := m.Delete(context.Background(), "tfg_made_up"); err != nil {
		t.Fatal(err)
	}
	if m.Len() != before {
		t.Errorf("Len %d -> %d after deleting a made-up token", before, m.Len())
	}
}

// TestMemoryFamilyMembersBounded: the member sets of a Memory's families
// do not grow with sessions the table has evicted, and revoking still
// finds the live ones.
func TestMemoryFamilyMembersBounded(t *testing.T) {
	t.Parallel()
	clock := newTestClock()
	m := NewMemory(MemoryConfig{Now: clock.Now, MaxEntries: 8})
	h := &harness{store: m, clock: clock}
	var last []string
	for i := range 200 {
		tok := h.token(t)
		s := h.session(time.Hour)
		s.Family = "root/" + string(rune('a'+i%5))
		if err := m.Create(context.Background(), tok, s); err != nil {
			t.Fatal(err)
		}
		last = append(last, tok)
	}
	if m.fam.n > 4*8 {
		t.Errorf("%d family members recorded for a table of 8 sessions", m.fam.n)
	}
	if n, err := m.RevokeFamily(context.Background(), "root"); err != nil || n != 8 {
		t.Errorf("RevokeFamily = %d, %v; want the 8 sessions the table still holds", n, err)
	}
	if got := live(t, h, last[len(last)-8:]...); slices.Contains(got, true) {
		t.Errorf("live after revocation: %v", got)
	}
}
