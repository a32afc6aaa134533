package devidp

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"sync"
	"time"
)

// Defaults for Config fields left zero.
const (
	// DefaultAssertionLifetime is Config.AssertionLifetime when unset.
	DefaultAssertionLifetime = 5 * time.Minute
	// DefaultSessionLifetime is Config.SessionLifetime when unset.
	DefaultSessionLifetime = 8 * time.Hour
	// DefaultCertLifetime is how long a generated certificate is valid.
	DefaultCertLifetime = 365 * 24 * time.Hour
)

// Paths of the IdP's endpoints, relative to Config.BaseURL.
const (
	MetadataPath = "/saml/idp/metadata"
	SSOPath      = "/saml/idp/sso"
	LoginPath    = "/saml/idp/sso/login"
	SLOPath      = "/saml/idp/slo"
	// entityPath is appended to BaseURL for the default entity ID.
	entityPath = "/saml/idp"
)

// Config configures an IdP. New validates it once and fills its defaults.
type Config struct {
	// EntityID is the IdP's SAML entity ID, used as Issuer and in metadata.
	// default: BaseURL + "/saml/idp", e.g. "http://127.0.0.1:8081/saml/idp".
	EntityID string
	// BaseURL is the absolute scheme://host[:port] at which browsers and the
	// SP reach the IdP, without a path. default: "http://" + the address of
	// the listener first given to Serve.
	BaseURL string
	// Users are the demo accounts offered on the sign-in page, in order.
	// IDs must be unique. default: DefaultUsers().
	Users []User
	// SPs are the service providers allowed to request a sign-in. Required:
	// at least one.
	SPs []SP
	// Key signs responses. default: a fresh RSA 2048 key.
	Key *rsa.PrivateKey
	// Cert is Key's certificate, published in metadata and in every
	// signature's KeyInfo. It must not be set without Key. default: a
	// self-signed certificate for Key, valid for a year from Now().
	Cert *x509.Certificate
	// UnsignedResponse leaves the Response element unsigned. default: false
	// (the Response is signed).
	UnsignedResponse bool
	// UnsignedAssertion leaves the Assertion unsigned. default: false (the
	// Assertion is signed).
	UnsignedAssertion bool
	// Now is the IdP's clock, for every timestamp it issues and for form
	// expiry. default: time.Now.
	Now func() time.Time
	// Rand supplies message IDs, session indexes, form tokens, CSP nonces
	// and certificate serial numbers. It need not be safe for concurrent
	// use. (Go's crypto packages ignore custom readers for key generation,
	// so it does not make keys reproducible.) default: crypto/rand.Reader.
	Rand io.Reader
	// AssertionLifetime is how long an assertion is valid: Conditions and
	// SubjectConfirmationData NotOnOrAfter. default: 5m.
	AssertionLifetime time.Duration
	// SessionLifetime sets AuthnStatement SessionNotOnOrAfter. default: 8h.
	SessionLifetime time.Duration
	// AllowNonLoopback lets Serve and ListenAndServe use addresses other
	// than loopback ones. default: false.
	AllowNonLoopback bool
	// Logger receives one line per sign-in and per refused request, never
	// a SAML message. default: a logger that discards everything.
	Logger *slog.Logger
}

// User is a demo account.
type User struct {
	// ID is the NameID (format unspecified). Required, unique.
	ID string
	// Name is the displayName attribute and the label on the sign-in page.
	Name string
	// Email is the email attribute, and the NameID when an SP asks for the
	// emailAddress format.
	Email string
	// Groups are the values of the multi-valued groups attribute.
	Groups []string
}

// SP is a service provider the IdP trusts.
type SP struct {
	// EntityID must equal the Issuer of the SP's AuthnRequests; it is the
	// Audience of the assertions issued to it. Required.
	EntityID string
	// ACSURLs are the Assertion Consumer Service URLs the SP may ask for,
	// compared exactly. The first is used when a request names none.
	// Required: at least one absolute URL.
	ACSURLs []string
	// Cert, when set, is the SP's signing certificate: its AuthnRequests
	// must then carry a valid HTTP-Redirect signature (RSA-SHA256/512 or
	// ECDSA-SHA256). When nil, signatures are not checked. default: nil.
	Cert *x509.Certificate
}

