package sp

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"time"

	"github.com/tfgate/tfgate/authz"
	"github.com/tfgate/tfgate/samlverify"
)

// The token endpoint (RFC 6749 §3.2) gives programs short-lived bearer
// tokens, and its revocation endpoint (RFC 7009) takes them back:
//
//	POST /token          grant_type=authorization_code  (a code from /saml/cli/authorize, PKCE S256)
//	                     grant_type=refresh_token       (rotated on every use)
//	                     grant_type=urn:ietf:params:oauth:grant-type:saml2-bearer (RFC 7522)
//	                     grant_type=urn:ietf:params:oauth:grant-type:token-exchange (RFC 8693; token_exchange.go)
//	POST /token/revoke   token=... [token_type_hint=...]
//
// Requests are application/x-www-form-urlencoded bodies; answers are JSON
// with Cache-Control: no-store. Errors are RFC 6749 §5.2 objects, HTTP 400
// ({"error": "invalid_grant", "error_description": "..."}), or 503
// temporarily_unavailable when the session store does not answer. No
// description ever quotes the request.
//
// Every token is a session in the session store, named by its SHA-256
// like a browser session: an access token ("tfg_", authz.NewToken) is
// looked up by the Check path exactly as a cookie is. A refresh token
// ("tfr_") and an authorization code are stored as records under keys
// derived from them (and, for a code, from its PKCE challenge and
// redirect_uri), so that neither names a session the Check path would
// accept, and a code is only found with the right code_verifier and
// redirect_uri. Every token and record carries a Family (see
// authz.Session.Family): "ROOT/GRANT" for what one code and its refresh
// chain issue from the browser session ROOT, or ROOT alone for an
// assertion exchange. A reused refresh token or code revokes its grant,
// revoking a refresh token revokes its grant, and signing out of the
// browser session revokes ROOT, every grant, through Sessions.Delete.

// TokenStore is what the token endpoint needs of the session store.
// authz/session's Memory and Redis stores implement it.
type TokenStore interface {
	Sessions
	// Remember records a one-time id for ttl; Consume reports whether it
	// was remembered and forgets it (of concurrent calls, one wins).
	Remember(ctx context.Context, id string, ttl time.Duration) error
	Consume(ctx context.Context, id string) (bool, error)
	// SeenBefore records id until until and reports whether it was
	// already recorded (of concurrent calls, one sees false).
	SeenBefore(ctx context.Context, id string, until time.Time) (bool, error)
	// RevokeFamily deletes every session whose Family is family or
	// extends it ("family/..."), and makes Create refuse new ones in it
	// with an error wrapping authz.ErrNoSession.
	RevokeFamily(ctx context.Context, family string) (int, error)
	// Discard deletes the sessions named by refs (authz.TokenRef), members
	// of s's family with s's subject and groups, revoking no family.
	Discard(ctx context.Context, s authz.Session, refs ...string) error
	// Forget removes an id SeenBefore recorded.
	Forget(ctx context.Context, id string) error
}

// Grant types of the token endpoint.
const (
	GrantAuthorizationCode = "authorization_code"
	GrantRefreshToken      = "refresh_token"
	GrantSAML2Bearer       = "urn:ietf:params:oauth:grant-type:saml2-bearer"
)

// RefreshTokenPrefix starts every refresh token, so that scanners (and
// people) tell it from an access token (authz.TokenPrefix).
const RefreshTokenPrefix = "tfr_"

// RFC 6749 §5.2 error codes, and the two this endpoint adds for a server
// that cannot answer (borrowed from §4.1.2.1).
const (
	errInvalidRequest       = "invalid_request"
	errInvalidGrant         = "invalid_grant"
	errInvalidScope         = "invalid_scope"
	errUnsupportedGrantType = "unsupported_grant_type"
	errUnavailableCode      = "temporarily_unavailable"
	errSlowDown             = "slow_down"
	errServerError          = "server_error"
)

// maxRevokeForm caps a revocation request body.
const maxRevokeForm = 8 << 10

