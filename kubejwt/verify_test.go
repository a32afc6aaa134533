package kubejwt

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

func TestVerifyAccepts(t *testing.T) {
	is := newIssuer(t)
	v := newVerifier(t, is, nil)
	for name, alg := range map[string]jose.SignatureAlgorithm{"RS256": jose.RS256, "ES256": jose.ES256} {
		t.Run(name, func(t *testing.T) {
			kid := "rsa-1"
			if alg == jose.ES256 {
				kid = "ec-1"
			}
			sa, err := v.Verify(context.Background(), is.sign(t, alg, kid, validClaims()))
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			want := ServiceAccount{Subject: testSubject, Namespace: "batch", Name: "scorer", Issuer: testIssuer, Expiry: testNow.Add(time.Hour)}
			if sa != want {
				t.Fatalf("got %+v, want %+v", sa, want)
			}
		})
	}
}

func TestVerifyRefuses(t *testing.T) {
	is := newIssuer(t)
	v := newVerifier(t, is, nil)
	with := func(f func(*claims)) claims {
		c := validClaims()
		f(&c)
		return c
	}
	otherRSA := newIssuer(t).rsaKey
	tests := map[string]struct {
		token string
		want  error
	}{
		"expired": {is.sign(t, jose.RS256, "rsa-1", with(func(c *claims) {
			c.Expiry = jwt.NewNumericDate(testNow.Add(-time.Hour))
		})), ErrExpired},
		"no exp": {is.sign(t, jose.RS256, "rsa-1", with(func(c *claims) { c.Expiry = nil })), ErrExpired},
		"not yet valid": {is.sign(t, jose.RS256, "rsa-1", with(func(c *claims) {
			c.NotBefore = jwt.NewNumericDate(testNow.Add(time.Hour))
		})), ErrNotYetValid},
		"wrong audience": {is.sign(t, jose.RS256, "rsa-1", with(func(c *claims) {
			c.Audience = jwt.Audience{"https://kubernetes.default.svc"}
		})), ErrAudience},
		"wrong issuer": {is.sign(t, jose.RS256, "rsa-1", with(func(c *claims) {
			c.Issuer = "https://evil.example"
		})), ErrIssuer},
		"alg none": {handMade(t, map[string]any{"alg": "none", "typ": "JWT", "kid": "rsa-1"}, validClaims(),
			func([]byte) []byte { return nil }), ErrAlgorithm},
		"HS256 with the public key": {hs256WithPublicKey(t, &is.rsaKey.PublicKey, validClaims()), ErrAlgorithm},
		"unknown kid":               {is.sign(t, jose.RS256, "rsa-9", validClaims()), ErrUnknownKey},
		"no kid":                    {is.sign(t, jose.RS256, "", validClaims()), ErrUnknownKey},
		"signed by another key":     {signWith(t, jose.RS256, otherRSA, "rsa-1", validClaims()), ErrSignature},
		"RS256 naming the EC key":   {is.sign(t, jose.RS256, "ec-1", validClaims()), ErrAlgorithm},
		"not a service account": {is.sign(t, jose.RS256, "rsa-1", with(func(c *claims) {
			c.Subject = "alice@example.com"
		})), ErrNotServiceAccount},
		"kubernetes.io disagrees with sub": {is.sign(t, jose.RS256, "rsa-1", with(func(c *claims) {
			c.K8s["namespace"] = "prod"
		})), ErrNotServiceAccount},
		"garbage":   {"not-a-jwt", ErrMalformed},
		"too large": {strings.Repeat("a.", MaxTokenBytes/2) + "a", ErrMalformed},
		"JWE shape": {"a.b.c.d.e", ErrMalformed},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := v.Verify(context.Background(), tc.token)
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if strings.Contains(err.Error(), tc.token[:min(len(tc.token), 20)]) && len(tc.token) > 20 {
				t.Fatalf("error quotes the token: %v", err)
			}
		})
	}
}

func TestKeyRotation(t *testing.T) {
	is := newIssuer(t)
	now := testNow
	v := newVerifier(t, is, func(c *Config) {
		c.Now = func() time.Time { return now }
		c.MinRefresh = time.Second
	})
	ctx := context.Background()
	if _, err := v.Verify(ctx, is.sign(t, jose.RS256, "rsa-1", validClaims())); err != nil {
		t.Fatal(err)
	}
	k2, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tok := signWith(t, jose.ES256, k2, "ec-2", validClaims())
	is.addKey(jose.JSONWebKey{Key: &k2.PublicKey, KeyID: "ec-2", Algorithm: "ES256", Use: "sig"})
	now = now.Add(2 * time.Second)
	if _, err := v.Verify(ctx, tok); err != nil {
		t.Fatalf("a key rotated in after the first fetch: %v", err)
	}
}

