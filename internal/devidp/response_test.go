package devidp

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"
)

func TestNewResponseVariants(t *testing.T) {
	t.Parallel()
	alice := DefaultUsers()[0]
	tests := map[string]struct {
		opts            ResponseOptions
		responseSigned  bool
		assertionSigned bool
		noAssertion     bool
		check           func(t *testing.T, resp, assertion *etree.Element)
	}{
		"default signs both": {
			opts: ResponseOptions{User: alice, InResponseTo: "_r"}, responseSigned: true, assertionSigned: true,
		},
		"unsigned assertion": {
			opts: ResponseOptions{User: alice, UnsignedAssertion: true}, responseSigned: true,
		},
		"unsigned response": {
			opts: ResponseOptions{User: alice, UnsignedResponse: true}, assertionSigned: true,
		},
		"nothing signed": {
			opts: ResponseOptions{User: alice, UnsignedResponse: true, UnsignedAssertion: true},
		},
		"custom times": {
			opts: ResponseOptions{
				User: alice, IssueInstant: fixedNow.Add(-time.Hour),
				NotBefore: fixedNow.Add(-2 * time.Hour), NotOnOrAfter: fixedNow.Add(-time.Minute),
				SessionNotOnOrAfter: fixedNow.Add(time.Minute),
			},
			responseSigned: true, assertionSigned: true,
			check: func(t *testing.T, resp, a *etree.Element) {
				mustEqual(t, "IssueInstant", resp.SelectAttrValue("IssueInstant", ""), "2026-03-04T04:06:07Z")
				mustEqual(t, "NotBefore", attr(t, a, "./Conditions", "NotBefore"), "2026-03-04T03:06:07Z")
				mustEqual(t, "NotOnOrAfter", attr(t, a, "./Conditions", "NotOnOrAfter"), "2026-03-04T05:05:07Z")
				mustEqual(t, "SessionNotOnOrAfter", attr(t, a, "./AuthnStatement", "SessionNotOnOrAfter"), "2026-03-04T05:07:07Z")
			},
		},
		"overrides": {
			opts: ResponseOptions{
				User: alice, ACSURL: "http://127.0.0.1:9/evil", Audience: "urn:other", Issuer: "urn:fake-idp",
				ResponseID: "_resp", AssertionID: "_assert", SessionIndex: "_sess", NameIDFormat: NameIDFormatEmail,
			},
			responseSigned: true, assertionSigned: true,
			check: func(t *testing.T, resp, a *etree.Element) {
				mustEqual(t, "Destination", resp.SelectAttrValue("Destination", ""), "http://127.0.0.1:9/evil")
				mustEqual(t, "Audience", text(t, a, "./Conditions/AudienceRestriction/Audience"), "urn:other")
				mustEqual(t, "Issuer", text(t, a, "./Issuer"), "urn:fake-idp")
				mustEqual(t, "IDs", resp.SelectAttrValue("ID", "")+a.SelectAttrValue("ID", ""), "_resp_assert")
				mustEqual(t, "NameID", text(t, a, "./Subject/NameID"), "alice@example.com")
				if resp.SelectAttr("InResponseTo") != nil || a.FindElement("./Subject/SubjectConfirmation/SubjectConfirmationData[@InResponseTo]") != nil {
					t.Error("InResponseTo present though none was given")
				}
			},
		},
		"error status": {
			opts: ResponseOptions{User: alice, StatusCode: StatusResponder}, responseSigned: true, noAssertion: true,
		},
		"user without groups": {
			opts: ResponseOptions{User: User{ID: "x"}}, responseSigned: true, assertionSigned: true,
			check: func(t *testing.T, _, a *etree.Element) {
				if a.SelectElement("AttributeStatement") != nil {
					t.Error("empty AttributeStatement emitted")
				}
			},
		},
	}
	idp := goldenIdP(t)
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, b64, err := idp.NewResponse(tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			resp := parseB64(t, b64)
			checkSigned(t, idp, resp, tc.responseSigned)
			a := resp.SelectElement("Assertion")
			if (a == nil) != tc.noAssertion {
				t.Fatalf("assertion present = %v, want %v", a != nil, !tc.noAssertion)
			}
			if a != nil {
				checkSigned(t, idp, a, tc.assertionSigned)
			}
			if tc.check != nil {
				tc.check(t, resp, a)
			}
		})
	}
}

// checkSigned checks that el carries a valid signature (signed) or none.
func checkSigned(t *testing.T, idp *IdP, el *etree.Element, signed bool) {
	t.Helper()
	has := el.SelectElement("Signature") != nil
	if has != signed {
		t.Fatalf("%s signed = %v, want %v", el.Tag, has, signed)
	}
	if signed {
		validate(t, idp.Certificate(), fixedNow, el)
	}
}