// oauthError is a refusal as the client sees it: an RFC 6749 error code
// and a description that is static or built from configuration, never from
// the request. cause, if any, is for the log.
type oauthError struct {
	code, desc string
	cause      error
}

func (e *oauthError) Error() string { return "sp: token endpoint: " + e.code + ": " + e.desc }

func (e *oauthError) Unwrap() error { return e.cause }

func oauthErr(code, desc string) *oauthError { return &oauthError{code: code, desc: desc} }

// unavailable is the error of a store that did not answer.
func unavailable(err error) error {
	return &oauthError{code: errUnavailableCode, desc: "the session store is unavailable; try again shortly", cause: err}
}

// tokenResponse is RFC 6749 §5.1's answer. Scope is left out when the token
// is not narrowed beyond what the user's groups grant.
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	RefreshToken string `json:"refresh_token"`
	Scope        string `json:"scope,omitempty"`
}

// tokenEndpoint serves TokenPath and RevokePath.
type tokenEndpoint struct {
	cfg      Config
	store    TokenStore
	tokenURL string
}

// TokenHandler returns the handler of the token endpoint and its
// revocation endpoint; mount it at TokenPath and RevokePath, next to the
// Handler at "/saml/". Without Config.Tokens it refuses every grant.
func (h *Handler) TokenHandler() http.Handler {
	if h.tokens == nil {
		return UnconfiguredToken("tokens are not enabled on this server")
	}
	return h.tokens
}

// UnconfiguredToken returns the token endpoint of a server that issues no
// tokens (no IdP is configured): every grant is refused with
// unsupported_grant_type and why, and a revocation succeeds, as there is
// nothing to revoke.
func UnconfiguredToken(why string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tokenHeaders(w)
		if r.URL.Path == RevokePath && r.Method == http.MethodPost {
			w.WriteHeader(http.StatusOK)
			return
		}
		writeOAuthError(w, http.StatusBadRequest, oauthErr(errUnsupportedGrantType, why))
	})
}

// tokenHeaders are the headers of every answer: tokens must not be
// cached (RFC 6749 §5.1) or sniffed.
func tokenHeaders(w http.ResponseWriter) {
	hd := w.Header()
	hd.Set("Cache-Control", "no-store")
	hd.Set("Pragma", "no-cache")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
}

// ServeHTTP serves POST TokenPath and POST RevokePath.
func (t *tokenEndpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	tokenHeaders(w)
	r, cancel := withRequestTimeout(r)
	defer cancel()
	switch {
	case r.URL.Path != TokenPath && r.URL.Path != RevokePath:
		writeOAuthError(w, http.StatusNotFound, oauthErr(errInvalidRequest, "no such endpoint"))
	case r.Method != http.MethodPost:
		w.Header().Set("Allow", http.MethodPost)
		writeOAuthError(w, http.StatusMethodNotAllowed, oauthErr(errInvalidRequest, "use POST"))
	case r.URL.Path == RevokePath:
		t.handleRevoke(w, r)
	default:
		t.handleToken(w, r)
	}
}

// handleToken runs one grant.
func (t *tokenEndpoint) handleToken(w http.ResponseWriter, r *http.Request) {
	form, err := readTokenForm(w, r, t.cfg.MaxFormBytes)
	grant := ""
	if err == nil {
		grant, err = form.get("grant_type", true)
	}
	if err == nil && grant == GrantTokenExchange {
		// RFC 8693 answers with its own shape.
		resp, err := t.tokenExchange(r.Context(), form)
		if err != nil {
			t.fail(w, r, grantName(grant), err)
			return
		}
		writeJSON(w, http.StatusOK, resp)
		return
	}
	var resp tokenResponse
	if err == nil {
		switch grant {
		case GrantAuthorizationCode:
			resp, err = t.authorizationCode(r.Context(), form)
		case GrantRefreshToken:
			resp, err = t.refreshToken(r.Context(), form)
		case GrantSAML2Bearer:
			resp, err = t.samlBearer(r.Context(), form)
		default:
			err = oauthErr(errUnsupportedGrantType, "grant_type must be "+GrantAuthorizationCode+", "+
				GrantRefreshToken+", "+GrantSAML2Bearer+" or "+GrantTokenExchange)
		}
	}
	if err != nil {
		t.fail(w, r, grantName(grant), err)
		return
	}
	t.cfg.event(Event{Kind: EventToken, Grant: grantName(grant), Outcome: "success"})
	writeJSON(w, http.StatusOK, resp)
}

