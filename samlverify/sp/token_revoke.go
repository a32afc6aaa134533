package sp

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/tfgate/tfgate/authz"
)

// handleRevoke is RFC 7009 token revocation: an access token is deleted;
// a refresh token revokes its whole family, every access and refresh
// token of its sign-in. The answer is 200 whether or not the token was
// known (§2.2), and 503 only when the store does not answer. A token
// nothing knows writes nothing.
func (t *tokenEndpoint) handleRevoke(w http.ResponseWriter, r *http.Request) {
	form, err := readTokenForm(w, r, maxRevokeForm)
	token := ""
	if err == nil {
		token, err = form.get("token", true)
	}
	if err == nil {
		// The hint only saves a lookup elsewhere; the prefix says which
		// kind a token is. Repeated, it is malformed all the same.
		_, err = form.get("token_type_hint", false)
	}
	if err == nil {
		err = t.revoke(r.Context(), token)
	}
	if err != nil {
		t.fail(w, r, "", err)
		return
	}
	t.cfg.event(Event{Kind: EventRevoke, Outcome: "success"})
	w.WriteHeader(http.StatusOK)
}

// revoke revokes token if it is a live access or refresh token.
func (t *tokenEndpoint) revoke(ctx context.Context, token string) error {
	key := token
	switch {
	case strings.HasPrefix(token, RefreshTokenPrefix):
		key = refreshRecordKey(token)
	case !strings.HasPrefix(token, authz.TokenPrefix):
		return nil
	}
	s, err := t.store.Lookup(ctx, key)
	if errors.Is(err, authz.ErrNoSession) {
		return nil
	}
	if err != nil {
		return unavailable(err)
	}
	if key == token {
		if err := t.store.Delete(ctx, token); err != nil {
			return unavailable(err)
		}
		t.cfg.Logger.Info("token: revoked", "session", authz.SessionHandle(token))
		return nil
	}
	if s.Family == "" {
		return nil // not a record this endpoint wrote
	}
	n, err := t.store.RevokeFamily(ctx, s.Family)
	if err != nil {
		return unavailable(err)
	}
	t.cfg.Logger.Info("token: revoked a refresh token and its grant's tokens", "family", s.Family, "revoked", n)
	return nil
}
