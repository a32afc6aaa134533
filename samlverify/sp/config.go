package sp

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/tfgate/tfgate/authz"
	"github.com/tfgate/tfgate/samlverify"
)

// Defaults for Config fields left zero.
const (
	// DefaultSessionLifetime is Config.SessionLifetime when unset.
	DefaultSessionLifetime = 8 * time.Hour
	// DefaultRequestTTL is Config.RequestTTL when unset.
	DefaultRequestTTL = 5 * time.Minute
	// DefaultTokenLifetime is Config.TokenLifetime when unset.
	DefaultTokenLifetime = time.Hour
	// DefaultMaxRotationsPerMinute is Config.MaxRotationsPerMinute when
	// unset: a client refreshes about once per access token lifetime.
	DefaultMaxRotationsPerMinute = 10
	// DefaultIdPInitiatedMaxAge is the largest age of an IdP-initiated
	// Response when Config.IdPInitiated allows one with a zero age: long
	// enough for a slow IdP and browser, short enough that a leaked
	// unsolicited Response is soon worthless.
	DefaultIdPInitiatedMaxAge = 3 * time.Minute
	// DefaultMaxFormBytes is Config.MaxFormBytes when unset: room for
	// samlverify's default 256 KiB SAMLResponse after form encoding.
	DefaultMaxFormBytes = 1 << 20
	// NameIDFormatUnspecified lets the IdP choose the NameID format.
	NameIDFormatUnspecified = "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"
	// NameIDFormatEmail asks for the e-mail address as NameID.
	NameIDFormatEmail = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"
	// NameIDFormatPersistent asks for a stable, opaque NameID.
	NameIDFormatPersistent = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"
)

// Paths the Handler serves.
const (
	LoginPath    = "/saml/login"
	ACSPath      = "/saml/acs"
	MetadataPath = "/saml/metadata"
	LogoutPath   = "/saml/logout"
	WhoamiPath   = "/saml/whoami"
	// HomePath is the account page: who is signed in, their groups, what
	// they may use, and how to sign out or sign programs in.
	HomePath = "/saml/"
	// CLIAuthorizePath is where a command-line client sends the browser
	// for an authorization code (cli.go).
	CLIAuthorizePath = "/saml/cli/authorize"
	// TokenPath and RevokePath are the token endpoint and its revocation
	// endpoint, served by TokenHandler, outside /saml/.
	TokenPath  = "/token"
	RevokePath = "/token/revoke"
)

// Sessions is the session store the SP writes. authz/session's Memory and
// Redis stores implement it.
type Sessions interface {
	// Create stores s under token.
	Create(ctx context.Context, token string, s authz.Session) error
	// Lookup returns the session token names, or an error wrapping
	// authz.ErrNoSession when there is none.
	Lookup(ctx context.Context, token string) (authz.Session, error)
	// Delete removes the session token names and every session minted
	// from it: those whose Family is authz.SessionHandle(token), even when
	// the session itself is already gone. A missing one is no error.
	Delete(ctx context.Context, token string) error
}

// SingleLogout ends the sessions an IdP's LogoutRequest names
// (IdP-initiated single logout). authz/session's Memory and Redis stores
// implement it.
type SingleLogout interface {
	// EndSAMLSessions ends the browser sessions idp signed nameID in with,
	// those with one of sessionIndexes or, when there is none, all, with
	// the tokens minted from them, on every replica. It returns how many
	// were live.
	EndSAMLSessions(ctx context.Context, idp, nameID string, sessionIndexes []string) (int, error)
}

// IdPs is where the SP finds the IdP to send a user to. *samlverify.IdPSet
// and *samlverify.Source implement it.
type IdPs interface {
	// LookupIdP returns the IdP with entityID.
	LookupIdP(entityID string) (*samlverify.IdP, bool)
	// Default returns the IdP a sign-in without a choice goes to.
	Default() *samlverify.IdP
}