// grantName is a grant type fit for the log: a known one, or "other".
func grantName(g string) string {
	switch g {
	case GrantAuthorizationCode, GrantRefreshToken, GrantSAML2Bearer, GrantTokenExchange, "":
		return g
	}
	return "other"
}

// tokenForm is a request's parameters.
type tokenForm url.Values

// readTokenForm reads a size-capped application/x-www-form-urlencoded
// body. Parameters in the URL are refused: URLs end up in access logs.
func readTokenForm(w http.ResponseWriter, r *http.Request, limit int64) (tokenForm, error) {
	if r.URL.RawQuery != "" {
		return nil, oauthErr(errInvalidRequest, "send the parameters in the request body, not in the URL")
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return nil, oauthErr(errInvalidRequest, "the request body must be application/x-www-form-urlencoded")
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, oauthErr(errInvalidRequest, "the request body is too large")
		}
		return nil, &oauthError{code: errInvalidRequest, desc: "the request body could not be read", cause: err}
	}
	vals, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, oauthErr(errInvalidRequest, "the request body is not a valid form")
	}
	return tokenForm(vals), nil
}

// get returns parameter name: at most once (RFC 6749 §3.2), and when
// required, not empty. An empty value counts as absent.
func (f tokenForm) get(name string, required bool) (string, error) {
	vs := f[name]
	switch {
	case len(vs) > 1:
		return "", oauthErr(errInvalidRequest, "parameter "+name+" appears more than once")
	case (len(vs) == 0 || vs[0] == "") && required:
		return "", oauthErr(errInvalidRequest, "missing parameter "+name)
	case len(vs) == 0:
		return "", nil
	}
	return vs[0], nil
}

// fail answers a refused request: the token edge's one translation from
// errors to HTTP. Verification failures of an assertion become
// invalid_grant with a description of what to fix; anything unexpected is
// a 500 server_error. It logs once, never a token, code or assertion.
func (t *tokenEndpoint) fail(w http.ResponseWriter, r *http.Request, grant string, err error) {
	var oe *oauthError
	if !errors.As(err, &oe) {
		if samlverify.ReasonOf(err) != "" {
			oe = t.assertionError(err)
		} else {
			oe = &oauthError{code: errServerError, desc: "internal error", cause: err}
		}
	}
	status, level := http.StatusBadRequest, slog.LevelInfo
	switch oe.code {
	case errUnavailableCode:
		status, level = http.StatusServiceUnavailable, slog.LevelError
	case errServerError:
		status, level = http.StatusInternalServerError, slog.LevelError
	case errSlowDown:
		status, level = http.StatusTooManyRequests, slog.LevelWarn
		w.Header().Set("Retry-After", "60")
	}
	attrs := []any{"path", r.URL.Path, "grant", grant, "status", status, "error", oe.code}
	if reason := samlverify.ReasonOf(err); reason != "" {
		attrs = append(attrs, "reason", string(reason))
	}
	if cause := errors.Unwrap(err); cause != nil {
		attrs = append(attrs, "detail", cause.Error())
	}
	t.cfg.Logger.Log(r.Context(), level, "token: request refused", attrs...)
	kind := EventToken
	if r.URL.Path == RevokePath {
		kind = EventRevoke
	}
	t.cfg.event(Event{Kind: kind, Grant: grant, Outcome: oe.code})
	writeOAuthError(w, status, oe)
}

// writeOAuthError writes an RFC 6749 §5.2 error object.
func writeOAuthError(w http.ResponseWriter, status int, oe *oauthError) {
	writeJSON(w, status, map[string]string{"error": oe.code, "error_description": oe.desc})
}

