package sp

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/tfgate/tfgate/authz"
)

// codeTTL is how long an authorization code can be exchanged.
const codeTTL = 60 * time.Second

// Keys of the token endpoint's records and one-time values in the store.
// The store hashes each before use and seals records under a key derived
// from them, so only whoever holds the token (and, for a code, the PKCE
// verifier and redirect_uri) can find or read one. The prefixes keep each
// kind apart from the others and from access tokens.
func codeRecordKey(code, challenge, redirectURI string) string {
	return "tfgate code\x00" + code + "\x00" + challenge + "\x00" + redirectURI
}

func codeLiveID(code string) string { return "tfgate code live\x00" + code }

func codeUsedID(code string) string { return "tfgate code used\x00" + code }

func refreshRecordKey(refresh string) string { return "tfgate refresh\x00" + refresh }

// refreshUsedID is the replay-cache ID marking the refresh token whose
// record has ref recordRef (authz.TokenRef of its refreshRecordKey) as
// used: derived from the ref, so that the rotation after next can forget
// it knowing only the ref its successor's record keeps.
func refreshUsedID(recordRef string) string { return "tfgate refresh used\x00" + recordRef }

// randomURLString returns n random bytes from r as unpadded base64url.
func randomURLString(r io.Reader, n int) (string, error) {
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return "", fmt.Errorf("sp: reading random bytes: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// pkceS256 is RFC 7636's S256 challenge of a verifier.
func pkceS256(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// familyRoot returns the root family of tokens minted from the session
// token names: its handle, or its own root when it is itself a token (a
// token in the session cookie), so that signing out of the browser session
// still reaches them.
func familyRoot(s authz.Session, token string) string {
	if s.Family != "" {
		root, _, _ := strings.Cut(s.Family, "/")
		return root
	}
	return authz.SessionHandle(token)
}

// grant is what a token response is minted from.
type grant struct {
	// identity is the subject as the sign-in asserted it, with the
	// sign-in's CreatedAt (so sessions.max_auth_age counts from it).
	identity authz.Session
	// family is the tokens' Family; "" starts a new one, headed by the
	// refresh token minted here.
	family                    string
	accessScope, refreshScope []string
	// accessEnd bounds the access token (the sign-in's end); refreshEnd
	// is the refresh token's end.
	accessEnd, refreshEnd time.Time
	// replaces lists the refs of what rotating the new refresh token will
	// delete: the access token issued with the refresh token this grant
	// rotates, and that token's record (its tombstone from now on).
	// rotationWindow and rotations carry the grant's rotation count
	// forward.
	replaces       []string
	rotationWindow time.Time
	rotations      int
}

// minted names what mint stored, for discard.
type minted struct{ access, refreshKey string }

// mint stores a new access token and refresh token for g and returns the
// token response. The tokens are not handed out yet: the grant's one-time
// check comes after minting, so that a store failure while minting leaves
// the code or refresh token unused for a retry, and a grant that loses
// that check discards what it minted.
func (t *tokenEndpoint) mint(ctx context.Context, g grant) (tokenResponse, minted, error) {
	now := t.cfg.Now()
	accessExp := earliest(now.Add(t.cfg.TokenLifetime), g.accessEnd)
	if accessExp.Sub(now) < time.Second || !now.Before(g.refreshEnd) {
		return tokenResponse{}, minted{}, oauthErr(errInvalidGrant, "the sign-in this grant comes from has ended; sign in again")
	}
	access, err := authz.NewToken(t.cfg.Rand)
	if err != nil {
		return tokenResponse{}, minted{}, err
	}
	refresh, err := randomURLString(t.cfg.Rand, 32)
	if err != nil {
		return tokenResponse{}, minted{}, err
	}
	refresh = RefreshTokenPrefix + refresh
	family := g.family
	if family == "" {
		family = authz.SessionHandle(refreshRecordKey(refresh))
	}
	m := minted{refreshKey: refreshRecordKey(refresh)}
	// The refresh record names its access token, and what rotating it
	// will delete.
	rs := g.identity
	rs.Scope, rs.Family, rs.ExpiresAt = g.refreshScope, family, g.refreshEnd
	rs.Access, rs.Replaces = authz.TokenRef(access), g.replaces
	rs.RotationWindow, rs.Rotations = g.rotationWindow, g.rotations
	if err := t.store.Create(ctx, m.refreshKey, rs); err != nil {
		return tokenResponse{}, minted{}, storeError(err)
	}
	as := g.identity
	as.Scope, as.Family, as.ExpiresAt = g.accessScope, family, accessExp
	if err := t.store.Create(ctx, access, as); err != nil {
		t.discard(ctx, m)
		return tokenResponse{}, minted{}, storeError(err)
	}
	m.access = access
	return tokenResponse{
		AccessToken: access, TokenType: "Bearer", ExpiresIn: int64(accessExp.Sub(now) / time.Second),
		RefreshToken: refresh, Scope: joinScope(g.accessScope),
	}, m, nil
}

// issued logs a token response about to be handed out: the access
// token's handle (the x-tfgate-session of the decision log) and its
// family, never a token.
func (t *tokenEndpoint) issued(grant, family string, resp tokenResponse) {
	t.cfg.Logger.Info("token: issued", "grant", grant, "session", authz.SessionHandle(resp.AccessToken),
		"family", family, "scoped", resp.Scope != "", "expires_in", resp.ExpiresIn)
}

// discard deletes what mint stored, best effort: tokens never handed out
// are unreachable anyway.
func (t *tokenEndpoint) discard(ctx context.Context, m minted) {
	for _, k := range []string{m.access, m.refreshKey} {
		if k != "" {
			_ = t.store.Delete(ctx, k)
		}
	}
}

// refreshEnd is when a refresh token family started now ends: the
// sign-in's end, or sooner with Config.RefreshLifetime.
func (t *tokenEndpoint) refreshEnd(now, signInEnd time.Time) time.Time {
	if t.cfg.RefreshLifetime > 0 {
		return earliest(signInEnd, now.Add(t.cfg.RefreshLifetime))
	}
	return signInEnd
}

// issueCode stores an authorization code for the session parentToken
// names, bound to scope, the PKCE challenge and redirectURI, and returns
// it. The code's record carries the sign-in's end and a new grant family
// under the session's ("ROOT/GRANT"): what the code and its refresh chain
// issue can be revoked alone, and signing out revokes them all. The code
// is live for codeTTL.
func (t *tokenEndpoint) issueCode(ctx context.Context, parentToken string, parent authz.Session, scope []string, challenge, redirectURI string) (string, error) {
	code, err := randomURLString(t.cfg.Rand, 32)
	if err != nil {
		return "", err
	}
	grantID, err := randomURLString(t.cfg.Rand, 9)
	if err != nil {
		return "", err
	}
	rec := sessionOf(parent)
	rec.Scope, rec.Family = scope, familyRoot(parent, parentToken)+"/"+grantID
	if err := t.store.Create(ctx, codeRecordKey(code, challenge, redirectURI), rec); err != nil {
		return "", err
	}
	if err := t.store.Remember(ctx, codeLiveID(code), codeTTL); err != nil {
		return "", err
	}
	return code, nil
}

// storeError is a failed Create of a token: its family revoked meanwhile
// (the user signed out) is invalid_grant; anything else, the store not
// answering.
func storeError(err error) error {
	if errors.Is(err, authz.ErrNoSession) {
		return &oauthError{code: errInvalidGrant, desc: "the sign-in this grant comes from has ended (signed out or revoked); sign in again", cause: err}
	}
	return unavailable(err)
}

func earliest(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func joinScope(scope []string) string { return strings.Join(scope, " ") }
