package sp

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/tfgate/tfgate/authz"
	"github.com/tfgate/tfgate/samlverify"
)

// Descriptions of refused grants; none quotes the request.
const (
	descCodeInvalid = "the authorization code is unknown, or was issued for another redirect_uri or code_verifier"
	descCodeExpired = "the authorization code has expired (codes last 60 seconds); sign in again"
	descCodeReused  = "the authorization code was used before; the tokens issued with it have been revoked: sign in again"
	descVerifier    = "code_verifier must be 43 to 128 characters of A-Z a-z 0-9 - . _ ~ (RFC 7636)"
	descRefreshBad  = "the refresh token is unknown, expired or revoked; sign in again"
	descSlowDown    = "this grant's refresh token is rotated too often; wait a minute and retry with the same refresh token"
	descRefreshUsed = "the refresh token was used before (each is good once, and every use returns a new one); " +
		"every token of this login has been revoked: sign in again"
)

// authorizationCode exchanges a code from /saml/cli/authorize (RFC 6749
// §4.1.3, RFC 7636). The code's record is found only under the code, the
// S256 challenge of code_verifier and redirect_uri together, so a wrong
// verifier or redirect_uri finds nothing and uses nothing up. A code is
// good once: a second use revokes what the first one issued (§4.1.2). The
// tokens are minted before the code is spent (see mint).
func (t *tokenEndpoint) authorizationCode(ctx context.Context, form tokenForm) (tokenResponse, error) {
	code, err := form.get("code", true)
	if err != nil {
		return tokenResponse{}, err
	}
	redirectURI, err := form.get("redirect_uri", true)
	if err != nil {
		return tokenResponse{}, err
	}
	verifier, err := form.get("code_verifier", true)
	if err != nil {
		return tokenResponse{}, err
	}
	if !isPKCEString(verifier) {
		return tokenResponse{}, oauthErr(errInvalidRequest, descVerifier)
	}
	if !isPKCEString(code) {
		return tokenResponse{}, oauthErr(errInvalidGrant, descCodeInvalid)
	}
	rec, err := t.store.Lookup(ctx, codeRecordKey(code, pkceS256(verifier), redirectURI))
	if errors.Is(err, authz.ErrNoSession) {
		return tokenResponse{}, oauthErr(errInvalidGrant, descCodeInvalid)
	}
	if err != nil {
		return tokenResponse{}, unavailable(err)
	}
	now := t.cfg.Now()
	resp, m, err := t.mint(ctx, grant{
		identity: sessionOf(rec), family: rec.Family,
		accessScope: rec.Scope, refreshScope: rec.Scope,
		accessEnd: rec.ExpiresAt, refreshEnd: t.refreshEnd(now, rec.ExpiresAt),
	})
	if err != nil {
		return tokenResponse{}, err
	}
	live, err := t.store.Consume(ctx, codeLiveID(code))
	if err != nil || !live {
		t.discard(ctx, m)
		if err != nil {
			return tokenResponse{}, unavailable(err)
		}
		return tokenResponse{}, t.codeNotLive(ctx, code, rec)
	}
	// Remembered as used for as long as its record lives, so that a second
	// use is told from an expired code. Failing that only weakens the
	// detection: the code is spent, and the tokens are good.
	if ttl := rec.ExpiresAt.Sub(now); ttl > 0 {
		if err := t.store.Remember(ctx, codeUsedID(code), ttl); err != nil {
			t.cfg.Logger.Warn("token: remembering a used authorization code", "family", rec.Family, "err", err)
		}
	}
	t.issued(GrantAuthorizationCode, rec.Family, resp)
	return resp, nil
}

// codeNotLive explains a code that is not live: used before, which revokes
// its family, or expired.
func (t *tokenEndpoint) codeNotLive(ctx context.Context, code string, rec authz.Session) error {
	used, err := t.store.Consume(ctx, codeUsedID(code))
	if err != nil {
		return unavailable(err)
	}
	if !used {
		return oauthErr(errInvalidGrant, descCodeExpired)
	}
	n, err := t.store.RevokeFamily(ctx, rec.Family)
	if err != nil {
		return unavailable(err)
	}
	t.cfg.Logger.Warn("token: authorization code used twice; revoked its grant's tokens", "family", rec.Family, "revoked", n)
	t.cfg.event(Event{Kind: EventReuse, Grant: GrantAuthorizationCode})
	return oauthErr(errInvalidGrant, descCodeReused)
}

