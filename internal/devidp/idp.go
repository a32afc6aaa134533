package devidp

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"strings"
	"sync"
)

// IdP is a development SAML Identity Provider. It is an http.Handler; its
// methods are safe for concurrent use.
type IdP struct {
	cfg   Config
	key   *rsa.PrivateKey
	cert  *x509.Certificate
	users map[string]User
	pages *template.Template
	mux   *http.ServeMux

	pending *pendingStore

	mu       sync.RWMutex
	baseURL  string // "" until bound
	entityID string
}

// New validates cfg, fills its defaults (generating a key and certificate
// when none are given) and returns the IdP. When cfg.BaseURL is empty the
// IdP's URLs are fixed by the first call to Serve.
func New(cfg Config) (*IdP, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	key, cert, err := keyPair(cfg)
	if err != nil {
		return nil, err
	}
	pages, err := parsePages()
	if err != nil {
		return nil, err
	}
	idp := &IdP{
		cfg:     cfg,
		key:     key,
		cert:    cert,
		users:   make(map[string]User, len(cfg.Users)),
		pages:   pages,
		pending: newPendingStore(),
	}
	for _, u := range cfg.Users {
		idp.users[u.ID] = u
	}
	if cfg.BaseURL != "" {
		idp.bind(cfg.BaseURL)
	}
	idp.mux = idp.routes()
	return idp, nil
}

// bind fixes the IdP's base URL and entity ID, once.
func (idp *IdP) bind(baseURL string) {
	idp.mu.Lock()
	defer idp.mu.Unlock()
	if idp.baseURL != "" {
		return
	}
	idp.baseURL = strings.TrimSuffix(baseURL, "/")
	idp.entityID = idp.cfg.EntityID
	if idp.entityID == "" {
		idp.entityID = idp.baseURL + entityPath
	}
}

// urls returns the bound base URL and entity ID, or ErrNotBound.
func (idp *IdP) urls() (base, entityID string, err error) {
	idp.mu.RLock()
	defer idp.mu.RUnlock()
	if idp.baseURL == "" {
		return "", "", ErrNotBound
	}
	return idp.baseURL, idp.entityID, nil
}

// BaseURL returns the IdP's base URL, or "" before it is known.
func (idp *IdP) BaseURL() string {
	base, _, _ := idp.urls()
	return base
}

// EntityID returns the IdP's entity ID, or "" before it is known.
func (idp *IdP) EntityID() string {
	_, id, _ := idp.urls()
	return id
}

// MetadataURL returns the URL of the IdP's metadata.
func (idp *IdP) MetadataURL() string { return idp.BaseURL() + MetadataPath }

// SSOURL returns the IdP's SingleSignOnService (HTTP-Redirect) URL: the
// Destination of AuthnRequests.
func (idp *IdP) SSOURL() string { return idp.BaseURL() + SSOPath }

// SLOURL returns the IdP's SingleLogoutService URL.
func (idp *IdP) SLOURL() string { return idp.BaseURL() + SLOPath }

// Certificate returns the IdP's signing certificate.
func (idp *IdP) Certificate() *x509.Certificate { return idp.cert }

// Users returns the configured demo accounts, in order.
func (idp *IdP) Users() []User { return append([]User(nil), idp.cfg.Users...) }

// ServeHTTP serves the IdP's endpoints. Until the IdP knows its base URL
// (Config.BaseURL, or the first Serve) every request fails with 503.
func (idp *IdP) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if _, _, err := idp.urls(); err != nil {
		idp.fail(w, r, err)
		return
	}
	idp.mux.ServeHTTP(w, r)
}

func (idp *IdP) routes() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+MetadataPath, idp.handleMetadata)
	mux.HandleFunc("GET "+SSOPath, idp.handleSSO)
	mux.HandleFunc("POST "+LoginPath, idp.handleLogin)
	mux.HandleFunc("GET "+SLOPath, idp.handleSLO)
	return mux
}

// spByEntityID returns the configured SP with that entity ID.
func (idp *IdP) spByEntityID(entityID string) (SP, bool) {
	for _, sp := range idp.cfg.SPs {
		if sp.EntityID == entityID {
			return sp, true
		}
	}
	return SP{}, false
}

// randomString returns n random bytes from Config.Rand, base64url-encoded.
func (idp *IdP) randomString(n int) (string, error) {
	b := make([]byte, n)
	if _, err := io.ReadFull(idp.cfg.Rand, b); err != nil {
		return "", fmt.Errorf("devidp: reading randomness: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// newID returns a fresh SAML ID: 160 random bits in hex. IDs are xs:ID
// (NCName) values, which must not start with a digit, hence the "_".
func (idp *IdP) newID() (string, error) {
	b := make([]byte, 20)
	if _, err := io.ReadFull(idp.cfg.Rand, b); err != nil {
		return "", fmt.Errorf("devidp: reading randomness: %w", err)
	}
	return fmt.Sprintf("_%x", b), nil
}