// Config configures a Handler. New validates it and fills its defaults.
type Config struct {
	// BaseURL is the external origin browsers see, scheme://host[:port]
	// without a path, e.g. "https://serving.example.com". The ACS URL is
	// BaseURL+"/saml/acs". Required.
	BaseURL string
	// EntityID is this SP's entity ID, the Issuer of its requests. It must
	// equal the Verifier's SPEntityID. default: BaseURL+"/saml/metadata".
	EntityID string
	// Verifier verifies Responses. It must be configured with EntityID and
	// ACS URL as above, and with Sessions' store as its ReplayCache.
	// Required.
	Verifier *samlverify.Verifier
	// IdPs are the trusted IdPs. Required.
	IdPs IdPs
	// IdPNames maps short names, usable as /saml/login?idp=NAME, to entity
	// IDs. An entity ID works there too. default: none.
	IdPNames map[string]string
	// Sessions stores sessions. Required.
	Sessions Sessions
	// SingleLogout ends sessions for a verified LogoutRequest from an IdP
	// (slo.go). Without one, such a request is answered with Responder
	// status and ends nothing. default: Sessions, when it implements
	// SingleLogout.
	SingleLogout SingleLogout
	// BindingKey is the secret (at least BindingKeySize random bytes) that seals
	// the binding cookies carrying pending sign-ins from /saml/login to
	// the ACS (binding.go). Every replica behind one BaseURL must have the
	// same key, or a sign-in started on one fails at another's ACS.
	// Changing it fails only the sign-ins in progress. default: a random
	// key made by New, good for one process.
	BindingKey []byte
	// CookieName is the session cookie. Unless Insecure it must start with
	// "__Host-"; when Insecure it must not start with "__Host-" or
	// "__Secure-", which browsers refuse without Secure. The binding
	// cookie is called CookieName+"-req". default: authz.DefaultCookieName.
	CookieName string
	// Insecure is for development over plain http only: cookies lose
	// Secure, the binding cookie becomes SameSite=Lax (see the package
	// documentation), and BaseURL must be http. Without it BaseURL must be
	// https. default: false.
	Insecure bool
	// SessionLifetime is the longest a session lasts; it ends at the
	// sooner of now+SessionLifetime and the IdP's SessionNotOnOrAfter.
	// default: 8h.
	SessionLifetime time.Duration
	// RequestTTL is how long an AuthnRequest may be answered, and the
	// binding cookie's lifetime. default: 5m.
	RequestTTL time.Duration
	// ReturnToHosts are hosts (host or host:port) besides BaseURL's that
	// absolute return_to URLs may name. default: none (paths only).
	ReturnToHosts []string
	// NameIDFormat is the NameIDPolicy Format of AuthnRequests.
	// default: NameIDFormatUnspecified.
	NameIDFormat string
	// Key and Cert are the SP's own key pair, both or neither. Cert is
	// published in metadata for signing and encryption; Key signs
	// LogoutRequests, and AuthnRequests when SignRequests is set or the
	// IdP's metadata asks for it. Decryption uses the Verifier's
	// DecryptionKey, which should be the same key. default: none.
	Key  *rsa.PrivateKey
	Cert *x509.Certificate
	// SignRequests signs every AuthnRequest (RSA-SHA256, redirect-binding
	// signature) and says so in metadata. Needs Key. default: false.
	SignRequests bool
	// Tokens stores the token endpoint's tokens and one-time values; it is
	// usually the Sessions store. Without it, /saml/cli/authorize and
	// TokenHandler answer that tokens are not available. default: nil.
	Tokens TokenStore
	// TokenLifetime is how long an access token from the token endpoint
	// lasts, never past the end of the sign-in it comes from. default: 1h.
	TokenLifetime time.Duration
	// RefreshLifetime is how long a refresh token family lasts from the
	// grant that started it, never past the end of the sign-in; rotating a
	// refresh token does not extend it. 0 means until the sign-in ends.
	// default: 0.
	RefreshLifetime time.Duration
	// MaxRotationsPerMinute caps how often one grant's refresh token may
	// be rotated; more is refused with slow_down (HTTP 429), using nothing
	// up. default: DefaultMaxRotationsPerMinute.
	MaxRotationsPerMinute int
	// Exchange verifies the subject tokens of RFC 8693 token exchange
	// (Kubernetes service-account tokens); nil refuses that grant.
	// default: nil.
	Exchange TokenExchanger
	// MaxFormBytes caps the ACS and token request bodies. default: 1 MiB.
	MaxFormBytes int64
	// IdPInitiated says whether the IdP with entityID may sign users in
	// unsolicited (IdP-initiated: a Response without InResponseTo, e.g.
	// from an app dashboard), and the largest age of such a Response (0
	// means DefaultIdPInitiatedMaxAge). Such a Response passes every check
	// a solicited one does except the request binding; its RelayState is
	// only followed when it passes the return_to check (a path, or a URL
	// on ReturnToHosts), else the user lands on "/". Allowing it exposes
	// users to login CSRF: anyone with a valid Response of their own can
	// sign a victim's browser into the attacker's account. default: nil
	// (no IdP may).
	IdPInitiated func(entityID string) (maxAge time.Duration, ok bool)
	// Now is the clock for session times and IssueInstants. Use the
	// Verifier's clock. default: time.Now.
	Now func() time.Time
	// Rand supplies request IDs, tokens and support references; it need not
	// be safe for concurrent use. default: crypto/rand.Reader.
	Rand io.Reader
	// Logger receives one line per sign-in, sign-out and refusal, never a
	// SAML message, NameID, token or cookie. default: discard.
	Logger *slog.Logger
	// Contact is a line at the foot of every page saying whom to ask, e.g.
	// "Questions: #ml-platform or ml-platform@example.com". default: none.
	Contact string
	// Grants lists what the given groups may use, for the account page
	// (from the policy's data). default: nil (the page does not list any).
	Grants func(groups []string) []Grant
	// OnEvent, when set, is told the outcome of every ACS POST, token
	// grant and revocation, and every reuse of a refresh token or code,
	// for metrics. default: nil.
	OnEvent func(Event)
}

