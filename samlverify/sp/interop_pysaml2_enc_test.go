package sp

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tfgate/tfgate/internal/pysaml2idp"
	"github.com/tfgate/tfgate/samlverify"
)

// TestPysaml2EncryptedAssertion: Debian's pysaml2 (through xmlsec1)
// encrypts the assertion for the encryption certificate in tfgate's
// metadata, the content key transported with RSA-OAEP. AES-GCM is accepted
// whether or not the Response around it is signed, as long as a signature
// by the IdP covers the assertion; AES-CBC only inside a signed Response.
func TestPysaml2EncryptedAssertion(t *testing.T) {
	t.Parallel()
	if err := pysaml2idp.Available(); err != nil {
		t.Fatal(err) // the error says: apt-get install -y python3-pysaml2 xmlsec1
	}
	const (
		gcm128 = "http://www.w3.org/2009/xmlenc11#aes128-gcm"
		gcm256 = "http://www.w3.org/2009/xmlenc11#aes256-gcm"
		cbc128 = "http://www.w3.org/2001/04/xmlenc#aes128-cbc"
	)
	cases := []struct {
		name    string
		opts    pysaml2idp.ResponseOptions
		alg     string
		advice  []string // empty: accepted
		refusal string   // the log's detail when refused
	}{
		{name: "AES-128-GCM in a signed response with a signed assertion", alg: gcm128,
			opts: pysaml2idp.ResponseOptions{Encrypt: pysaml2idp.EncryptAES128GCM}},
		{name: "AES-256-GCM in a signed response with a signed assertion", alg: gcm256,
			opts: pysaml2idp.ResponseOptions{Encrypt: pysaml2idp.EncryptAES256GCM}},
		// GCM authenticates the ciphertext, so it is decrypted in an
		// unsigned Response; the assertion's own signature then vouches.
		{name: "AES-128-GCM in an unsigned response with a signed assertion", alg: gcm128,
			opts: pysaml2idp.ResponseOptions{Encrypt: pysaml2idp.EncryptAES128GCM, UnsignedResponse: true}},
		{name: "AES-128-CBC inside a signed response", alg: cbc128,
			opts: pysaml2idp.ResponseOptions{Encrypt: pysaml2idp.EncryptAES128CBC, UnsignedAssertion: true}},
		{name: "AES-128-CBC inside an unsigned response is refused", alg: cbc128,
			opts:    pysaml2idp.ResponseOptions{Encrypt: pysaml2idp.EncryptAES128CBC, UnsignedResponse: true},
			advice:  []string{"AES-CBC inside an unsigned Response", "encrypt with AES-GCM", "sign the whole Response"},
			refusal: "AES-CBC assertion in an unsigned Response"},
		{name: "AES-128-GCM with nothing signed is refused", alg: gcm128,
			opts:    pysaml2idp.ResponseOptions{Encrypt: pysaml2idp.EncryptAES128GCM, UnsignedResponse: true, UnsignedAssertion: true},
			advice:  []string{"Neither the Response nor the assertion is signed", "sign the assertion, the Response, or both"},
			refusal: "neither Response nor assertion is signed"},
	}
	for _, tc := range cases {
		// No commas in names: the test's TempDir holds pysaml2's key file,
		// and xmlsec1 reads a comma in --privkey-pem as a list separator.
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sp, idp := pysaml2EncSP(t)
			b := newBrowser(t)
			resp, _ := b.get(sp.base + LoginPath + "?return_to=" + url.QueryEscape("/v1/models/half_plus_two:predict"))
			loc := location(t, resp)
			user := pysaml2idp.User{ID: "alice", Name: "Alice Engineer", Email: "alice@example.com", Groups: []string{"ml-engineers", "resnet-users"}}
			samlResponse, err := idp.Respond(loc, user, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			checkEncrypted(t, samlResponse, tc.alg, !tc.opts.UnsignedResponse)
			u, _ := url.Parse(loc)
			resp, page := b.post(sp.base+ACSPath, url.Values{"SAMLResponse": {samlResponse}, "RelayState": {u.Query().Get("RelayState")}}, "")
			if len(tc.advice) > 0 {
				mustEqual(t, "ACS status", resp.StatusCode, http.StatusForbidden)
				if !strings.Contains(sp.logs.String(), tc.refusal) {
					t.Errorf("the log does not give the cause %q:\n%s", tc.refusal, sp.logs)
				}
				mustAdvise(t, page, sp.logs.String(), tc.advice...)
				code, _ := whoamiOf(t, b, sp.base)
				mustEqual(t, "whoami", code, 401)
				return
			}
			if resp.StatusCode != http.StatusSeeOther {
				t.Fatalf("ACS: %d\n%s\nlog: %s", resp.StatusCode, page, sp.logs)
			}
			mustEqual(t, "return_to", location(t, resp), sp.base+"/v1/models/half_plus_two:predict")
			mustBeAlice(t, b, sp.base, idp.EntityID())
		})
	}
}

