package sp

import (
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

// Handler is the SP's http.Handler; mount it at "/saml/". It is safe for
// concurrent use.
type Handler struct {
	cfg      Config
	acsURL   string
	origin   string // BaseURL's scheme://host, for Origin checks
	returnTo returnTo
	metadata []byte
	mux      *http.ServeMux
	tokens   *tokenEndpoint // nil without Config.Tokens
	bindings bindingSealer
}

// New returns a Handler for cfg, or an error naming the first invalid
// field.
func New(cfg Config) (*Handler, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	md, err := buildMetadata(cfg)
	if err != nil {
		return nil, fmt.Errorf("sp: building metadata: %w", err)
	}
	bindings, err := newBindingSealer(cfg.BindingKey)
	if err != nil {
		return nil, err
	}
	u, _ := url.Parse(cfg.BaseURL)
	h := &Handler{
		bindings: bindings,
		cfg:      cfg,
		acsURL:   cfg.BaseURL + ACSPath,
		origin:   u.Scheme + "://" + u.Host,
		returnTo: newReturnTo(cfg.BaseURL, cfg.ReturnToHosts, cfg.Insecure),
		metadata: md,
		mux:      http.NewServeMux(),
	}
	h.mux.HandleFunc("GET "+LoginPath, h.handleLogin)
	h.mux.HandleFunc("POST "+ACSPath, h.handleACS)
	h.mux.HandleFunc("GET "+ACSPath, h.handleACSGet)
	h.mux.HandleFunc("GET "+HomePath+"{$}", h.handleHome)
	h.mux.HandleFunc("GET "+MetadataPath, h.handleMetadata)
	h.mux.HandleFunc("GET "+LogoutPath, h.handleLogoutPage)
	h.mux.HandleFunc("POST "+LogoutPath, h.handleLogout)
	h.mux.HandleFunc("GET "+WhoamiPath, h.handleWhoami)
	h.mux.HandleFunc("GET "+CLIAuthorizePath, h.handleCLIAuthorize)
	h.mux.HandleFunc("POST "+CLIAuthorizePath, h.handleCLIConsent)
	if cfg.Tokens != nil {
		h.tokens = &tokenEndpoint{cfg: cfg, store: cfg.Tokens, tokenURL: cfg.BaseURL + TokenPath}
	}
	return h, nil
}

// Metadata returns the SP's metadata XML, as GET /saml/metadata serves it.
func (h *Handler) Metadata() []byte { return append([]byte(nil), h.metadata...) }

// ACSURL returns the Assertion Consumer Service URL, BaseURL+"/saml/acs".
func (h *Handler) ACSURL() string { return h.acsURL }

// EntityID returns the SP's entity ID.
func (h *Handler) EntityID() string { return h.cfg.EntityID }

// ServeHTTP serves the SP's endpoints. Nothing it answers may be cached:
// every response is about one browser's sign-in.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Cache-Control", "no-store")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	r, cancel := withRequestTimeout(r)
	defer cancel()
	h.mux.ServeHTTP(w, r)
}

// RequestTimeout bounds every request the SP and its token endpoint serve:
// its context's deadline. It is also what keeps revocation sound: a token
// is minted from a parent (browser session, code or refresh record) read
// earlier in the same request, and the session store refuses a token whose
// family check is answered after the deadline, so a revoked family's
// tombstone (two minutes in authz/session) need only outlive this.
const RequestTimeout = 30 * time.Second

// withRequestTimeout puts RequestTimeout on r's context.
func withRequestTimeout(r *http.Request) (*http.Request, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(r.Context(), RequestTimeout)
	return r.WithContext(ctx), cancel
}

// randomHex returns n random bytes from cfg.Rand in hex.
func (h *Handler) randomHex(n int) (string, error) {
	b := make([]byte, n)
	if _, err := io.ReadFull(h.cfg.Rand, b); err != nil {
		return "", fmt.Errorf("sp: reading random bytes: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// newID returns a SAML ID: "_" and 32 hex digits (an xs:ID must not start
// with a digit).
func (h *Handler) newID() (string, error) {
	s, err := h.randomHex(16)
	return "_" + s, err
}

// isRequestID reports whether s has newID's shape.
func isRequestID(s string) bool {
	if len(s) != 33 || s[0] != '_' {
		return false
	}
	_, err := hex.DecodeString(s[1:])
	return err == nil
}

// redirect answers with a bare redirect to loc: no body, so there is no
// page for a CSP to cover, and loc is sent exactly as validated.
func redirect(w http.ResponseWriter, loc string, code int) {
	w.Header().Set("Location", loc)
	w.WriteHeader(code)
}