// Grant is one thing a group may use, as the account page lists it.
type Grant struct {
	Group    string
	Models   []string
	APIs     []string
	Versions []string
	Labels   []string
}

// Event is one outcome of the SP, for metrics. Every field is one of a
// small fixed set of values; none carries a user, token or message.
type Event struct {
	// Kind is EventACS, EventToken, EventRevoke or EventReuse.
	Kind string
	// Grant is the token request's grant type (token and reuse events):
	// one of the Grant constants, "other" or "".
	Grant string
	// Outcome is "success", or why the request was refused: the ACS's
	// reason code, or the OAuth error code.
	Outcome string
}

// Kinds of Event.
const (
	EventACS    = "acs"
	EventToken  = "token"
	EventRevoke = "revoke"
	EventReuse  = "reuse"
)

// event passes e to OnEvent, if set.
func (cfg *Config) event(e Event) {
	if cfg.OnEvent != nil {
		cfg.OnEvent(e)
	}
}

// withDefaults validates cfg and fills its defaults.
func (cfg Config) withDefaults() (Config, error) {
	if cfg.Verifier == nil || cfg.IdPs == nil || cfg.Sessions == nil {
		return cfg, errors.New("sp: Config needs Verifier, IdPs and Sessions")
	}
	if cfg.SingleLogout == nil {
		cfg.SingleLogout, _ = cfg.Sessions.(SingleLogout)
	}
	if err := cfg.checkBaseURL(); err != nil {
		return cfg, err
	}
	cfg.BaseURL = strings.TrimSuffix(cfg.BaseURL, "/")
	if cfg.EntityID == "" {
		cfg.EntityID = cfg.BaseURL + MetadataPath
	}
	if cfg.CookieName == "" {
		cfg.CookieName = authz.DefaultCookieName
	}
	if err := checkCookieName(cfg.CookieName, cfg.Insecure); err != nil {
		return cfg, err
	}
	if cfg.SessionLifetime < 0 || cfg.RequestTTL < 0 || cfg.MaxFormBytes < 0 || cfg.TokenLifetime < 0 || cfg.RefreshLifetime < 0 {
		return cfg, errors.New("sp: SessionLifetime, RequestTTL, TokenLifetime, RefreshLifetime and MaxFormBytes must not be negative")
	}
	cfg.SessionLifetime = orDefault(cfg.SessionLifetime, DefaultSessionLifetime)
	cfg.RequestTTL = orDefault(cfg.RequestTTL, DefaultRequestTTL)
	cfg.TokenLifetime = orDefault(cfg.TokenLifetime, DefaultTokenLifetime)
	if cfg.MaxRotationsPerMinute < 0 {
		return cfg, errors.New("sp: MaxRotationsPerMinute must not be negative")
	}
	if cfg.MaxRotationsPerMinute == 0 {
		cfg.MaxRotationsPerMinute = DefaultMaxRotationsPerMinute
	}
	if cfg.MaxFormBytes == 0 {
		cfg.MaxFormBytes = DefaultMaxFormBytes
	}
	if cfg.NameIDFormat == "" {
		cfg.NameIDFormat = NameIDFormatUnspecified
	}
	if err := cfg.checkKeys(); err != nil {
		return cfg, err
	}
	if err := checkHosts(cfg.ReturnToHosts); err != nil {
		return cfg, err
	}
	cfg.fillRuntime()
	if cfg.BindingKey == nil {
		cfg.BindingKey = make([]byte, BindingKeySize)
		if _, err := io.ReadFull(rand.Reader, cfg.BindingKey); err != nil {
			return cfg, fmt.Errorf("sp: making a binding key: %w", err)
		}
	}
	return cfg, nil
}