// assertionError turns a samlverify failure of an RFC 7522 assertion into
// invalid_grant, saying what to fix: for the audience and recipient, with
// this server's own URLs. The store failing is temporarily_unavailable
// instead.
func (t *tokenEndpoint) assertionError(err error) *oauthError {
	r := samlverify.ReasonOf(err)
	desc, ok := assertionHints[r]
	if !ok {
		desc = "the assertion was refused (" + string(r) + ")"
	}
	switch r {
	case samlverify.ReasonUnavailable:
		return &oauthError{code: errUnavailableCode, desc: desc, cause: err}
	case samlverify.ReasonWrongAudience, samlverify.ReasonNoAudience:
		desc += ": " + t.cfg.EntityID + " or " + t.tokenURL
	case samlverify.ReasonWrongRecipient:
		desc += ": " + t.tokenURL
	}
	return &oauthError{code: errInvalidGrant, desc: desc, cause: err}
}

// assertionHints describe each reason a bearer assertion is refused.
var assertionHints = map[samlverify.Reason]string{
	samlverify.ReasonTooLarge:             "the assertion is too large",
	samlverify.ReasonMalformed:            "assertion must be a base64url-encoded SAML 2.0 Assertion element (not a Response)",
	samlverify.ReasonDoctype:              "the assertion must not contain a DTD",
	samlverify.ReasonProcInst:             "the assertion must not contain processing instructions",
	samlverify.ReasonComment:              "the assertion must not contain XML comments",
	samlverify.ReasonUnsupported:          "the assertion uses a SAML construct this server does not accept",
	samlverify.ReasonMultipleAssertions:   "send exactly one Assertion, not one nested in another",
	samlverify.ReasonSignatureMissing:     "the Assertion itself must be signed by the IdP; a signature on a Response around it does not carry over",
	samlverify.ReasonSignatureInvalid:     "the assertion's signature does not verify",
	samlverify.ReasonUnsupportedAlgorithm: "the assertion is signed with an algorithm this server does not accept; use RSA-SHA256",
	samlverify.ReasonSHA1Disabled:         "the assertion is signed with SHA-1, which this server does not accept; use SHA-256",
	samlverify.ReasonUntrustedKey:         "the assertion is not signed by a key of a trusted IdP",
	samlverify.ReasonCertNotValid:         "the IdP certificate that signed the assertion is not valid now",
	samlverify.ReasonUnknownIdP:           "the assertion's Issuer is not a trusted IdP of this server",
	samlverify.ReasonWrongIssuer:          "the assertion's Issuer does not match the IdP that signed it",
	samlverify.ReasonNoAudience:           "the assertion needs an AudienceRestriction naming this server",
	samlverify.ReasonWrongAudience:        "the assertion's Audience must name this server",
	samlverify.ReasonWrongRecipient:       "the Recipient of the assertion's bearer SubjectConfirmationData must be this server's token endpoint",
	samlverify.ReasonNoBearerConfirmation: "the assertion needs a bearer SubjectConfirmation with a Recipient and NotOnOrAfter",
	samlverify.ReasonNotYetValid:          "the assertion is not valid yet; check the clocks of the IdP and this server",
	samlverify.ReasonExpired:              "the assertion has expired; get a fresh one from the IdP",
	samlverify.ReasonReplay:               "this assertion has been used before; each assertion can be exchanged once",
	samlverify.ReasonUnknownRequest:       "the assertion answers an AuthnRequest; send a bearer assertion without InResponseTo",
	samlverify.ReasonDecryptFailed:        "the assertion could not be decrypted",
	samlverify.ReasonUnavailable:          "the session store is unavailable; try again shortly",
}

// sessionOf returns the identity of s as a token carries it: no SAML
// logout details, no scope or family yet.
func sessionOf(s authz.Session) authz.Session {
	return authz.Session{
		Subject: s.Subject, Email: s.Email, Name: s.Name, Groups: s.Groups, IdP: s.IdP,
		CreatedAt: s.CreatedAt, ExpiresAt: s.ExpiresAt,
	}
}
