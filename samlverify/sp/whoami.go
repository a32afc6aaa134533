package sp

import (
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/tfgate/tfgate/authz"
)

// whoami is the JSON GET /saml/whoami answers.
type whoami struct {
	Subject   string    `json:"subject"`
	Email     string    `json:"email"`
	Name      string    `json:"name"`
	Groups    []string  `json:"groups"`
	Scope     []string  `json:"scope,omitempty"`
	IdP       string    `json:"idp"`
	Auth      string    `json:"auth"`
	ExpiresAt time.Time `json:"expires_at"`
	Session   string    `json:"session"`
}

// handleWhoami describes the caller's session: the cookie's or the bearer
// token's. It answers 401 when there is none, 400 for an ambiguous or
// malformed credential and 503 when the store cannot answer.
func (h *Handler) handleWhoami(w http.ResponseWriter, r *http.Request) {
	cred, err := authz.ExtractCredential(r.Header, h.cfg.CookieName)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "ambiguous or malformed credential"})
		return
	}
	if cred.Kind == "" {
		h.unauthorized(w, "")
		return
	}
	s, err := h.cfg.Sessions.Lookup(r.Context(), cred.Token)
	switch {
	case errors.Is(err, authz.ErrNoSession):
		h.unauthorized(w, cred.Kind)
		return
	case err != nil:
		h.cfg.Logger.Error("saml: whoami: looking up the session", "session", authz.SessionHandle(cred.Token), "err", err)
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "session store unavailable"})
		return
	case !h.cfg.Now().Before(s.ExpiresAt):
		// A store should not return an expired session; do not rely on it.
		h.unauthorized(w, cred.Kind)
		return
	}
	groups := s.Groups
	if groups == nil {
		groups = []string{}
	}
	writeJSON(w, http.StatusOK, whoami{
		Subject: s.Subject, Email: s.Email, Name: s.Name, Groups: groups, Scope: s.Scope, IdP: s.IdP,
		Auth: cred.Kind, ExpiresAt: s.ExpiresAt.UTC(), Session: authz.SessionHandle(cred.Token),
	})
}

// unauthorized answers 401 the way the Check path does for programs: a
// bearer token that names no live session (stale is its kind) is RFC 6750
// invalid_token, which `extauthz token` relies on to know a token is dead.
func (h *Handler) unauthorized(w http.ResponseWriter, stale string) {
	switch stale {
	case authz.AuthBearer:
		w.Header().Set("WWW-Authenticate", `Bearer realm="tfgate", error="invalid_token", error_description="the access token expired or was revoked"`)
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "the access token expired or was revoked: run `extauthz login`"})
	case authz.AuthCookie:
		w.Header().Set("WWW-Authenticate", `Bearer realm="tfgate"`)
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "the session expired or was revoked: sign in again"})
	default:
		w.Header().Set("WWW-Authenticate", `Bearer realm="tfgate"`)
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "not signed in"})
	}
}

// writeJSON writes v as the JSON body with status code.
func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
