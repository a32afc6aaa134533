package pysaml2idp

import (
	"bytes"
	"compress/flate"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"
	"github.com/russellhaering/goxmldsig/etreeutils"
)

// The SP these tests play (the real SP does not exist yet).
const (
	spEntityID = "http://127.0.0.1:8080/saml/metadata"
	spACS      = "http://127.0.0.1:8080/saml/acs"
)

// spMetadata is a minimal SP EntityDescriptor: one HTTP-POST ACS and, when
// cert is not nil, a signing key and AuthnRequestsSigned="true".
func spMetadata(entityID, acs string, cert *x509.Certificate) []byte {
	signed, key := "false", ""
	if cert != nil {
		signed = "true"
		key = `<md:KeyDescriptor use="signing"><ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:X509Data><ds:X509Certificate>` +
			base64.StdEncoding.EncodeToString(cert.Raw) + `</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>`
	}
	return []byte(`<?xml version="1.0" encoding="UTF-8"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="` + entityID + `">
  <md:SPSSODescriptor AuthnRequestsSigned="` + signed + `" WantAssertionsSigned="true" protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    ` + key + `
    <md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="` + acs + `" index="0" isDefault="true"/>
  </md:SPSSODescriptor>
</md:EntityDescriptor>
`)
}

// authnReq is an AuthnRequest as the SP would build it.
type authnReq struct {
	ID, Destination, ACS, Issuer, NameIDFormat string
}

func (a authnReq) xml() string {
	s := `<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion"` +
		` ID="` + a.ID + `" Version="2.0" IssueInstant="` + time.Now().UTC().Format("2006-01-02T15:04:05Z") + `"` +
		` Destination="` + a.Destination + `" ProtocolBinding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"`
	if a.ACS != "" {
		s += ` AssertionConsumerServiceURL="` + a.ACS + `"`
	}
	s += `><saml:Issuer>` + a.Issuer + `</saml:Issuer>`
	if a.NameIDFormat != "" {
		s += `<samlp:NameIDPolicy Format="` + a.NameIDFormat + `" AllowCreate="true"/>`
	}
	return s + `</samlp:AuthnRequest>`
}

// deflate64 is base64(DEFLATE(s)), the HTTP-Redirect encoding.
func deflate64(t *testing.T, s string) string {
	t.Helper()
	var buf bytes.Buffer
	w, _ := flate.NewWriter(&buf, flate.BestCompression)
	if _, err := io.WriteString(w, s); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(buf.Bytes())
}

// redirectURL is the Location an SP redirects the browser to, signed with
// RSA-SHA256 when key is not nil.
func redirectURL(t *testing.T, idp *IdP, req authnReq, relayState string, key *rsa.PrivateKey) string {
	t.Helper()
	q := "SAMLRequest=" + url.QueryEscape(deflate64(t, req.xml()))
	if relayState != "" {
		q += "&RelayState=" + url.QueryEscape(relayState)
	}
	if key != nil {
		q += "&SigAlg=" + url.QueryEscape(SigRSASHA256)
		sum := sha256.Sum256([]byte(q))
		sig, err := rsa.SignPKCS1v15(nil, key, crypto.SHA256, sum[:])
		if err != nil {
			t.Fatal(err)
		}
		q += "&Signature=" + url.QueryEscape(base64.StdEncoding.EncodeToString(sig))
	}
	return idp.SSOURL() + "?" + q
}

func loadKey(t *testing.T, name string) *rsa.PrivateKey {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(b)
	if block == nil {
		t.Fatalf("%s: no PEM block", name)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return k.(*rsa.PrivateKey)
}

// parseXML parses a document and returns its root.
func parseXML(t *testing.T, b []byte) *etree.Element {
	t.Helper()
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(b); err != nil {
		t.Fatalf("not well-formed XML: %v", err)
	}
	return doc.Root()
}

func parseB64(t *testing.T, b64 string) *etree.Element {
	t.Helper()
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		t.Fatal(err)
	}
	return parseXML(t, raw)
}

// validate checks el's signature against the certificate the Go side
// generated, as an SP would: nested elements are detached with their
// in-scope namespace declarations first (pysaml2's Assertion declares
// none of its own).
func validate(t *testing.T, cert *x509.Certificate, el *etree.Element) (*etree.Element, error) {
	t.Helper()
	nsctx, err := etreeutils.NSBuildParentContext(el)
	if err != nil {
		return nil, err
	}
	detached, err := etreeutils.NSDetatch(nsctx, el)
	if err != nil {
		return nil, err
	}
	ctx := dsig.NewDefaultValidationContext(&dsig.MemoryX509CertificateStore{Roots: []*x509.Certificate{cert}})
	return ctx.Validate(detached)
}

func mustValidate(t *testing.T, cert *x509.Certificate, el *etree.Element) *etree.Element {
	t.Helper()
	got, err := validate(t, cert, el)
	if err != nil {
		t.Fatalf("signature on %s does not verify: %v", el.Tag, err)
	}
	return got
}

func text(t *testing.T, el *etree.Element, path string) string {
	t.Helper()
	e := el.FindElement(path)
	if e == nil {
		t.Fatalf("no %s in %s", path, el.Tag)
	}
	return e.Text()
}

func attr(t *testing.T, el *etree.Element, path, name string) string {
	t.Helper()
	e := el.FindElement(path)
	if e == nil {
		t.Fatalf("no %s in %s", path, el.Tag)
	}
	return e.SelectAttrValue(name, "")
}

// attributeValues returns the AttributeStatement as Name -> values.
func attributeValues(a *etree.Element) map[string][]string {
	out := map[string][]string{}
	for _, at := range a.FindElements("./AttributeStatement/Attribute") {
		name := at.SelectAttrValue("Name", "")
		for _, v := range at.SelectElements("AttributeValue") {
			out[name] = append(out[name], v.Text())
		}
	}
	return out
}

func mustEqual[T comparable](t *testing.T, what string, got, want T) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}