// refreshToken rotates a refresh token (RFC 6749 §6): each is good once,
// the answer carries its successor, and presenting one that was already
// used (stolen, or replayed) revokes its whole family. The requested scope
// may narrow the access token; the new refresh token keeps the old one's
// scope, and its end: rotation never extends a family.
func (t *tokenEndpoint) refreshToken(ctx context.Context, form tokenForm) (tokenResponse, error) {
	refresh, err := form.get("refresh_token", true)
	if err != nil {
		return tokenResponse{}, err
	}
	requested, err := scopeParam(form)
	if err != nil {
		return tokenResponse{}, err
	}
	if !strings.HasPrefix(refresh, RefreshTokenPrefix) {
		return tokenResponse{}, oauthErr(errInvalidGrant, "refresh_token is not a refresh token of this server (they start with "+RefreshTokenPrefix+")")
	}
	rec, err := t.store.Lookup(ctx, refreshRecordKey(refresh))
	if errors.Is(err, authz.ErrNoSession) {
		return tokenResponse{}, oauthErr(errInvalidGrant, descRefreshBad)
	}
	if err != nil {
		return tokenResponse{}, unavailable(err)
	}
	// The scope is checked before the token is used up, so a mistake in
	// it costs the client nothing.
	granted, err := narrowScope(rec.Scope, requested)
	if err != nil {
		return tokenResponse{}, err
	}
	now := t.cfg.Now()
	window, n := rec.RotationWindow, rec.Rotations+1
	if now.Sub(window) >= rotationWindow || now.Before(window) {
		window, n = now, 1
	}
	if n > t.cfg.MaxRotationsPerMinute {
		return tokenResponse{}, oauthErr(errSlowDown, descSlowDown)
	}
	recordRef := authz.TokenRef(refreshRecordKey(refresh))
	resp, m, err := t.mint(ctx, grant{
		identity: sessionOf(rec), family: rec.Family,
		accessScope: granted, refreshScope: rec.Scope,
		accessEnd: rec.ExpiresAt, refreshEnd: rec.ExpiresAt,
		replaces: []string{rec.Access, recordRef}, rotationWindow: window, rotations: n,
	})
	if err != nil {
		return tokenResponse{}, err
	}
	seen, err := t.store.SeenBefore(ctx, refreshUsedID(recordRef), rec.ExpiresAt)
	if err != nil {
		t.discard(ctx, m)
		return tokenResponse{}, unavailable(err)
	}
	if seen {
		// Revoking the family deletes what was just minted too.
		n, err := t.store.RevokeFamily(ctx, rec.Family)
		if err != nil {
			t.discard(ctx, m)
			return tokenResponse{}, unavailable(err)
		}
		t.cfg.Logger.Warn("token: refresh token reused; revoked its grant's tokens", "family", rec.Family, "revoked", n)
		t.cfg.event(Event{Kind: EventReuse, Grant: GrantRefreshToken})
		return tokenResponse{}, oauthErr(errInvalidGrant, descRefreshUsed)
	}
	t.retire(ctx, rec)
	t.issued(GrantRefreshToken, rec.Family, resp)
	return resp, nil
}

// rotationWindow is the period of Config.MaxRotationsPerMinute.
const rotationWindow = time.Minute

// retire deletes what a rotation replaced, so that a grant holds the same
// entries however often it rotates: the access token before the one
// issued with the refresh token just used (which, like that refresh
// token's record, lives on until the next rotation: the tombstone that
// detects its reuse, and an access token still good for a request in
// flight), and the record of the refresh token before (the previous
// tombstone) with its used marker. Best effort: what is left behind
// expires with the grant.
func (t *tokenEndpoint) retire(ctx context.Context, rec authz.Session) {
	if len(rec.Replaces) == 0 {
		return
	}
	if err := t.store.Discard(ctx, rec, rec.Replaces...); err != nil {
		t.cfg.Logger.Warn("token: retiring what a rotation replaced", "family", rec.Family, "err", err)
		return
	}
	for _, r := range rec.Replaces[min(1, len(rec.Replaces)):] {
		if err := t.store.Forget(ctx, refreshUsedID(r)); err != nil {
			t.cfg.Logger.Warn("token: forgetting a retired refresh token", "family", rec.Family, "err", err)
		}
	}
}

// samlBearer exchanges a signed bare SAML assertion (RFC 7522): signed
// itself by a trusted IdP, its Audience this SP or the token endpoint, its
// bearer Recipient the token endpoint, live, and never seen before. The
// tokens last no longer than the assertion's SessionNotOnOrAfter and
// Config.SessionLifetime, like a browser session from the same assertion.
func (t *tokenEndpoint) samlBearer(ctx context.Context, form tokenForm) (tokenResponse, error) {
	assertion, err := form.get("assertion", true)
	if err != nil {
		return tokenResponse{}, err
	}
	// The scope is checked before verification, which uses the assertion
	// up.
	scope, err := scopeParam(form)
	if err != nil {
		return tokenResponse{}, err
	}
	id, err := t.cfg.Verifier.VerifyAssertion(ctx, assertion, samlverify.AssertionOptions{TokenURL: t.tokenURL})
	if err != nil {
		return tokenResponse{}, err
	}
	now := t.cfg.Now()
	end := now.Add(t.cfg.SessionLifetime)
	if s := id.SessionNotOnOrAfter; !s.IsZero() && s.Before(end) {
		end = s
	}
	resp, _, err := t.mint(ctx, grant{
		identity: authz.Session{
			Subject: id.NameID, Email: id.Email, Name: id.DisplayName, Groups: id.Groups, IdP: id.IdP, CreatedAt: now,
		},
		accessScope: scope, refreshScope: scope,
		accessEnd: end, refreshEnd: t.refreshEnd(now, end),
	})
	if err != nil {
		return tokenResponse{}, err
	}
	t.issued(GrantSAML2Bearer, authz.SessionHandle(refreshRecordKey(resp.RefreshToken)), resp)
	return resp, nil
}

// scopeParam parses the optional scope parameter.
func scopeParam(form tokenForm) ([]string, error) {
	s, err := form.get("scope", false)
	if err != nil {
		return nil, err
	}
	return parseScope(s)
}

// isPKCEString reports whether s is 43 to 128 characters of RFC 7636's
// unreserved set: a code_verifier, and the shape of our codes.
func isPKCEString(s string) bool {
	if len(s) < 43 || len(s) > 128 {
		return false
	}
	for i := range len(s) {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '-', c == '.', c == '_', c == '~':
		default:
			return false
		}
	}
	return true
}
