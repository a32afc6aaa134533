package pysaml2idp

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"
)

var alice = User{ID: "alice", Name: "Alice Engineer", Email: "alice@example.com", Groups: []string{"ml-engineers", "resnet-users"}}

const (
	oidMail        = "urn:oid:0.9.2342.19200300.100.1.3"
	oidDisplayName = "urn:oid:2.16.840.1.113730.3.1.241"
)

func TestAvailable(t *testing.T) {
	if err := Available(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(ErrUnavailable.Error(), "apt-get install -y python3-pysaml2 xmlsec1") {
		t.Errorf("ErrUnavailable does not say how to install: %v", ErrUnavailable)
	}
}

// TestIdP runs every check that needs no special SP metadata against one
// pysaml2 process: starting Python and importing pysaml2 is the slow part.
func TestIdP(t *testing.T) {
	t.Parallel()
	idp := New(t, Config{SPMetadata: spMetadata(spEntityID, spACS, nil)})
	t.Run("metadata", func(t *testing.T) { testMetadata(t, idp) })
	t.Run("respond", func(t *testing.T) { testRespond(t, idp) })
	t.Run("rejects", func(t *testing.T) { testRespondRejects(t, idp) })
	t.Run("assertion", func(t *testing.T) { testAssertion(t, idp) })
}

func testMetadata(t *testing.T, idp *IdP) {
	ed := parseXML(t, idp.Metadata())
	mustEqual(t, "root", ed.Tag, "EntityDescriptor")
	mustEqual(t, "entityID", ed.SelectAttrValue("entityID", ""), "http://pysaml2-idp.test/saml/idp")
	d := ed.SelectElement("IDPSSODescriptor")
	if d == nil {
		t.Fatal("no IDPSSODescriptor")
	}
	cert := strings.Join(strings.Fields(text(t, d, "./KeyDescriptor/KeyInfo/X509Data/X509Certificate")), "")
	mustEqual(t, "certificate", cert, base64.StdEncoding.EncodeToString(idp.Certificate().Raw))
	mustEqual(t, "SSO Location", attr(t, d, "./SingleSignOnService", "Location"), idp.SSOURL())
	mustEqual(t, "SSO Binding", attr(t, d, "./SingleSignOnService", "Binding"), "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect")
}

// testRespond has pysaml2 answer hand-built AuthnRequests and checks every
// response with goxmldsig against the certificate the Go side generated.
func testRespond(t *testing.T, idp *IdP) {
	base := authnReq{ID: "_req-1", Destination: idp.SSOURL(), ACS: spACS, Issuer: spEntityID}
	emailReq := base
	emailReq.NameIDFormat = NameIDEmail

	tests := map[string]struct {
		input           string
		opts            ResponseOptions
		responseSigned  bool
		assertionSigned bool
		nameID, sigAlg  string
	}{
		"defaults sign both with SHA-256": {
			input: redirectURL(t, idp, base, "rs", nil), responseSigned: true, assertionSigned: true,
			nameID: "alice", sigAlg: SigRSASHA256,
		},
		"unsigned assertion": {
			input: redirectURL(t, idp, base, "", nil), opts: ResponseOptions{UnsignedAssertion: true},
			responseSigned: true, nameID: "alice", sigAlg: SigRSASHA256,
		},
		"unsigned response": {
			input: redirectURL(t, idp, base, "", nil), opts: ResponseOptions{UnsignedResponse: true},
			assertionSigned: true, nameID: "alice", sigAlg: SigRSASHA256,
		},
		"SHA-1 on request": {
			input: redirectURL(t, idp, base, "", nil), opts: ResponseOptions{SigAlg: SigRSASHA1, DigestAlg: DigestSHA1},
			responseSigned: true, assertionSigned: true, nameID: "alice", sigAlg: SigRSASHA1,
		},
		"email NameID from NameIDPolicy": {
			input: redirectURL(t, idp, emailReq, "", nil), responseSigned: true, assertionSigned: true,
			nameID: "alice@example.com", sigAlg: SigRSASHA256,
		},
		"email NameID option": {
			input: redirectURL(t, idp, base, "", nil), opts: ResponseOptions{NameIDFormat: NameIDEmail},
			responseSigned: true, assertionSigned: true, nameID: "alice@example.com", sigAlg: SigRSASHA256,
		},
		"query string input": {
			input: strings.SplitN(redirectURL(t, idp, base, "rs", nil), "?", 2)[1], responseSigned: true, assertionSigned: true,
			nameID: "alice", sigAlg: SigRSASHA256,
		},
		"bare SAMLRequest input": {
			input: deflate64(t, base.xml()), responseSigned: true, assertionSigned: true, nameID: "alice", sigAlg: SigRSASHA256,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			start := time.Now().Add(-2 * time.Second)
			b64, err := idp.Respond(tc.input, alice, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			resp := parseB64(t, b64)
			checkSignature(t, idp, resp, tc.responseSigned, tc.sigAlg)
			a := resp.SelectElement("Assertion")
			if a == nil {
				t.Fatal("no Assertion")
			}
			checkSignature(t, idp, a, tc.assertionSigned, tc.sigAlg)
			if tc.responseSigned {
				resp = mustValidate(t, idp.Certificate(), resp)
				a = resp.SelectElement("Assertion")
			}
			if tc.assertionSigned {
				a = mustValidate(t, idp.Certificate(), a)
			}
			checkFields(t, idp, resp, a, tc.nameID, start)
		})
	}
}

// checkSignature checks that el is signed (with alg) or not signed at all,
// and that the signature sits right after the Issuer.
func checkSignature(t *testing.T, idp *IdP, el *etree.Element, signed bool, alg string) {
	t.Helper()
	sig := el.SelectElement("Signature")
	if (sig != nil) != signed {
		t.Fatalf("%s signed = %v, want %v", el.Tag, sig != nil, signed)
	}
	if !signed {
		return
	}
	if kids := el.ChildElements(); kids[0].Tag != "Issuer" || kids[1] != sig {
		t.Errorf("%s signature is not right after Issuer", el.Tag)
	}
	mustEqual(t, el.Tag+" SignatureMethod", attr(t, sig, "./SignedInfo/SignatureMethod", "Algorithm"), alg)
	mustEqual(t, el.Tag+" c14n", attr(t, sig, "./SignedInfo/CanonicalizationMethod", "Algorithm"), "http://www.w3.org/2001/10/xml-exc-c14n#")
	mustValidate(t, idp.Certificate(), el)
}

// checkFields checks what an SP checks, on the validated elements.
func checkFields(t *testing.T, idp *IdP, resp, a *etree.Element, nameID string, start time.Time) {
	t.Helper()
	mustEqual(t, "Response Issuer", text(t, resp, "./Issuer"), idp.EntityID())
	mustEqual(t, "Destination", resp.SelectAttrValue("Destination", ""), spACS)
	mustEqual(t, "InResponseTo", resp.SelectAttrValue("InResponseTo", ""), "_req-1")
	mustEqual(t, "Status", attr(t, resp, "./Status/StatusCode", "Value"), "urn:oasis:names:tc:SAML:2.0:status:Success")
	mustEqual(t, "Assertion Issuer", text(t, a, "./Issuer"), idp.EntityID())
	mustEqual(t, "Audience", text(t, a, "./Conditions/AudienceRestriction/Audience"), spEntityID)
	mustEqual(t, "NameID", text(t, a, "./Subject/NameID"), nameID)
	scd := "./Subject/SubjectConfirmation/SubjectConfirmationData"
	mustEqual(t, "Recipient", attr(t, a, scd, "Recipient"), spACS)
	mustEqual(t, "SCD InResponseTo", attr(t, a, scd, "InResponseTo"), "_req-1")
	notAfter, err := time.Parse(time.RFC3339, attr(t, a, "./Conditions", "NotOnOrAfter"))
	if err != nil || notAfter.Before(start.Add(defaultLife)) || notAfter.After(time.Now().Add(defaultLife)) {
		t.Errorf("Conditions NotOnOrAfter %v (%v), want about now + %v", notAfter, err, defaultLife)
	}
	if attr(t, a, "./AuthnStatement", "SessionNotOnOrAfter") == "" {
		t.Error("no SessionNotOnOrAfter")
	}
	got := attributeValues(a)
	mustEqual(t, "mail", strings.Join(got[oidMail], ","), "alice@example.com")
	mustEqual(t, "displayName", strings.Join(got[oidDisplayName], ","), "Alice Engineer")
	mustEqual(t, "groups", strings.Join(got["groups"], ","), "ml-engineers,resnet-users")
}

func testRespondRejects(t *testing.T, idp *IdP) {
	good := authnReq{ID: "_bad", Destination: idp.SSOURL(), ACS: spACS, Issuer: spEntityID}
	with := func(f func(*authnReq)) string {
		r := good
		f(&r)
		return redirectURL(t, idp, r, "", nil)
	}
	tests := map[string]struct {
		input string
		opts  ResponseOptions
		is    error // nil: any error
	}{
		"unknown SP":           {input: with(func(r *authnReq) { r.Issuer = "urn:stranger" }), is: ErrRefused},
		"ACS not in metadata":  {input: with(func(r *authnReq) { r.ACS = "http://127.0.0.1:8080/evil" }), is: ErrRefused},
		"wrong Destination":    {input: with(func(r *authnReq) { r.Destination = "http://127.0.0.1:1/sso" }), is: ErrRefused},
		"not deflate":          {input: base64.StdEncoding.EncodeToString([]byte("<x/>")), is: ErrRefused},
		"repeated SAMLRequest": {input: "SAMLRequest=a&SAMLRequest=b"},
		"empty":                {input: ""},
		// This SP's metadata has no certificate to encrypt for.
		"encryption without an SP certificate": {input: with(func(*authnReq) {}), opts: ResponseOptions{Encrypt: EncryptAES128GCM}, is: ErrRefused},
		"unknown cipher":                       {input: with(func(*authnReq) {}), opts: ResponseOptions{Encrypt: "tripledes-cbc"}, is: ErrRefused},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := idp.Respond(tc.input, alice, tc.opts)
			if err == nil || (tc.is != nil && !errors.Is(err, tc.is)) {
				t.Errorf("Respond() error = %v, want %v", err, tc.is)
			}
		})
	}
	// The IdP keeps answering after refusals.
	if _, err := idp.Respond(redirectURL(t, idp, good, "", nil), alice, ResponseOptions{}); err != nil {
		t.Errorf("Respond() after refusals: %v", err)
	}
}

