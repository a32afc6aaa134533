package main

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/tfgate/tfgate/samlverify"
	"github.com/tfgate/tfgate/samlverify/sp"
)

// SAMLConfig configures the SAML Service Provider. With no idps it is off:
// the /saml/ endpoints answer 503 "no IdP configured".
type SAMLConfig struct {
	// LoginURL is where anonymous browser navigations are redirected, as
	// Envoy's clients see it. Default: "/saml/login".
	LoginURL string `yaml:"login_url"`
	// BaseURL is the external origin browsers use, e.g.
	// "https://serving.example.com": the ACS is BaseURL/saml/acs. https,
	// or http on a loopback host for development (cookies then lose
	// Secure, and sessions.cookie_name must not start with __Host-).
	// Required when idps are set. Default: "".
	BaseURL string `yaml:"base_url"`
	// EntityID is the SP's entity ID, as registered at the IdP. Default:
	// "" (base_url + "/saml/metadata").
	EntityID string `yaml:"entity_id"`
	// SessionLifetime is the longest a browser session lasts; it ends
	// sooner when the IdP's SessionNotOnOrAfter says so. Default: 8h.
	SessionLifetime time.Duration `yaml:"session_lifetime"`
	// RequestTTL is how long a sign-in may take at the IdP. Default: 5m.
	RequestTTL time.Duration `yaml:"request_ttl"`
	// BindingSecret seals the cookies that carry a sign-in in progress
	// from /saml/login to the ACS (nothing is stored on the server for
	// it). At least 32 random characters, e.g. `openssl rand -base64 32`,
	// usually "${TFGATE_BINDING_SECRET}"; every replica behind one
	// base_url needs the same one. Default: "" (a random one per process:
	// right for one replica; with several, a sign-in that ends at another
	// replica than it started on fails).
	BindingSecret string `yaml:"binding_secret"`
	// TokenLifetime is how long an access token from /token lasts; never
	// past the end of the sign-in it comes from. Default: 1h.
	TokenLifetime time.Duration `yaml:"token_lifetime"`
	// RefreshLifetime is how long a refresh token (and those it is
	// rotated into) lasts from the login; never past the end of the
	// sign-in. 0 means until the sign-in ends. Default: 0s.
	RefreshLifetime time.Duration `yaml:"refresh_lifetime"`
	// MaxRotationsPerMinute caps how often one grant's refresh token may
	// be rotated (POST /token, grant_type=refresh_token) within a minute;
	// past it the token endpoint answers 429 slow_down and the client
	// waits (`extauthz token` does). It bounds the Redis writes one
	// client can cause. Between 1 and 600. Default: 10.
	MaxRotationsPerMinute int `yaml:"max_rotations_per_minute"`
	// Skew is the clock difference tolerated with IdPs. Default: 90s.
	Skew time.Duration `yaml:"skew"`
	// AllowSHA1 accepts SHA-1 signatures, for IdPs that cannot do better.
	// Default: false.
	AllowSHA1 bool `yaml:"allow_sha1"`
	// SignRequests signs every AuthnRequest; needs key_file and cert_file.
	// Requests to an IdP whose metadata sets WantAuthnRequestsSigned are
	// signed regardless. Default: false.
	SignRequests bool `yaml:"sign_requests"`
	// KeyFile and CertFile are the SP's RSA key and certificate (PEM), for
	// signing requests, decrypting encrypted assertions, and publishing in
	// metadata. Encrypted assertions are accepted with RSA-OAEP key
	// transport and AES-GCM content encryption; AES-CBC only inside a
	// signed Response (CBC has no integrity; unsigned, it is a padding
	// oracle); RSA PKCS#1 v1.5 key transport never (Bleichenbacher).
	// Default: "" (none).
	KeyFile  string `yaml:"key_file"`
	CertFile string `yaml:"cert_file"`
	// NameIDFormat is the NameIDPolicy of AuthnRequests. Default:
	// "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified".
	NameIDFormat string `yaml:"name_id_format"`
	// ReturnToHosts are hosts (host or host:port, https) besides base_url's
	// that return_to may name after sign-in. Default: [] (paths only).
	ReturnToHosts []string `yaml:"return_to_hosts"`
	// MaxResponseBytes caps the base64 SAMLResponse (and SAML bearer
	// assertion) tfgate reads, before any parsing. Default: 262144
	// (256 KiB), room for thousands of group values.
	MaxResponseBytes int `yaml:"max_response_bytes"`
	// MaxFormBytes caps the body of a POST to the ACS and to /token.
	// At least 3 × max_response_bytes, as form encoding can triple base64.
	// Default: 1048576 (1 MiB).
	MaxFormBytes int64 `yaml:"max_form_bytes"`
	// Attributes says which SAML attributes hold groups, e-mail and
	// display name; the first present wins.
	Attributes SAMLAttributes `yaml:"attributes"`
	// IdPs are the trusted identity providers. Default: [] (SP off).
	IdPs []IdPConfig `yaml:"idps"`
}

