package session

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/tfgate/tfgate/authz"
	"github.com/tfgate/tfgate/internal/redistest"
)

func init() {
	storeCases["EndSAMLSessions"] = testEndSAMLSessions
	redisCases["EndSAMLSessionsReachCaches"] = testEndSAMLSessionsReachCaches
}

// samlEnder is EndSAMLSessions, which both stores have.
type samlEnder interface {
	EndSAMLSessions(ctx context.Context, idp, nameID string, sessionIndexes []string) (int, error)
}

// samlSignIn creates a browser session signed in by idp for nameID with
// SessionIndex sidx and returns its token.
func samlSignIn(t *testing.T, h *harness, idp, nameID, sidx string) string {
	t.Helper()
	tok := h.token(t)
	s := h.session(time.Hour)
	s.IdP, s.Subject, s.SessionIndex = idp, nameID, sidx
	if err := h.store.Create(context.Background(), tok, s); err != nil {
		t.Fatalf("Create: %v", err)
	}
	return tok
}

// testEndSAMLSessions: a LogoutRequest with a SessionIndex ends only that
// IdP session of that NameID at that IdP, with the tokens minted from it;
// one without ends every session of the NameID at the IdP, and no other.
func testEndSAMLSessions(t *testing.T, h *harness) {
	ctx := context.Background()
	const idpA, idpB = "https://idp.example.com", "https://other-idp.example.com"
	end := h.store.(samlEnder)
	a1 := samlSignIn(t, h, idpA, "alice@example.com", "s1")
	a2 := samlSignIn(t, h, idpA, "alice@example.com", "s2")
	a3 := samlSignIn(t, h, idpA, "alice@example.com", "")
	b1 := samlSignIn(t, h, idpB, "alice@example.com", "s1")
	bob := samlSignIn(t, h, idpA, "bob@example.com", "s1")
	cli := child(t, h, a1) // extauthz login from a1
	if n, err := end.EndSAMLSessions(ctx, idpA, "alice@example.com", []string{"s1", "unknown"}); err != nil || n != 1 {
		t.Fatalf("EndSAMLSessions(s1) = %d, %v; want 1", n, err)
	}
	if got := live(t, h, a1, cli, a2, a3, b1, bob); !slices.Equal(got, []bool{false, false, true, true, true, true}) {
		t.Fatalf("live after ending s1 = %v", got)
	}
	// The ended sign-in's family stays revoked: a refresh in flight fails.
	if err := createInFamily(t, h, authz.SessionHandle(a1)); !errors.Is(err, ErrFamilyRevoked) {
		t.Errorf("Create in the ended sign-in's family = %v, want ErrFamilyRevoked", err)
	}
	cli2 := child(t, h, a2)
	if n, err := end.EndSAMLSessions(ctx, idpA, "alice@example.com", nil); err != nil || n != 2 {
		t.Fatalf("EndSAMLSessions(all) = %d, %v; want 2", n, err)
	}
	if got := live(t, h, a2, cli2, a3, b1, bob); !slices.Equal(got, []bool{false, false, false, true, true}) {
		t.Fatalf("live after ending all = %v", got)
	}
	if n, err := end.EndSAMLSessions(ctx, idpA, "alice@example.com", nil); err != nil || n != 0 {
		t.Errorf("EndSAMLSessions again = %d, %v; want 0", n, err)
	}
	if _, err := end.EndSAMLSessions(ctx, "", "alice@example.com", nil); !errors.Is(err, ErrEmptyKey) {
		t.Errorf("EndSAMLSessions without IdP = %v, want ErrEmptyKey", err)
	}
	if _, err := end.EndSAMLSessions(ctx, idpA, "", nil); !errors.Is(err, ErrEmptyKey) {
		t.Errorf("EndSAMLSessions without NameID = %v, want ErrEmptyKey", err)
	}
}

// testEndSAMLSessionsReachCaches: a LogoutRequest handled by one replica
// ends the session in every replica's cache.
func testEndSAMLSessionsReachCaches(t *testing.T, h *harness) {
	ctx := context.Background()
	r := h.store.(*Redis)
	r.watchInterval = 100 * time.Millisecond
	a, b := startCache(t, r, time.Hour), startCache(t, r, time.Hour)
	tok := samlSignIn(t, h, "https://idp.example.com", "alice@example.com", "s1")
	cli := child(t, h, tok)
	for _, c := range []*Cached{a, b} {
		for _, tk := range []string{tok, cli} {
			if _, err := c.Lookup(ctx, tk); err != nil {
				t.Fatalf("Lookup before: %v", err)
			}
		}
	}
	if n, err := r.EndSAMLSessions(ctx, "https://idp.example.com", "alice@example.com", []string{"s1"}); err != nil || n != 1 {
		t.Fatalf("EndSAMLSessions = %d, %v", n, err)
	}
	for _, c := range []*Cached{a, b} {
		for _, tk := range []string{tok, cli} {
			waitUntil(t, 2*time.Second, "the cache to drop the ended session", func() bool {
				_, err := c.Lookup(ctx, tk)
				return errors.Is(err, authz.ErrNoSession)
			})
		}
	}
}

// TestRedisSAMLKeys pins the single logout indexes: one per IdP and NameID
// and one per IdP session, hashed like the other indexes and living as
// long as the session; a session without an IdP has none.
func TestRedisSAMLKeys(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	c := srv.Client()
	clock := newTestClock()
	s, err := NewRedis(c, RedisConfig{Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	tok := "tfg_example"
	sess := authz.Session{Subject: "a", IdP: "i", SessionIndex: "x", ExpiresAt: clock.Now().Add(time.Hour)}
	if err := s.Create(ctx, tok, sess); err != nil {
		t.Fatal(err)
	}
	h := authz.SessionHandle(tok)
	byName := "tfgate:sl:" + Hash("tfgate saml session\x00i\x00a\x00")
	byIndex := "tfgate:sl:" + Hash("tfgate saml session\x00i\x00a\x00x\x00")
	expectKeys(t, c, map[string]time.Duration{
		"tfgate:s:{" + h + "}:" + Hash(tok):       time.Hour,
		"tfgate:h:{" + h + "}":                    time.Hour,
		"tfgate:m:{" + h + "}":                    time.Hour, // the metadata record (meta.go)
		"tfgate:u:" + Hash("tfgate subject\x00a"): time.Hour,
		byName:  time.Hour,
		byIndex: time.Hour,
	})
	for _, k := range []string{byName, byIndex} {
		if m, _ := c.ZRange(ctx, k, 0, -1).Result(); len(m) != 1 || m[0] != h+":"+Hash(tok) {
			t.Errorf("%s holds %q, want [handle:hash]", k, m)
		}
	}
	if n, err := s.EndSAMLSessions(ctx, "i", "a", []string{"x"}); err != nil || n != 1 {
		t.Fatalf("EndSAMLSessions = %d, %v", n, err)
	}
	expectKeys(t, c, map[string]time.Duration{
		"tfgate:u:" + Hash("tfgate subject\x00a"): time.Hour,
		byName: time.Hour,
		"tfgate:fx:" + Hash("tfgate family\x00"+h): familyTombstoneTTL,
	})
}
