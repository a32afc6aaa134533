package kubejwt

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// MaxTokenBytes caps a token; projected service-account tokens are about
// 1 KiB.
const MaxTokenBytes = 16 << 10

// algorithms are the only signature algorithms accepted. Kubernetes signs
// with RS256 (or ES256 with an EC service-account key); "none" and the
// HMAC family are refused before any key is looked at, which closes the
// "HS256 keyed with the public key" confusion.
var algorithms = []jose.SignatureAlgorithm{jose.RS256, jose.ES256}

// Config configures a Verifier. Exactly one of DiscoveryURL, JWKSURL and
// JWKSFile says where the keys are.
type Config struct {
	// Issuer is the exact "iss" of the cluster's tokens
	// (`kubectl get --raw /.well-known/openid-configuration`). Required.
	Issuer string
	// Audiences: a token's "aud" must name one. Required.
	Audiences []string
	// DiscoveryURL is the issuer's OIDC discovery document, whose jwks_uri
	// names the keys. default: "".
	DiscoveryURL string
	// JWKSURL is the JWKS itself. default: "".
	JWKSURL string
	// JWKSFile is a file holding the JWKS, read again on every refresh.
	// default: "".
	JWKSFile string
	// BearerTokenFile, when set, is sent as a bearer token when fetching
	// over HTTP (the API server's endpoints may need one). default: "".
	BearerTokenFile string
	// CAFile, when set, holds the PEM CA certificates that HTTPS fetches
	// trust instead of the system's (the cluster CA, for the API server's
	// endpoints). Ignored with HTTPClient. default: "".
	CAFile string
	// Refresh is how often the keys are fetched again. default: 10m.
	Refresh time.Duration
	// MinRefresh is the least time between two fetches, however many
	// unknown kids arrive. default: 30s.
	MinRefresh time.Duration
	// Leeway is the clock skew allowed on exp, nbf and iat. default: 30s.
	Leeway time.Duration
	// FetchTimeout bounds one fetch. default: 10s.
	FetchTimeout time.Duration
	// HTTPClient fetches. default: a client with FetchTimeout.
	HTTPClient *http.Client
	// Now is the clock. default: time.Now.
	Now func() time.Time
	// Logger receives key-fetch failures. default: slog.Default().
	Logger *slog.Logger
}

// ServiceAccount is a verified token's identity.
type ServiceAccount struct {
	// Subject is "system:serviceaccount:<namespace>:<name>".
	Subject string
	// Namespace and Name are the service account's.
	Namespace, Name string
	// Issuer is the token's "iss".
	Issuer string
	// Expiry is the token's "exp".
	Expiry time.Time
}

// Verifier verifies service-account tokens. It is safe for concurrent use.
type Verifier struct {
	cfg  Config
	keys *keySet
}

