package devidp

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"
)

// TestNewAssertion checks the bare assertion of an RFC 7522 bearer grant:
// the Assertion is the root and signed by itself, its bearer confirmation
// names the token endpoint and answers no request, and libxmlsec agrees
// that the signature is good.
func TestNewAssertion(t *testing.T) {
	t.Parallel()
	idp := goldenIdP(t)
	const tokenURL = "https://sp.example/token"
	xmlText, b64, err := idp.NewAssertion(ResponseOptions{User: DefaultUsers()[0], ACSURL: tokenURL, Audience: tokenURL})
	if err != nil {
		t.Fatal(err)
	}
	if strings.ContainsAny(b64, "+/=") {
		t.Errorf("assertion parameter %q is not unpadded base64url", b64[:20])
	}
	raw, err := base64.RawURLEncoding.DecodeString(b64)
	if err != nil || string(raw) != xmlText {
		t.Fatalf("base64url does not decode to the XML: %v", err)
	}
	doc := etree.NewDocument()
	if err := doc.ReadFromString(xmlText); err != nil {
		t.Fatal(err)
	}
	a := doc.Root()
	mustEqual(t, "root", a.Tag, "Assertion")
	mustEqual(t, "Recipient", attr(t, a, "./Subject/SubjectConfirmation/SubjectConfirmationData", "Recipient"), tokenURL)
	mustEqual(t, "Audience", a.FindElement("./Conditions/AudienceRestriction/Audience").Text(), tokenURL)
	if a.FindElement("./Subject/SubjectConfirmation/SubjectConfirmationData[@InResponseTo]") != nil {
		t.Error("a bare assertion answers no AuthnRequest, but has InResponseTo")
	}
	ctx := dsig.NewDefaultValidationContext(&dsig.MemoryX509CertificateStore{Roots: []*x509.Certificate{idp.Certificate()}})
	ctx.Clock = dsig.NewFakeClockAt(fixedNow)
	if _, err := ctx.Validate(a.Copy()); err != nil {
		t.Errorf("the assertion's own signature does not verify: %v", err)
	}

	bin, err := exec.LookPath("xmlsec1")
	if err != nil {
		t.Fatalf("xmlsec1 not found: install it with `apt-get install -y xmlsec1` (%v)", err)
	}
	dir := t.TempDir()
	certFile, file := filepath.Join(dir, "idp.pem"), filepath.Join(dir, "assertion.xml")
	writeFile(t, certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: idp.Certificate().Raw}))
	writeFile(t, file, []byte(xmlText))
	if out, err := exec.Command(bin, "--verify", "--pubkey-cert-pem", certFile,
		"--id-attr:ID", nsAssertion+":Assertion", file).CombinedOutput(); err != nil {
		t.Errorf("xmlsec1 --verify: %v\n%s", err, out)
	}

	_, unsigned, err := idp.NewAssertion(ResponseOptions{User: DefaultUsers()[0], ACSURL: tokenURL, UnsignedAssertion: true})
	if err != nil {
		t.Fatal(err)
	}
	raw, _ = base64.RawURLEncoding.DecodeString(unsigned)
	if strings.Contains(string(raw), "Signature") {
		t.Error("UnsignedAssertion still signed the assertion")
	}
	if _, _, err := idp.NewAssertion(ResponseOptions{}); err == nil {
		t.Error("NewAssertion without a user succeeded")
	}
}