// TestSignedAuthnRequest: with the SP's signing certificate in its metadata,
// pysaml2 checks redirect-binding signatures (via this package's script;
// parse_authn_request alone ignores them).
func TestSignedAuthnRequest(t *testing.T) {
	t.Parallel()
	spKey := loadKey(t, "sp-key.pem")
	spCert := selfSignedForTest(t, spKey)
	idp := New(t, Config{SPMetadata: spMetadata(spEntityID, spACS, spCert)})
	req := authnReq{ID: "_req-1", Destination: idp.SSOURL(), ACS: spACS, Issuer: spEntityID}

	if _, err := idp.Respond(redirectURL(t, idp, req, "state with spaces/and~tilde", spKey), alice, ResponseOptions{}); err != nil {
		t.Errorf("signed request refused: %v", err)
	}
	if _, err := idp.Respond(redirectURL(t, idp, req, "", nil), alice, ResponseOptions{}); !errors.Is(err, ErrRefused) {
		t.Errorf("unsigned request from an SP whose metadata says AuthnRequestsSigned: %v, want ErrRefused", err)
	}
	tampered := strings.Replace(redirectURL(t, idp, req, "a", spKey), "RelayState=a", "RelayState=b", 1)
	if _, err := idp.Respond(tampered, alice, ResponseOptions{}); !errors.Is(err, ErrRefused) {
		t.Errorf("tampered signed request: %v, want ErrRefused", err)
	}
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := idp.Respond(redirectURL(t, idp, req, "", other), alice, ResponseOptions{}); !errors.Is(err, ErrRefused) {
		t.Errorf("request signed by another key: %v, want ErrRefused", err)
	}
}