// SAMLAttributes names the attributes an identity is read from. Each is
// matched against an attribute's Name, then its FriendlyName.
type SAMLAttributes struct {
	// Groups are the attributes holding group names (all values kept).
	Groups []string `yaml:"groups"`
	// Email are the attributes holding the e-mail address.
	Email []string `yaml:"email"`
	// DisplayName are the attributes holding the display name.
	DisplayName []string `yaml:"display_name"`
}

// IdPConfig is one trusted IdP, described by its metadata.
type IdPConfig struct {
	// Name is a short name: /saml/login?idp=NAME picks this IdP. Required.
	Name string `yaml:"name"`
	// MetadataFile is a local metadata file; or MetadataURL, https only.
	// Exactly one is required.
	MetadataFile string `yaml:"metadata_file"`
	MetadataURL  string `yaml:"metadata_url"`
	// MetadataPins are SHA-256 fingerprints (hex, colons optional) of the
	// certificates allowed to sign the metadata; when set, unsigned or
	// otherwise-signed metadata is refused. Default: [] (trust the file or
	// the HTTPS download as is).
	MetadataPins []string `yaml:"metadata_pins"`
	// CacheFile keeps the last good copy of URL metadata, used at start
	// when the URL cannot be fetched. Default: "".
	CacheFile string `yaml:"cache_file"`
	// EntityID picks one IdP from metadata that describes several (a
	// federation aggregate). Default: "" (the first).
	EntityID string `yaml:"entity_id"`
	// RefreshInterval is the longest time between metadata reloads (a
	// shorter cacheDuration or validUntil in the metadata wins). Default:
	// 0 (1h).
	RefreshInterval time.Duration `yaml:"refresh_interval"`
	// Default makes this the IdP of /saml/login without ?idp=. Default:
	// false (the first IdP is the default).
	Default bool `yaml:"default"`
	// IdPInitiated accepts unsolicited Responses (sign-in started at the
	// IdP, e.g. from an app dashboard) from this IdP, with every check of
	// a solicited one except the request binding. It exposes users to
	// login CSRF: anyone who can get a valid Response for their own
	// account can sign a victim's browser into it. Default: false.
	IdPInitiated bool `yaml:"idp_initiated"`
	// IdPInitiatedMaxAge is the largest age of an unsolicited Response
	// (by its assertion's IssueInstant, plus skew), between 30s and 10m.
	// Default: 3m.
	IdPInitiatedMaxAge time.Duration `yaml:"idp_initiated_max_age"`
}

func defaultSAMLConfig() SAMLConfig {
	return SAMLConfig{
		LoginURL:              "/saml/login",
		SessionLifetime:       8 * time.Hour,
		RequestTTL:            5 * time.Minute,
		TokenLifetime:         time.Hour,
		MaxRotationsPerMinute: sp.DefaultMaxRotationsPerMinute,
		Skew:                  90 * time.Second,
		NameIDFormat:          "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified",
		MaxResponseBytes:      samlverify.DefaultMaxResponseBytes,
		MaxFormBytes:          sp.DefaultMaxFormBytes,
		ReturnToHosts:         []string{},
		Attributes:            defaultSAMLAttributes(),
		IdPs:                  []IdPConfig{},
	}
}

// defaultSAMLAttributes covers, in order: devidp, pysaml2, Okta, Google and
// Keycloak ("groups", "email", ...), LDAP-style names and OIDs, Entra ID
// and ADFS claim URIs, Keycloak's "memberOf"/"member" group mappers, and
// eduPerson's isMemberOf (SimpleSAMLphp, Shibboleth) by name and by OID.
func defaultSAMLAttributes() SAMLAttributes {
	return SAMLAttributes{
		Groups: []string{
			"groups",
			"http://schemas.microsoft.com/ws/2008/06/identity/claims/groups",
			"http://schemas.xmlsoap.org/claims/Group",
			"memberOf",
			"member",
			"isMemberOf",
			"urn:oid:1.3.6.1.4.1.5923.1.5.1.1",
		},
		Email: []string{
			"email",
			"mail",
			"urn:oid:0.9.2342.19200300.100.1.3",
			"http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress",
			"urn:oid:1.2.840.113549.1.9.1",
		},
		DisplayName: []string{
			"displayName",
			"urn:oid:2.16.840.1.113730.3.1.241",
			"http://schemas.microsoft.com/identity/claims/displayname",
			"name",
			"cn",
			"urn:oid:2.5.4.3",
		},
	}
}