// fillRuntime fills the clock, randomness and logger.
func (cfg *Config) fillRuntime() {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	} else {
		cfg.Rand = &lockedReader{r: cfg.Rand}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
}

// checkBaseURL requires an origin: https, or http when Insecure.
func (cfg Config) checkBaseURL() error {
	u, err := url.Parse(cfg.BaseURL)
	if err != nil || u.Host == "" || u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("sp: BaseURL %q must be scheme://host[:port] without a path", cfg.BaseURL)
	}
	switch {
	case u.Scheme == "https" && cfg.Insecure:
		return errors.New("sp: Insecure is only for an http BaseURL")
	case u.Scheme == "http" && !cfg.Insecure:
		return errors.New("sp: an http BaseURL needs Insecure (development only): browsers drop Secure cookies over http")
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("sp: BaseURL %q must be http or https", cfg.BaseURL)
	}
	return nil
}

// checkCookieName enforces the prefix rules browsers apply: __Host- and
// __Secure- cookies must be Secure, so they are required in production
// and impossible in Insecure mode.
func checkCookieName(name string, insecure bool) error {
	if strings.ContainsAny(name, " ;=,\t\"()<>@:\\/[]?{}") {
		return fmt.Errorf("sp: CookieName %q is not a valid cookie name", name)
	}
	prefixed := strings.HasPrefix(name, "__Host-") || strings.HasPrefix(name, "__Secure-")
	switch {
	case insecure && prefixed:
		return fmt.Errorf("sp: CookieName %q needs Secure, which Insecure turns off; use a name without the __Host- prefix", name)
	case !insecure && !strings.HasPrefix(name, "__Host-"):
		return fmt.Errorf("sp: CookieName %q must start with __Host- so that no other host can set it", name)
	}
	return nil
}

// checkKeys requires Key and Cert together and matching, and Key for
// SignRequests.
func (cfg Config) checkKeys() error {
	if (cfg.Key == nil) != (cfg.Cert == nil) {
		return errors.New("sp: Key and Cert must be set together")
	}
	if cfg.Key != nil && !cfg.Key.PublicKey.Equal(cfg.Cert.PublicKey) {
		return errors.New("sp: Cert is not the certificate of Key")
	}
	if cfg.SignRequests && cfg.Key == nil {
		return errors.New("sp: SignRequests needs Key and Cert")
	}
	return nil
}

// checkHosts requires bare host[:port] entries.
func checkHosts(hosts []string) error {
	for _, h := range hosts {
		u, err := url.Parse("https://" + h)
		if h == "" || err != nil || u.Host != h || u.User != nil {
			return fmt.Errorf("sp: ReturnToHosts entry %q is not host or host:port", h)
		}
	}
	return nil
}

// orDefault returns d when v is zero.
func orDefault(v, d time.Duration) time.Duration {
	if v == 0 {
		return d
	}
	return v
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