func TestNewResponseErrors(t *testing.T) {
	t.Parallel()
	twoSPs := testConfig(t)
	twoSPs.BaseURL = "http://127.0.0.1:8081"
	twoSPs.SPs = append(twoSPs.SPs, SP{EntityID: "urn:sp2", ACSURLs: []string{"http://127.0.0.1:8082/acs"}})
	idp2, err := New(twoSPs)
	if err != nil {
		t.Fatal(err)
	}
	tests := map[string]struct {
		idp  *IdP
		opts ResponseOptions
		is   error
	}{
		"no user":                 {idp: goldenIdP(t), opts: ResponseOptions{}},
		"email format, no email":  {idp: goldenIdP(t), opts: ResponseOptions{User: User{ID: "x"}, NameIDFormat: NameIDFormatEmail}},
		"two SPs, no ACS":         {idp: idp2, opts: ResponseOptions{User: User{ID: "x"}}},
		"two SPs, unknown ACS":    {idp: idp2, opts: ResponseOptions{User: User{ID: "x"}, ACSURL: "http://127.0.0.1:9/acs"}},
		"unbound, default issuer": {idp: mustNew(t, testConfig(t)), opts: ResponseOptions{User: User{ID: "x"}}, is: ErrNotBound},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, _, err := tc.idp.NewResponse(tc.opts)
			if err == nil || (tc.is != nil && !errors.Is(err, tc.is)) {
				t.Errorf("NewResponse() error = %v, want %v", err, tc.is)
			}
		})
	}
	// With two SPs, a known ACS picks its SP as the audience.
	_, b64, err := idp2.NewResponse(ResponseOptions{User: User{ID: "x"}, ACSURL: "http://127.0.0.1:8082/acs"})
	if err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "Audience", text(t, parseB64(t, b64), "./Assertion/Conditions/AudienceRestriction/Audience"), "urn:sp2")
}

func mustNew(t *testing.T, cfg Config) *IdP {
	t.Helper()
	idp, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return idp
}

// TestXmlsec1Verifies has libxmlsec (the library behind most SAML stacks,
// pysaml2 included) verify both signatures, so that goxmldsig checking its
// own output is not the only evidence they are right.
func TestXmlsec1Verifies(t *testing.T) {
	t.Parallel()
	bin, err := exec.LookPath("xmlsec1")
	if err != nil {
		t.Fatalf("xmlsec1 not found: install it with `apt-get install -y xmlsec1` (%v)", err)
	}
	idp := goldenIdP(t)
	xmlText, _, err := idp.NewResponse(ResponseOptions{User: DefaultUsers()[2], InResponseTo: "_r"})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, respFile := filepath.Join(dir, "idp.pem"), filepath.Join(dir, "resp.xml")
	writeFile(t, certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: idp.Certificate().Raw}))
	writeFile(t, respFile, []byte(xmlText))
	tampered := filepath.Join(dir, "tampered.xml")
	writeFile(t, tampered, []byte(strings.Replace(xmlText, ">carol<", ">mallory<", 1)))

	for name, tc := range map[string]struct {
		file, xpath string
		ok          bool
	}{
		"response":           {respFile, "/*/*[local-name()='Signature']", true},
		"assertion":          {respFile, "//*[local-name()='Assertion']/*[local-name()='Signature']", true},
		"tampered response":  {tampered, "/*/*[local-name()='Signature']", false},
		"tampered assertion": {tampered, "//*[local-name()='Assertion']/*[local-name()='Signature']", false},
	} {
		t.Run(name, func(t *testing.T) {
			out, err := exec.Command(bin, "--verify", "--pubkey-cert-pem", certFile,
				"--id-attr:ID", nsProtocol+":Response", "--id-attr:ID", nsAssertion+":Assertion",
				"--node-xpath", tc.xpath, tc.file).CombinedOutput()
			if (err == nil) != tc.ok {
				t.Errorf("xmlsec1 --verify: err = %v, want ok = %v\n%s", err, tc.ok, out)
			}
		})
	}
}

func writeFile(t *testing.T, name string, b []byte) {
	t.Helper()
	if err := os.WriteFile(name, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestSignatureRejectsOtherCert makes sure the checks above can fail: a
// response is not valid against a certificate other than the IdP's.
func TestSignatureRejectsOtherCert(t *testing.T) {
	t.Parallel()
	idp := goldenIdP(t)
	other, err := selfSigned(loadKey(t, "sp-key.pem"), fixedNow, seededRand())
	if err != nil {
		t.Fatal(err)
	}
	_, b64, err := idp.NewResponse(ResponseOptions{User: User{ID: "x"}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := dsig.NewDefaultValidationContext(&dsig.MemoryX509CertificateStore{Roots: []*x509.Certificate{other}})
	ctx.Clock = dsig.NewFakeClockAt(fixedNow)
	if _, err := ctx.Validate(parseB64(t, b64)); err == nil {
		t.Error("response validated against a foreign certificate")
	}
}
