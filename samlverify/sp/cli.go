package sp

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/tfgate/tfgate/authz"
)

// Command-line sign-in: the authorization endpoint of RFC 6749 §4.1 for a
// native app with a loopback redirect (RFC 8252 §7.3) and PKCE (RFC 7636).
// `extauthz login` listens on a loopback port and opens
//
//	GET /saml/cli/authorize?redirect_uri=R&state=S&code_challenge=C&code_challenge_method=S256[&scope=...]
//
// in the browser. A browser with a session gets a confirmation page naming
// the user, the scope and R; its Allow button posts the parameters back to
// POST /saml/cli/authorize with a form token bound to the session and to
// them, which answers with a 302 to R?code=CODE&state=S (Cancel: to
// R?error=access_denied&state=S). A GET never issues a code, so a local
// program that opens the browser at its own R gets nothing without the
// user's click. A browser without a session is sent through /saml/login
// and comes back here, to the same page.
// The code is good once, for 60 seconds, and only with C's verifier and
// this R, at the token endpoint. R must be http on 127.0.0.1 or [::1]
// with a port (not localhost: RFC 8252 §8.3, a name may resolve elsewhere
// or to another listener); an R that is not, or a missing state, gets an
// error page and never a redirect. Other mistakes go back to R as
// ?error=...&error_description=...&state=S (§4.1.2.1). response_type, if
// sent, must be "code"; client_id is accepted and ignored (the client is
// public, and the loopback redirect and PKCE are what bind the code).

// Limits of the authorize parameters, so that the whole request still
// fits in a return_to.
const (
	maxRedirectURI = 512
	maxState       = 512
)

// signInMarker is added to the authorize URL the browser returns to after
// signing in: arriving with it and still no session means the session
// cookie was not kept, and another round trip to the IdP would loop.
const signInMarker = "tfgate_signin"

// cliParams are the authorize parameters, each allowed at most once.
var cliParams = []string{
	"redirect_uri", "state", "code_challenge", "code_challenge_method", "scope", "response_type", "client_id", signInMarker,
}

// cliRequest is a parsed authorize request.
type cliRequest struct {
	q           url.Values
	redirectURI string
	state       string
	scope       []string
}

// maxConsentForm caps the confirmation form's body.
const maxConsentForm = 8 << 10

// handleCLIAuthorize asks a signed-in browser's user to confirm a
// command-line sign-in (see handleCLIConsent), and sends one without a
// session to sign in first.
func (h *Handler) handleCLIAuthorize(w http.ResponseWriter, r *http.Request) {
	if h.tokens == nil {
		h.fail(w, r, errTokensOff)
		return
	}
	req, err := parseCLIRequest(r.URL.RawQuery)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if oe := req.check(); oe != nil {
		h.cliError(w, req, oe)
		return
	}
	token, s, err := h.browserSession(r)
	switch {
	case errors.Is(err, authz.ErrNoSession) && req.q.Has(signInMarker):
		h.fail(w, r, errSessionNotKept)
		return
	case errors.Is(err, authz.ErrNoSession):
		h.signInFirst(w, r, req)
		return
	case err != nil:
		h.fail(w, r, err)
		return
	}
	scope, err := narrowScope(s.Scope, req.scope)
	if err != nil {
		var oe *oauthError
		errors.As(err, &oe)
		h.cliError(w, req, oe)
		return
	}
	h.render(w, http.StatusOK, "cliconsent", page{
		Title: "Allow command-line sign-in?", Message: consentMessage(s, scope, req.redirectURI),
		CSRF: consentToken(token, req.q), Fields: consentFields(req.q),
	})
}

