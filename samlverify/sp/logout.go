package sp

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/tfgate/tfgate/authz"
	"github.com/tfgate/tfgate/samlverify"
)

// maxLogoutForm caps the logout form body: room for an IdP's signed
// LogoutRequest in the HTTP-POST binding (a few KiB, more with a
// certificate chain) after form encoding.
const maxLogoutForm = 64 << 10

// Texts of the logout pages.
const (
	msgConfirmLogout = "Sign out of tfgate? Tokens that programs got through this sign-in (extauthz login) stop working too."
	msgSignedOut     = "You are signed out of tfgate. To use it as someone else, sign in again: your identity provider may still remember you and sign you straight back in, so to switch users sign out there too, or use a private window."
)

// handleLogoutPage shows the sign-out confirmation when the browser has a
// session cookie, and the signed-out page otherwise, which is also where
// the IdP's LogoutResponse (or its redirect back) lands. A GET never
// changes anything, so a cross-site link to it cannot sign anyone out.
func (h *Handler) handleLogoutPage(w http.ResponseWriter, r *http.Request) {
	if r.URL.Query().Has("SAMLRequest") {
		h.handleIdPLogout(w, r, samlverify.BindingRedirect)
		return
	}
	c, err := r.Cookie(h.cfg.CookieName)
	if err != nil || c.Value == "" || r.URL.Query().Has("SAMLResponse") {
		h.render(w, http.StatusOK, "signedout", signedOutPage())
		return
	}
	h.render(w, http.StatusOK, "logout", page{Title: "Sign out", Message: msgConfirmLogout, CSRF: csrfToken(c.Value),
		Links: []link{{Text: "Back to your account page", URL: HomePath}}})
}

// signedOutPage is the signed-out page.
func signedOutPage() page {
	return page{Title: "Signed out", Message: msgSignedOut, Links: []link{
		{Text: "Sign in", URL: LoginPath + "?return_to=" + url.QueryEscape(HomePath), Primary: true},
		{Text: "Your account page", URL: HomePath},
	}}
}

// handleLogout ends the caller's session, or, when the form carries a
// SAMLRequest, answers the IdP's LogoutRequest (slo.go). A bearer token (which browsers
// never attach by themselves) is simply revoked. A cookie session ends only
// on a same-origin request (see sameOrigin), then the browser goes to the
// IdP's single logout endpoint when its metadata has one.
func (h *Handler) handleLogout(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxLogoutForm)
	if err := r.ParseForm(); err != nil {
		h.fail(w, r, fmt.Errorf("%w: %v", errBadForm, err))
		return
	}
	if r.PostForm.Has("SAMLRequest") {
		h.handleIdPLogout(w, r, samlverify.BindingPOST)
		return
	}
	if r.PostForm.Has("SAMLResponse") {
		// The IdP's answer to our LogoutRequest, posted back.
		h.render(w, http.StatusOK, "signedout", signedOutPage())
		return
	}
	cred, err := authz.ExtractCredential(r.Header, h.cfg.CookieName)
	if err != nil {
		h.fail(w, r, fmt.Errorf("%w: %v", errBadForm, err))
		return
	}
	switch cred.Kind {
	case "":
		redirect(w, LogoutPath, http.StatusSeeOther)
	case authz.AuthBearer:
		h.logoutBearer(w, r, cred.Token)
	default:
		h.logoutCookie(w, r, cred.Token)
	}
}

// logoutBearer revokes a bearer token and answers JSON.
func (h *Handler) logoutBearer(w http.ResponseWriter, r *http.Request, token string) {
	if err := h.cfg.Sessions.Delete(r.Context(), token); err != nil {
		h.cfg.Logger.Error("saml: revoking a bearer token", "session", authz.SessionHandle(token), "err", err)
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "session store unavailable"})
		return
	}
	h.cfg.Logger.Info("saml: signed out", "auth", authz.AuthBearer, "session", authz.SessionHandle(token))
	writeJSON(w, http.StatusOK, map[string]string{"status": "signed out"})
}

// logoutCookie ends a cookie session and sends the browser on.
func (h *Handler) logoutCookie(w http.ResponseWriter, r *http.Request, token string) {
	if !h.sameOrigin(r, token) {
		h.fail(w, r, errCSRF)
		return
	}
	s, err := h.cfg.Sessions.Lookup(r.Context(), token)
	if err != nil && !errors.Is(err, authz.ErrNoSession) {
		h.fail(w, r, fmt.Errorf("%w: looking up the session: %w", errUnavailable, err))
		return
	}
	if err := h.cfg.Sessions.Delete(r.Context(), token); err != nil {
		h.fail(w, r, fmt.Errorf("%w: deleting the session: %w", errUnavailable, err))
		return
	}
	h.clearSession(w)
	for _, p := range h.pendingBindings(r) {
		h.clearBinding(w, p.name)
	}
	h.cfg.Logger.Info("saml: signed out", "auth", authz.AuthCookie, "session", authz.SessionHandle(token), "idp", s.IdP)
	dest, err := h.singleLogoutURL(s)
	if err != nil {
		h.cfg.Logger.Error("saml: building the LogoutRequest; signed out of tfgate only", "idp", s.IdP, "err", err)
	}
	if err != nil || dest == "" {
		dest = LogoutPath
	}
	redirect(w, dest, http.StatusSeeOther)
}

// singleLogoutURL returns the redirect to the session's IdP's
// SingleLogoutService with a LogoutRequest (signed when the SP has a key),
// or "" when the IdP has none or the session is gone. RelayState brings the
// browser back to the signed-out page with IdPs that redirect back to it.
func (h *Handler) singleLogoutURL(s authz.Session) (string, error) {
	if s.IdP == "" || s.Subject == "" {
		return "", nil
	}
	idp, ok := h.cfg.IdPs.LookupIdP(s.IdP)
	if !ok || idp.SLORedirectURL == "" {
		return "", nil
	}
	id, err := h.newID()
	if err != nil {
		return "", err
	}
	req := logoutRequest{
		ID: id, Destination: idp.SLORedirectURL, Issuer: h.cfg.EntityID, IssueInstant: h.cfg.Now(),
		NameID: s.Subject, NameIDFormat: s.NameIDFormat, Index: s.SessionIndex,
	}
	relay := h.cfg.BaseURL + LogoutPath
	if len(relay) > maxRelayState {
		relay = ""
	}
	return redirectURL(idp.SLORedirectURL, "SAMLRequest", req.element(), relay, h.cfg.Key)
}

// sameOrigin reports whether a cookie-authenticated POST comes from this
// site's own page. A request a browser marks as cross-site or same-site
// (a sibling host), or whose Origin is another origin, is refused even
// with the form token. Otherwise it needs one proof: Sec-Fetch-Site
// same-origin or none (typed or bookmarked), an Origin equal to BaseURL's,
// or the confirmation form's token, which only a page that could read the
// cookie's value can know.
func (h *Handler) sameOrigin(r *http.Request, token string) bool {
	if h.crossSite(r) {
		return false
	}
	if site := r.Header.Get("Sec-Fetch-Site"); site == "same-origin" || site == "none" || r.Header.Get("Origin") == h.origin {
		return true
	}
	got := r.PostForm.Get("csrf")
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(csrfToken(token))) == 1
}

// csrfToken derives the logout form's token from the session token. It is
// one-way and domain-separated, so it reveals nothing about the token.
func csrfToken(token string) string {
	sum := sha256.Sum256([]byte("tfgate logout form\x00" + token))
	return base64.RawURLEncoding.EncodeToString(sum[:18])
}