func testAssertion(t *testing.T, idp *IdP) {
	const tokenURL = "http://127.0.0.1:8080/token"
	xmlText, err := idp.Assertion(alice, AssertionOptions{Audience: tokenURL})
	if err != nil {
		t.Fatal(err)
	}
	a := parseXML(t, []byte(xmlText))
	mustEqual(t, "root", a.Tag, "Assertion")
	checkSignature(t, idp, a, true, SigRSASHA256)
	a = mustValidate(t, idp.Certificate(), a)
	mustEqual(t, "Issuer", text(t, a, "./Issuer"), idp.EntityID())
	mustEqual(t, "Audience", text(t, a, "./Conditions/AudienceRestriction/Audience"), tokenURL)
	mustEqual(t, "NameID", text(t, a, "./Subject/NameID"), "alice")
	scd := a.FindElement("./Subject/SubjectConfirmation/SubjectConfirmationData")
	mustEqual(t, "Recipient", scd.SelectAttrValue("Recipient", ""), tokenURL)
	if scd.SelectAttr("InResponseTo") != nil {
		t.Error("bare assertion carries InResponseTo")
	}
	mustEqual(t, "Method", attr(t, a, "./Subject/SubjectConfirmation", "Method"), "urn:oasis:names:tc:SAML:2.0:cm:bearer")
	mustEqual(t, "groups", strings.Join(attributeValues(a)["groups"], ","), "ml-engineers,resnet-users")
}

// selfSignedForTest is the SP's signing certificate for key.
func selfSignedForTest(t *testing.T, key *rsa.PrivateKey) *x509.Certificate {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "test SP"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}