// Enabled reports whether the SP is configured: at least one IdP.
func (c *SAMLConfig) Enabled() bool { return len(c.IdPs) > 0 }

// idpName is what a short IdP name may look like (it appears in URLs).
var idpName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// validate reports problems with the saml section through bad(path, ...).
// cookieName is sessions.cookie_name, which must suit base_url's scheme.
func (c *SAMLConfig) validate(bad badFunc, cookieName string) {
	if !strings.HasPrefix(c.LoginURL, "/") || strings.HasPrefix(c.LoginURL, "//") {
		bad("saml.login_url", "must be a path starting with /")
	}
	for _, d := range []struct {
		path string
		v    time.Duration
	}{{"saml.session_lifetime", c.SessionLifetime}, {"saml.request_ttl", c.RequestTTL}} {
		if d.v <= 0 {
			bad(d.path, "must be positive")
		}
	}
	if c.TokenLifetime < time.Minute || c.TokenLifetime > 24*time.Hour {
		bad("saml.token_lifetime", "must be between 1m and 24h")
	}
	if c.RefreshLifetime != 0 && c.RefreshLifetime < c.TokenLifetime {
		bad("saml.refresh_lifetime", "must be 0 (until the sign-in ends) or at least token_lifetime")
	}
	if c.MaxRotationsPerMinute < 1 || c.MaxRotationsPerMinute > 600 {
		bad("saml.max_rotations_per_minute", "must be between 1 and 600")
	}
	if c.Skew < 0 || c.Skew > 10*time.Minute {
		bad("saml.skew", "must be between 0 and 10m")
	}
	if c.NameIDFormat == "" {
		bad("saml.name_id_format", "must not be empty")
	}
	for _, h := range c.ReturnToHosts {
		if u, err := url.Parse("https://" + h); h == "" || err != nil || u.Host != h || u.User != nil {
			bad("saml.return_to_hosts", "%q is not host or host:port (no scheme or path)", h)
		}
	}
	if c.EntityID != "" {
		if strings.TrimSpace(c.EntityID) != c.EntityID || len(c.EntityID) > 1024 {
			bad("saml.entity_id", "must be a URI without surrounding spaces, at most 1024 characters")
		}
	}
	if c.BindingSecret != "" && len(c.BindingSecret) < 32 {
		bad("saml.binding_secret", "must be at least 32 characters (e.g. openssl rand -base64 32), or empty for a random one per process")
	}
	if c.MaxResponseBytes < 16<<10 || c.MaxResponseBytes > 16<<20 {
		bad("saml.max_response_bytes", "must be between 16384 (16 KiB) and 16777216 (16 MiB)")
	} else if c.MaxFormBytes < 3*int64(c.MaxResponseBytes) || c.MaxFormBytes > 64<<20 {
		bad("saml.max_form_bytes", "must be at least 3 × max_response_bytes (form encoding can triple base64) and at most 67108864 (64 MiB)")
	}
	c.validateKeys(bad)
	c.validateIdPs(bad)
	if c.Enabled() || c.BaseURL != "" {
		c.validateBaseURL(bad, cookieName)
	}
}

// validateBaseURL requires an https origin, or an http one on loopback
// with a cookie name browsers accept without Secure.
func (c *SAMLConfig) validateBaseURL(bad badFunc, cookieName string) {
	u, err := url.Parse(c.BaseURL)
	if c.BaseURL == "" || err != nil || u.Host == "" || u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		bad("saml.base_url", "%q must be the external origin browsers use, e.g. https://serving.example.com (required when idps are set)", c.BaseURL)
		return
	}
	switch u.Scheme {
	case "https":
		if !strings.HasPrefix(cookieName, "__Host-") {
			bad("sessions.cookie_name", "%q must start with __Host- with an https saml.base_url", cookieName)
		}
	case "http":
		if !isLoopback(u.Hostname()) {
			bad("saml.base_url", "http is only for development on a loopback host; use https")
		}
		if strings.HasPrefix(cookieName, "__Host-") || strings.HasPrefix(cookieName, "__Secure-") {
			bad("sessions.cookie_name", "%q needs Secure cookies, which an http saml.base_url cannot have; use a name without the prefix, e.g. tfgate", cookieName)
		}
	default:
		bad("saml.base_url", "must be https (or http on loopback for development)")
	}
}