func TestUnknownKidFetchesAtMostEveryMinRefresh(t *testing.T) {
	is := newIssuer(t)
	v := newVerifier(t, is, func(c *Config) { c.MinRefresh = time.Hour })
	ctx := context.Background()
	for range 5 {
		if _, err := v.Verify(ctx, is.sign(t, jose.RS256, "nope", validClaims())); !errors.Is(err, ErrUnknownKey) {
			t.Fatalf("got %v", err)
		}
	}
	if n := is.fetches.Load(); n != 1 {
		t.Fatalf("%d fetches for five unknown kids, want 1", n)
	}
}

func TestUnavailableKeys(t *testing.T) {
	is := newIssuer(t)
	now := testNow
	v := newVerifier(t, is, func(c *Config) {
		c.Now = func() time.Time { return now }
		c.Refresh, c.MinRefresh = time.Minute, time.Second
	})
	ctx := context.Background()
	tok := is.sign(t, jose.RS256, "rsa-1", validClaims())

	is.setFail(true)
	if _, err := v.Verify(ctx, tok); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("no keys ever fetched: got %v, want ErrUnavailable", err)
	}
	is.setFail(false)
	now = now.Add(2 * time.Second)
	if _, err := v.Verify(ctx, tok); err != nil {
		t.Fatalf("after the issuer recovered: %v", err)
	}
	// Stale keys stay in use while the issuer is down.
	is.setFail(true)
	now = now.Add(2 * time.Minute)
	if _, err := v.Verify(ctx, tok); err != nil {
		t.Fatalf("cached keys while the issuer is down: %v", err)
	}
}

func TestJWKSFileAndURL(t *testing.T) {
	is := newIssuer(t)
	b, _ := json.Marshal(jose.JSONWebKeySet{Keys: is.public})
	file := filepath.Join(t.TempDir(), "jwks.json")
	if err := os.WriteFile(file, b, 0o600); err != nil {
		t.Fatal(err)
	}
	tok := is.sign(t, jose.ES256, "ec-1", validClaims())
	for name, mod := range map[string]func(*Config){
		"file": func(c *Config) { c.DiscoveryURL, c.JWKSFile = "", file },
		"url":  func(c *Config) { c.DiscoveryURL, c.JWKSURL = "", is.srv.URL+"/openid/v1/jwks" },
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := newVerifier(t, is, mod).Verify(context.Background(), tok); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestDiscoveryIssuerMustMatch(t *testing.T) {
	is := newIssuer(t)
	v := newVerifier(t, is, func(c *Config) { c.Issuer = "https://other.example"; c.Audiences = []string{testAudience} })
	_, err := v.Verify(context.Background(), is.sign(t, jose.RS256, "rsa-1", validClaims()))
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("got %v, want ErrUnavailable (discovery names another issuer)", err)
	}
}

func TestNewRefusesBadConfig(t *testing.T) {
	for name, cfg := range map[string]Config{
		"no issuer":    {Audiences: []string{"a"}, JWKSFile: "f"},
		"no audience":  {Issuer: "i", JWKSFile: "f"},
		"no source":    {Issuer: "i", Audiences: []string{"a"}},
		"two sources":  {Issuer: "i", Audiences: []string{"a"}, JWKSFile: "f", JWKSURL: "u"},
		"negative lee": {Issuer: "i", Audiences: []string{"a"}, JWKSFile: "f", Leeway: -1},
	} {
		if _, err := New(cfg); !errors.Is(err, ErrConfig) {
			t.Errorf("%s: got %v, want ErrConfig", name, err)
		}
	}
}

// TestCAFile: a TLS issuer is trusted through CAFile and not without it.
func TestCAFile(t *testing.T) {
	is := newIssuer(t)
	tlsSrv := httptest.NewTLSServer(is.srv.Config.Handler)
	t.Cleanup(tlsSrv.Close)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: tlsSrv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	tok := is.sign(t, jose.RS256, "rsa-1", validClaims())
	trusted := newVerifier(t, is, func(c *Config) { c.DiscoveryURL, c.JWKSURL, c.CAFile = "", tlsSrv.URL+"/openid/v1/jwks", ca })
	if _, err := trusted.Verify(context.Background(), tok); err != nil {
		t.Fatalf("with ca_file: %v", err)
	}
	untrusted := newVerifier(t, is, func(c *Config) { c.DiscoveryURL, c.JWKSURL = "", tlsSrv.URL+"/openid/v1/jwks" })
	if _, err := untrusted.Verify(context.Background(), tok); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("without ca_file: %v, want ErrUnavailable", err)
	}
}