// handleCLIConsent answers the confirmation page's form: Allow issues the
// code, Cancel sends access_denied back. The form must come from this
// site's page: a browser's cross-site or same-site mark, or a foreign
// Origin, is refused, and so is a form token that is not the one the page
// showed this session for these very parameters.
func (h *Handler) handleCLIConsent(w http.ResponseWriter, r *http.Request) {
	if h.tokens == nil {
		h.fail(w, r, errTokensOff)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxConsentForm)
	if err := r.ParseForm(); err != nil {
		h.fail(w, r, fmt.Errorf("%w: %v", errBadForm, err))
		return
	}
	form := url.Values{}
	for _, p := range cliParams {
		if vs, ok := r.PostForm[p]; ok && p != signInMarker {
			form[p] = vs
		}
	}
	req, err := parseCLIRequest(form.Encode())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if h.crossSite(r) {
		h.fail(w, r, errCLICSRF)
		return
	}
	token, s, err := h.browserSession(r)
	switch {
	case errors.Is(err, authz.ErrNoSession):
		h.signInFirst(w, r, req)
		return
	case err != nil:
		h.fail(w, r, err)
		return
	}
	got := r.PostForm.Get("csrf")
	if len(r.PostForm["csrf"]) != 1 || subtle.ConstantTimeCompare([]byte(got), []byte(consentToken(token, req.q))) != 1 {
		h.fail(w, r, errCLICSRF)
		return
	}
	if oe := req.check(); oe != nil {
		h.cliError(w, req, oe)
		return
	}
	switch r.PostForm.Get("decision") {
	case "allow":
	case "cancel":
		h.cfg.Logger.Info("saml: command-line sign-in cancelled", "session", authz.SessionHandle(token))
		redirect(w, withQuery(req.redirectURI, url.Values{"error": {"access_denied"}, "state": {req.state}}), http.StatusFound)
		return
	default:
		h.fail(w, r, fmt.Errorf("%w: no decision", errBadCLIRequest))
		return
	}
	scope, err := narrowScope(s.Scope, req.scope)
	if err != nil {
		var oe *oauthError
		errors.As(err, &oe)
		h.cliError(w, req, oe)
		return
	}
	code, err := h.tokens.issueCode(r.Context(), token, s, scope, req.q.Get("code_challenge"), req.redirectURI)
	switch {
	case errors.Is(err, authz.ErrNoSession): // signed out meanwhile
		h.signInFirst(w, r, req)
		return
	case err != nil:
		h.cfg.Logger.Error("saml: issuing an authorization code", "session", authz.SessionHandle(token), "err", err)
		h.cliError(w, req, &oauthError{code: errUnavailableCode, desc: "sign-in is temporarily unavailable; try again shortly"})
		return
	}
	h.cfg.Logger.Info("saml: authorization code issued", "session", authz.SessionHandle(token), "scoped", len(scope) > 0)
	redirect(w, withQuery(req.redirectURI, url.Values{"code": {code}, "state": {req.state}}), http.StatusFound)
}

// parseCLIRequest reads the parameters that decide whether the client can
// be answered at all: a loopback redirect_uri and a state. Failing them,
// or repeating any parameter, is an error page.
func parseCLIRequest(raw string) (cliRequest, error) {
	q, err := url.ParseQuery(raw)
	if err != nil {
		return cliRequest{}, fmt.Errorf("%w: unreadable query", errBadCLIRequest)
	}
	for _, p := range cliParams {
		if len(q[p]) > 1 {
			return cliRequest{}, fmt.Errorf("%w: a parameter appears more than once", errBadCLIRequest)
		}
	}
	req := cliRequest{q: q, redirectURI: q.Get("redirect_uri"), state: q.Get("state")}
	if !isLoopbackRedirect(req.redirectURI) {
		return cliRequest{}, errBadRedirectURI
	}
	if !isState(req.state) {
		return cliRequest{}, fmt.Errorf("%w: state is missing or malformed", errBadCLIRequest)
	}
	return req, nil
}

// check validates the parameters whose errors go back to the client.
func (req *cliRequest) check() *oauthError {
	if rt := req.q.Get("response_type"); req.q.Has("response_type") && rt != "code" {
		return oauthErr("unsupported_response_type", "response_type must be code")
	}
	if req.q.Get("code_challenge_method") != "S256" {
		return oauthErr(errInvalidRequest, "code_challenge_method must be S256 (plain is not accepted)")
	}
	if c := req.q.Get("code_challenge"); len(c) < 43 || len(c) > 128 || !isBase64URL(c) {
		return oauthErr(errInvalidRequest, "code_challenge must be 43 to 128 base64url characters (the S256 of a code_verifier)")
	}
	scope, err := parseScope(req.q.Get("scope"))
	if err != nil {
		var oe *oauthError
		errors.As(err, &oe)
		return oe
	}
	req.scope = scope
	return nil
}

// browserSession returns the session of the browser's cookie, an error
// wrapping authz.ErrNoSession when there is none, or another error to
// show: errTokenSession when the cookie holds a token of the token
// endpoint rather than a browser session.
func (h *Handler) browserSession(r *http.Request) (string, authz.Session, error) {
	cred, err := authz.ExtractCredential(r.Header, h.cfg.CookieName)
	if err != nil {
		return "", authz.Session{}, fmt.Errorf("%w: %v", errBadForm, err)
	}
	if cred.Kind != authz.AuthCookie {
		return "", authz.Session{}, authz.ErrNoSession
	}
	s, err := h.cfg.Sessions.Lookup(r.Context(), cred.Token)
	switch {
	case errors.Is(err, authz.ErrNoSession):
		return "", authz.Session{}, err
	case err != nil:
		return "", authz.Session{}, fmt.Errorf("%w: looking up the session: %w", errUnavailable, err)
	case !h.cfg.Now().Before(s.ExpiresAt):
		return "", authz.Session{}, authz.ErrNoSession
	case s.Family != "":
		// A token from the token endpoint put in the cookie: minting a
		// grant from it would put the grant under the token's root, where
		// the victim's sign-out would not reach it on its own terms.
		return "", authz.Session{}, errTokenSession
	}
	return cred.Token, s, nil
}