// isLoopback reports whether host is localhost or a loopback IP.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// validateKeys loads key_file and cert_file, so that config check reports
// a bad key before a deployment does.
func (c *SAMLConfig) validateKeys(bad badFunc) {
	if (c.KeyFile == "") != (c.CertFile == "") {
		bad("saml.key_file", "key_file and cert_file go together")
		return
	}
	if c.SignRequests && c.KeyFile == "" {
		bad("saml.sign_requests", "needs key_file and cert_file")
	}
	if c.KeyFile == "" {
		return
	}
	if _, _, err := loadSPKeyPair(c.KeyFile, c.CertFile); err != nil {
		bad("saml.key_file", "%v", err)
	}
}

// validateIdPs checks every idps entry.
func (c *SAMLConfig) validateIdPs(bad badFunc) {
	names, defaults := map[string]bool{}, 0
	for i, idp := range c.IdPs {
		p := fmt.Sprintf("saml.idps[%d]", i)
		if idp.Name == "" {
			bad(p+".name", "is missing: give the IdP a short name of a-z, 0-9, - and _ (it appears in /saml/login?idp=NAME)")
		} else if !idpName.MatchString(idp.Name) {
			bad(p+".name", "%q must be a short name of a-z, 0-9, - and _ (it appears in /saml/login?idp=NAME)", idp.Name)
		} else if names[idp.Name] {
			bad(p+".name", "%q is used twice", idp.Name)
		}
		names[idp.Name] = true
		if idp.Default {
			defaults++
		}
		idp.validateSource(bad, p)
		for _, pin := range idp.MetadataPins {
			if b, err := hex.DecodeString(strings.ReplaceAll(pin, ":", "")); err != nil || len(b) != 32 {
				bad(p+".metadata_pins", "%q is not a SHA-256 fingerprint (64 hex digits, colons optional)", pin)
			}
		}
		if idp.RefreshInterval < 0 || (idp.RefreshInterval > 0 && idp.RefreshInterval < time.Minute) {
			bad(p+".refresh_interval", "must be 0 (1h) or at least 1m")
		}
		if a := idp.IdPInitiatedMaxAge; a != 0 && (a < 30*time.Second || a > 10*time.Minute) {
			bad(p+".idp_initiated_max_age", "must be between 30s and 10m (0: 3m)")
		}
	}
	if defaults > 1 {
		bad("saml.idps", "only one IdP can be the default")
	}
}

// validateSource checks where an IdP's metadata comes from.
func (idp *IdPConfig) validateSource(bad badFunc, p string) {
	switch {
	case (idp.MetadataFile == "") == (idp.MetadataURL == ""):
		bad(p, "needs exactly one of metadata_file and metadata_url")
	case idp.MetadataFile != "":
		if st, err := os.Stat(idp.MetadataFile); err != nil || st.IsDir() {
			bad(p+".metadata_file", "%q is not a readable file", idp.MetadataFile)
		}
		if idp.CacheFile != "" {
			bad(p+".cache_file", "is only for metadata_url")
		}
	default:
		if u, err := url.Parse(idp.MetadataURL); err != nil || u.Scheme != "https" || u.Host == "" {
			bad(p+".metadata_url", "%q must be an https URL", idp.MetadataURL)
		}
	}
}

// loadSPKeyPair reads an RSA key (PKCS#8 or PKCS#1 PEM) and its
// certificate, and checks that they match.
func loadSPKeyPair(keyFile, certFile string) (*rsa.PrivateKey, *x509.Certificate, error) {
	kb, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, nil, err
	}
	cb, err := os.ReadFile(certFile)
	if err != nil {
		return nil, nil, err
	}
	kblock, _ := pem.Decode(kb)
	cblock, _ := pem.Decode(cb)
	if kblock == nil || cblock == nil {
		return nil, nil, errors.New("key_file and cert_file must be PEM")
	}
	key, err := parseRSAKey(kblock.Bytes)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", keyFile, err)
	}
	cert, err := x509.ParseCertificate(cblock.Bytes)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", certFile, err)
	}
	if !key.PublicKey.Equal(cert.PublicKey) {
		return nil, nil, fmt.Errorf("%s is not the certificate of %s", certFile, keyFile)
	}
	return key, cert, nil
}

// parseRSAKey parses a PKCS#8 or PKCS#1 RSA private key.
func parseRSAKey(der []byte) (*rsa.PrivateKey, error) {
	if k, err := x509.ParsePKCS1PrivateKey(der); err == nil {
		return k, nil
	}
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, errors.New("not a PKCS#8 or PKCS#1 private key")
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, errors.New("not an RSA key (XML Encryption and the redirect binding's signatures here use RSA)")
	}
	return rk, nil
}