// pysaml2EncSP is an SP on loopback with the test key pair (so its
// metadata publishes an encryption certificate and it can decrypt),
// trusting a pysaml2 IdP that has that metadata.
func pysaml2EncSP(t *testing.T) (*liveSP, *pysaml2idp.IdP) {
	t.Helper()
	ln, base := listenSP(t)
	key, cert := testKeyPair(t)
	withKey := func(c *Config) { c.Key, c.Cert = key, cert }
	placeholder := newLiveSP(t, base, idpSetFrom(t, mustDevMetadata(t)), withKey)
	idp := pysaml2idp.New(t, pysaml2idp.Config{SPMetadata: placeholder.h.Metadata()})
	set := idpSetFrom(t, idp.Metadata())
	store := newFakeStore(time.Now)
	logs := &lockedBuffer{}
	cfg := Config{
		BaseURL: base, Insecure: true, CookieName: "tfgate", IdPs: set, IdPNames: map[string]string{},
		Sessions: store, Tokens: store, Logger: slogTo(logs), Key: key, Cert: cert,
	}
	v, err := samlverify.New(samlverify.Config{
		SPEntityID: base + MetadataPath, ACSURL: base + ACSPath,
		Attributes: samlverify.AttributeMap{
			Groups: []string{"groups"}, Email: []string{"mail", "urn:oid:0.9.2342.19200300.100.1.3"},
			DisplayName: []string{"displayName", "urn:oid:2.16.840.1.113730.3.1.241"},
		},
		DecryptionKey: key, DecryptionCert: cert,
	}, set, store)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Verifier = v
	h, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s := &liveSP{base: base, h: h, store: store, logs: logs}
	s.serve(t, ln)
	return s, idp
}

// checkEncrypted fails unless samlResponse carries its assertion only as an
// EncryptedAssertion with content algorithm alg and RSA-OAEP key transport,
// and is signed as responseSigned says.
func checkEncrypted(t *testing.T, samlResponse, alg string, responseSigned bool) {
	t.Helper()
	raw, err := base64.StdEncoding.DecodeString(samlResponse)
	if err != nil {
		t.Fatal(err)
	}
	x := string(raw)
	for _, want := range []string{"EncryptedAssertion", `Algorithm="` + alg + `"`, `Algorithm="http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p"`} {
		if !strings.Contains(x, want) {
			t.Fatalf("pysaml2's Response lacks %s:\n%s", want, x)
		}
	}
	if strings.Contains(x, "alice@example.com") || strings.Contains(x, "ml-engineers") {
		t.Fatalf("attributes in clear text:\n%s", x)
	}
	if got := strings.Contains(x, "SignatureValue"); got != responseSigned {
		t.Fatalf("Response signature present %v, want %v:\n%s", got, responseSigned, x)
	}
}