// DefaultUsers returns the built-in demo accounts. Their groups match the
// default policy's grants (rego/policies/data.yaml), plus one user with no
// groups to show a denial.
func DefaultUsers() []User {
	return []User{
		{ID: "alice", Name: "Alice Engineer", Email: "alice@example.com", Groups: []string{"ml-engineers"}},
		{ID: "bob", Name: "Bob Scientist", Email: "bob@example.com", Groups: []string{"data-scientists"}},
		{ID: "carol", Name: "Carol Vision", Email: "carol@example.com", Groups: []string{"resnet-users", "ml-engineers"}},
		{ID: "dave", Name: "Dave Nogroups", Email: "dave@example.com"},
	}
}

// withDefaults returns cfg validated and with defaults filled, except for
// Key and Cert, which New handles.
func (cfg Config) withDefaults() (Config, error) {
	if cfg.Users == nil {
		cfg.Users = DefaultUsers()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	} else {
		cfg.Rand = &lockedReader{r: cfg.Rand}
	}
	if cfg.AssertionLifetime == 0 {
		cfg.AssertionLifetime = DefaultAssertionLifetime
	}
	if cfg.SessionLifetime == 0 {
		cfg.SessionLifetime = DefaultSessionLifetime
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return cfg, cfg.validate()
}

func (cfg Config) validate() error {
	if cfg.BaseURL != "" {
		if err := checkBaseURL(cfg.BaseURL); err != nil {
			return err
		}
	}
	if cfg.AssertionLifetime < 0 || cfg.SessionLifetime < 0 {
		return fmt.Errorf("%w: AssertionLifetime and SessionLifetime must not be negative", ErrConfig)
	}
	if cfg.Cert != nil && cfg.Key == nil {
		return fmt.Errorf("%w: Cert is set without Key", ErrConfig)
	}
	if err := validateUsers(cfg.Users); err != nil {
		return err
	}
	return validateSPs(cfg.SPs)
}

func checkBaseURL(base string) error {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%w: BaseURL %q must be an absolute http(s) URL", ErrConfig, base)
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("%w: BaseURL %q must have no path, query or fragment", ErrConfig, base)
	}
	return nil
}

func validateUsers(users []User) error {
	if len(users) == 0 {
		return fmt.Errorf("%w: Users is empty", ErrConfig)
	}
	seen := make(map[string]bool, len(users))
	for i, u := range users {
		if u.ID == "" {
			return fmt.Errorf("%w: Users[%d].ID is empty", ErrConfig, i)
		}
		if seen[u.ID] {
			return fmt.Errorf("%w: Users[%d].ID %q is repeated", ErrConfig, i, u.ID)
		}
		seen[u.ID] = true
	}
	return nil
}

func validateSPs(sps []SP) error {
	if len(sps) == 0 {
		return fmt.Errorf("%w: SPs is empty: at least one service provider is required", ErrConfig)
	}
	seen := make(map[string]bool, len(sps))
	for i, sp := range sps {
		if sp.EntityID == "" {
			return fmt.Errorf("%w: SPs[%d].EntityID is empty", ErrConfig, i)
		}
		if seen[sp.EntityID] {
			return fmt.Errorf("%w: SPs[%d].EntityID %q is repeated", ErrConfig, i, sp.EntityID)
		}
		seen[sp.EntityID] = true
		if len(sp.ACSURLs) == 0 {
			return fmt.Errorf("%w: SPs[%d].ACSURLs is empty", ErrConfig, i)
		}
		for _, acs := range sp.ACSURLs {
			if u, err := url.Parse(acs); err != nil || !u.IsAbs() || u.Host == "" {
				return fmt.Errorf("%w: SPs[%d] ACS URL %q is not an absolute URL", ErrConfig, i, acs)
			}
		}
	}
	return nil
}

// lockedReader serializes reads from a caller's Rand, which handlers use
// concurrently.
type lockedReader struct {
	mu sync.Mutex
	r  io.Reader
}

func (l *lockedReader) Read(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.r.Read(p)
}
