package kubejwt

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

const (
	testIssuer   = "https://kubernetes.default.svc.cluster.local"
	testAudience = "tfgate"
	testSubject  = "system:serviceaccount:batch:scorer"
)

// testNow is the pinned clock of every test.
var testNow = time.Date(2026, 12, 5, 9, 0, 0, 0, time.UTC)

// issuer is a cluster issuer for tests: signing keys and an OIDC
// discovery + JWKS server on loopback.
type issuer struct {
	rsaKey *rsa.PrivateKey
	ecKey  *ecdsa.PrivateKey
	srv    *httptest.Server

	mu      sync.Mutex
	public  []jose.JSONWebKey
	fail    bool
	fetches atomic.Int32
}

func newIssuer(tb testing.TB) *issuer {
	tb.Helper()
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		tb.Fatal(err)
	}
	ek, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	is := &issuer{rsaKey: rk, ecKey: ek}
	is.public = []jose.JSONWebKey{
		{Key: &rk.PublicKey, KeyID: "rsa-1", Algorithm: "RS256", Use: "sig"},
		{Key: &ek.PublicKey, KeyID: "ec-1", Algorithm: "ES256", Use: "sig"},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]string{"issuer": testIssuer, "jwks_uri": is.srv.URL + "/openid/v1/jwks"})
	})
	mux.HandleFunc("/openid/v1/jwks", func(w http.ResponseWriter, r *http.Request) {
		is.fetches.Add(1)
		is.mu.Lock()
		defer is.mu.Unlock()
		if is.fail {
			http.Error(w, "down", http.StatusInternalServerError)
			return
		}
		_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: is.public})
	})
	is.srv = httptest.NewServer(mux)
	tb.Cleanup(is.srv.Close)
	return is
}

func (is *issuer) setFail(v bool) {
	is.mu.Lock()
	is.fail = v
	is.mu.Unlock()
}

func (is *issuer) addKey(k jose.JSONWebKey) {
	is.mu.Lock()
	is.public = append(is.public, k)
	is.mu.Unlock()
}

// claims are a valid token's claims; tests change what they test.
type claims struct {
	jwt.Claims
	K8s map[string]any `json:"kubernetes.io,omitempty"`
}

func validClaims() claims {
	return claims{
		Claims: jwt.Claims{
			Issuer: testIssuer, Subject: testSubject, Audience: jwt.Audience{testAudience},
			Expiry:    jwt.NewNumericDate(testNow.Add(time.Hour)),
			NotBefore: jwt.NewNumericDate(testNow.Add(-time.Minute)),
			IssuedAt:  jwt.NewNumericDate(testNow.Add(-time.Minute)),
		},
		K8s: map[string]any{"namespace": "batch", "serviceaccount": map[string]any{"name": "scorer", "uid": "u-1"}},
	}
}

// sign signs c with the issuer's key of alg, naming kid.
func (is *issuer) sign(tb testing.TB, alg jose.SignatureAlgorithm, kid string, c claims) string {
	tb.Helper()
	var key any = is.rsaKey
	if alg == jose.ES256 {
		key = is.ecKey
	}
	return signWith(tb, alg, key, kid, c)
}

func signWith(tb testing.TB, alg jose.SignatureAlgorithm, key any, kid string, c claims) string {
	tb.Helper()
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", kid))
	if err != nil {
		tb.Fatal(err)
	}
	raw, err := jwt.Signed(s).Claims(c).Serialize()
	if err != nil {
		tb.Fatal(err)
	}
	return raw
}

// handMade builds a compact JWS from a header and claims, signed by sig
// over "header.payload": for the algorithms go-jose refuses to produce.
func handMade(tb testing.TB, header map[string]any, c claims, sig func([]byte) []byte) string {
	tb.Helper()
	h, _ := json.Marshal(header)
	p, _ := json.Marshal(c)
	in := base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(p)
	return in + "." + base64.RawURLEncoding.EncodeToString(sig([]byte(in)))
}

// hs256WithPublicKey is the classic confusion attack: an HMAC keyed with
// the bytes of the issuer's public key, which an attacker knows.
func hs256WithPublicKey(tb testing.TB, pub crypto.PublicKey, c claims) string {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		tb.Fatal(err)
	}
	return handMade(tb, map[string]any{"alg": "HS256", "typ": "JWT", "kid": "rsa-1"}, c, func(in []byte) []byte {
		m := hmac.New(sha256.New, der)
		m.Write(in)
		return m.Sum(nil)
	})
}

func newVerifier(tb testing.TB, is *issuer, mod func(*Config)) *Verifier {
	tb.Helper()
	cfg := Config{
		Issuer: testIssuer, Audiences: []string{testAudience},
		DiscoveryURL: is.srv.URL + "/.well-known/openid-configuration",
		Now:          func() time.Time { return testNow },
		Logger:       slog.New(slog.DiscardHandler),
	}
	if mod != nil {
		mod(&cfg)
	}
	v, err := New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return v
}