// New returns a Verifier for cfg. It fetches nothing until the first
// Verify.
func New(cfg Config) (*Verifier, error) {
	if cfg.Issuer == "" || len(cfg.Audiences) == 0 {
		return nil, fmt.Errorf("%w: issuer and audiences are required", ErrConfig)
	}
	n := 0
	for _, s := range []string{cfg.DiscoveryURL, cfg.JWKSURL, cfg.JWKSFile} {
		if s != "" {
			n++
		}
	}
	if n != 1 {
		return nil, fmt.Errorf("%w: set exactly one of discovery_url, jwks_url and jwks_file", ErrConfig)
	}
	if cfg.Refresh <= 0 {
		cfg.Refresh = 10 * time.Minute
	}
	if cfg.MinRefresh <= 0 {
		cfg.MinRefresh = 30 * time.Second
	}
	if cfg.Leeway < 0 {
		return nil, fmt.Errorf("%w: leeway must not be negative", ErrConfig)
	}
	if cfg.Leeway == 0 {
		cfg.Leeway = 30 * time.Second
	}
	if cfg.FetchTimeout <= 0 {
		cfg.FetchTimeout = 10 * time.Second
	}
	if cfg.HTTPClient == nil {
		c, err := httpClient(cfg.CAFile, cfg.FetchTimeout)
		if err != nil {
			return nil, err
		}
		cfg.HTTPClient = c
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Verifier{cfg: cfg, keys: &keySet{cfg: cfg}}, nil
}

// k8sClaims is the Kubernetes part of a service-account token.
type k8sClaims struct {
	Kubernetes *struct {
		Namespace      string `json:"namespace"`
		ServiceAccount struct {
			Name string `json:"name"`
		} `json:"serviceaccount"`
	} `json:"kubernetes.io"`
}

// Verify checks raw and returns the service account it was issued to.
// Every refusal wraps one of the sentinel errors; ErrUnavailable means it
// could not decide.
func (v *Verifier) Verify(ctx context.Context, raw string) (ServiceAccount, error) {
	if len(raw) > MaxTokenBytes || strings.Count(raw, ".") != 2 {
		return ServiceAccount{}, ErrMalformed
	}
	tok, err := jwt.ParseSigned(raw, algorithms)
	if err != nil {
		var alg *jose.ErrUnexpectedSignatureAlgorithm
		if errors.As(err, &alg) {
			return ServiceAccount{}, ErrAlgorithm
		}
		return ServiceAccount{}, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if len(tok.Headers) != 1 {
		return ServiceAccount{}, ErrMalformed
	}
	key, err := v.keys.key(ctx, tok.Headers[0].KeyID)
	if err != nil {
		return ServiceAccount{}, err
	}
	if !keyFits(key, tok.Headers[0].Algorithm) {
		return ServiceAccount{}, ErrAlgorithm
	}
	var (
		std jwt.Claims
		k8s k8sClaims
	)
	if err := tok.Claims(key.Key, &std, &k8s); err != nil {
		return ServiceAccount{}, fmt.Errorf("%w: %w", ErrSignature, err)
	}
	return v.check(std, k8s)
}

// keyFits reports whether key may verify alg: an RSA key for RS256, an EC
// key for ES256, and the JWK's own "alg" (when it has one) the same.
func keyFits(key *jose.JSONWebKey, alg string) bool {
	if key.Algorithm != "" && key.Algorithm != alg {
		return false
	}
	switch alg {
	case string(jose.RS256):
		return isRSA(key.Key)
	case string(jose.ES256):
		return isEC(key.Key)
	}
	return false
}

func (v *Verifier) check(std jwt.Claims, k8s k8sClaims) (ServiceAccount, error) {
	err := std.ValidateWithLeeway(jwt.Expected{
		Issuer: v.cfg.Issuer, AnyAudience: v.cfg.Audiences, Time: v.cfg.Now(),
	}, v.cfg.Leeway)
	switch {
	case errors.Is(err, jwt.ErrInvalidIssuer):
		return ServiceAccount{}, ErrIssuer
	case errors.Is(err, jwt.ErrInvalidAudience):
		return ServiceAccount{}, ErrAudience
	case errors.Is(err, jwt.ErrExpired):
		return ServiceAccount{}, ErrExpired
	case errors.Is(err, jwt.ErrNotValidYet), errors.Is(err, jwt.ErrIssuedInTheFuture):
		return ServiceAccount{}, ErrNotYetValid
	case err != nil:
		return ServiceAccount{}, fmt.Errorf("%w: %w", ErrMalformed, err)
	case std.Expiry == nil:
		// go-jose skips a missing exp; a token that never expires is not
		// one Kubernetes issues.
		return ServiceAccount{}, ErrExpired
	}
	sa, ok := parseSubject(std.Subject)
	if !ok {
		return ServiceAccount{}, ErrNotServiceAccount
	}
	if k := k8s.Kubernetes; k != nil && (k.Namespace != sa.Namespace || k.ServiceAccount.Name != sa.Name) {
		return ServiceAccount{}, ErrNotServiceAccount
	}
	sa.Issuer, sa.Expiry = std.Issuer, std.Expiry.Time().UTC()
	return sa, nil
}

// parseSubject splits "system:serviceaccount:<namespace>:<name>".
func parseSubject(sub string) (ServiceAccount, bool) {
	rest, ok := strings.CutPrefix(sub, "system:serviceaccount:")
	if !ok {
		return ServiceAccount{}, false
	}
	ns, name, ok := strings.Cut(rest, ":")
	if !ok || !dnsLabel(ns) || !dnsSubdomain(name) {
		return ServiceAccount{}, false
	}
	return ServiceAccount{Subject: sub, Namespace: ns, Name: name}, true
}

// dnsLabel is a Kubernetes namespace name (RFC 1123 label).
func dnsLabel(s string) bool {
	if s == "" || len(s) > 63 || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for i := range len(s) {
		c := s[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// dnsSubdomain is a service-account name (RFC 1123 subdomain).
func dnsSubdomain(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for part := range strings.SplitSeq(s, ".") {
		if !dnsLabel(part) {
			return false
		}
	}
	return true
}