// signInFirst sends the browser to sign in, and back here afterwards.
func (h *Handler) signInFirst(w http.ResponseWriter, r *http.Request, req cliRequest) {
	back := url.Values{}
	for _, p := range cliParams {
		if req.q.Has(p) {
			back.Set(p, req.q.Get(p))
		}
	}
	back.Set(signInMarker, "1")
	ret := CLIAuthorizePath + "?" + back.Encode()
	if _, ok := h.returnTo.check(ret); !ok {
		h.fail(w, r, fmt.Errorf("%w: too long to return to after sign-in", errBadCLIRequest))
		return
	}
	redirect(w, LoginPath+"?"+url.Values{"return_to": {ret}}.Encode(), http.StatusFound)
}

// consentMessage is the confirmation page's question.
func consentMessage(s authz.Session, scope []string, redirectURI string) string {
	user := s.Subject
	switch {
	case s.Email != "":
		user = s.Email
	case s.Name != "":
		user = s.Name
	}
	what := "everything your groups allow"
	if len(scope) > 0 {
		what = strings.Join(scope, " ")
	}
	to := redirectURI
	if u, err := url.Parse(redirectURI); err == nil {
		to = u.Scheme + "://" + u.Host
	}
	return fmt.Sprintf("Sign in extauthz on this computer as %s? It will get a token for %s, sent to %s.", user, what, to)
}

// consentFields are the authorize parameters the confirmation form posts
// back, in a fixed order.
func consentFields(q url.Values) []formField {
	var fs []formField
	for _, p := range cliParams {
		if p != signInMarker && q.Has(p) {
			fs = append(fs, formField{Name: p, Value: q.Get(p)})
		}
	}
	return fs
}

// consentToken is the confirmation form's token: an HMAC-SHA256, keyed by
// the session token, of the authorize parameters the form carries. Only a
// page that saw the session cookie's value can know it, it is good for
// these parameters only, and it reveals nothing about the token.
func consentToken(token string, q url.Values) string {
	m := hmac.New(sha256.New, []byte(token))
	m.Write([]byte("tfgate cli consent\x00"))
	for _, f := range consentFields(q) {
		m.Write([]byte(url.QueryEscape(f.Name) + "=" + url.QueryEscape(f.Value) + "&"))
	}
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:18])
}

// cliError sends an error back to the client's redirect_uri.
func (h *Handler) cliError(w http.ResponseWriter, req cliRequest, oe *oauthError) {
	h.cfg.Logger.Info("saml: command-line sign-in refused", "error", oe.code)
	redirect(w, withQuery(req.redirectURI, url.Values{
		"error": {oe.code}, "error_description": {oe.desc}, "state": {req.state},
	}), http.StatusFound)
}

// withQuery appends params to uri, keeping uri's own query as it is.
func withQuery(uri string, params url.Values) string {
	sep := "?"
	if strings.Contains(uri, "?") {
		sep = "&"
	}
	return uri + sep + params.Encode()
}

// isLoopbackRedirect reports whether s is a loopback redirect URI (RFC 8252
// §7.3): http, host 127.0.0.1 or [::1], an explicit port (any:
// the client picks a free one), no user info or fragment, and no query
// parameter the answer would add.
func isLoopbackRedirect(s string) bool {
	if s == "" || len(s) > maxRedirectURI || hasControl(s) || strings.ContainsAny(s, "\\#") {
		return false
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "http" || u.User != nil || u.Opaque != "" || !strings.HasPrefix(s, "http://") {
		return false
	}
	switch host := u.Hostname(); {
	case host == "127.0.0.1":
	case host == "::1" && strings.HasPrefix(u.Host, "[::1]:"):
	default:
		return false
	}
	if port, err := strconv.Atoi(u.Port()); err != nil || port < 1 || port > 65535 || u.Port()[0] == '0' {
		return false
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return false
	}
	for _, k := range []string{"code", "state", "error", "error_description", "error_uri"} {
		if q.Has(k) {
			return false
		}
	}
	return true
}

// isState reports whether s is a usable state: 1 to maxState visible ASCII
// characters or spaces (RFC 6749 Appendix A.5).
func isState(s string) bool {
	if s == "" || len(s) > maxState {
		return false
	}
	for i := range len(s) {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// isBase64URL reports whether s uses only the unpadded base64url alphabet.
func isBase64URL(s string) bool {
	for i := range len(s) {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '_':
		default:
			return false
		}
	}
	return true
}
