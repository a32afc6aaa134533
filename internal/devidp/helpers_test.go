package devidp

import (
	"bytes"
	"compress/flate"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"
	"github.com/russellhaering/goxmldsig/etreeutils"
)

// The SP these tests play. testdata/idp-key.pem and testdata/sp-key.pem are
// test-only RSA 2048 keys (openssl genpkey); they protect nothing.
const (
	spEntityID = "http://127.0.0.1:8080/saml/metadata"
	spACS      = "http://127.0.0.1:8080/saml/acs"
)

// fixedNow is the pinned clock of the golden and signature tests.
var fixedNow = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

func loadKey(tb testing.TB, name string) *rsa.PrivateKey {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		tb.Fatal(err)
	}
	block, _ := pem.Decode(b)
	if block == nil {
		tb.Fatalf("%s: no PEM block", name)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		tb.Fatal(err)
	}
	return k.(*rsa.PrivateKey)
}

// seededRand is a deterministic Config.Rand.
func seededRand() io.Reader {
	var seed [32]byte
	return rand.NewChaCha8(seed)
}

// testConfig is a Config for one SP with a fixed key; BaseURL is left to
// Start.
func testConfig(tb testing.TB) Config {
	tb.Helper()
	return Config{
		Key: loadKey(tb, "idp-key.pem"),
		SPs: []SP{{EntityID: spEntityID, ACSURLs: []string{spACS}}},
	}
}

// authnRequest is the AuthnRequest an SP would send.
type authnReq struct {
	ID, Destination, ACS, Issuer, NameIDFormat, Binding string
}

func (a authnReq) xml() string {
	s := `<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion"` +
		` ID="` + a.ID + `" Version="2.0" IssueInstant="2026-03-04T05:06:07Z"`
	if a.Destination != "" {
		s += ` Destination="` + a.Destination + `"`
	}
	if a.ACS != "" {
		s += ` AssertionConsumerServiceURL="` + a.ACS + `"`
	}
	if a.Binding != "" {
		s += ` ProtocolBinding="` + a.Binding + `"`
	}
	s += `><saml:Issuer>` + a.Issuer + `</saml:Issuer>`
	if a.NameIDFormat != "" {
		s += `<samlp:NameIDPolicy Format="` + a.NameIDFormat + `" AllowCreate="true"/>`
	}
	return s + `</samlp:AuthnRequest>`
}

// deflate64 is base64(DEFLATE(s)), the HTTP-Redirect encoding.
func deflate64(tb testing.TB, s string) string {
	tb.Helper()
	var buf bytes.Buffer
	w, _ := flate.NewWriter(&buf, flate.BestCompression)
	if _, err := io.WriteString(w, s); err != nil {
		tb.Fatal(err)
	}
	if err := w.Close(); err != nil {
		tb.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(buf.Bytes())
}

// redirectQuery encodes an HTTP-Redirect query as an SP would, signing it
// with RSA-SHA256 when key is not nil.
func redirectQuery(tb testing.TB, reqXML, relayState string, key *rsa.PrivateKey) string {
	tb.Helper()
	q := "SAMLRequest=" + url.QueryEscape(deflate64(tb, reqXML))
	if relayState != "" {
		q += "&RelayState=" + url.QueryEscape(relayState)
	}
	if key == nil {
		return q
	}
	q += "&SigAlg=" + url.QueryEscape("http://www.w3.org/2001/04/xmldsig-more#rsa-sha256")
	sum := sha256.Sum256([]byte(q))
	sig, err := rsa.SignPKCS1v15(nil, key, crypto.SHA256, sum[:])
	if err != nil {
		tb.Fatal(err)
	}
	return q + "&Signature=" + url.QueryEscape(base64.StdEncoding.EncodeToString(sig))
}

// browser is an http.Client with a cookie jar that does not follow
// redirects.
func browser(tb testing.TB) *http.Client {
	tb.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		tb.Fatal(err)
	}
	// A transport of its own, whose idle connections close when the test
	// ends: with http.DefaultTransport, parallel subtests could leave a
	// connection dialed but never used, which the IdP's graceful shutdown
	// waits on for 5 s (see shutdownTimeout).
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tb.Cleanup(tr.CloseIdleConnections)
	return &http.Client{
		Transport:     tr,
		Jar:           jar,
		Timeout:       10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// fetch does req and returns the status and body.
func fetch(tb testing.TB, c *http.Client, req *http.Request) (*http.Response, string) {
	tb.Helper()
	resp, err := c.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	return resp, string(body)
}

func get(tb testing.TB, c *http.Client, u string) (*http.Response, string) {
	tb.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		tb.Fatal(err)
	}
	return fetch(tb, c, req)
}

func postForm(tb testing.TB, c *http.Client, u string, form url.Values) (*http.Response, string) {
	tb.Helper()
	req, err := http.NewRequest(http.MethodPost, u, bytes.NewBufferString(form.Encode()))
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return fetch(tb, c, req)
}

// validate checks el's enveloped signature against cert at time now, the
// way an SP must, and returns the validated element.
func validate(tb testing.TB, cert *x509.Certificate, now time.Time, el *etree.Element) *etree.Element {
	tb.Helper()
	// A nested element (the Assertion) may use prefixes declared on its
	// ancestors; detach it with those declarations made explicit, as an SP
	// must before handing it to goxmldsig.
	nsctx, err := etreeutils.NSBuildParentContext(el)
	if err != nil {
		tb.Fatal(err)
	}
	detached, err := etreeutils.NSDetatch(nsctx, el)
	if err != nil {
		tb.Fatal(err)
	}
	ctx := dsig.NewDefaultValidationContext(&dsig.MemoryX509CertificateStore{Roots: []*x509.Certificate{cert}})
	ctx.Clock = dsig.NewFakeClockAt(now)
	got, err := ctx.Validate(detached)
	if err != nil {
		tb.Fatalf("signature on %s does not verify: %v", el.Tag, err)
	}
	return got
}

// parseB64 decodes a SAMLResponse field into its root element.
func parseB64(tb testing.TB, b64 string) *etree.Element {
	tb.Helper()
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		tb.Fatal(err)
	}
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(raw); err != nil {
		tb.Fatal(err)
	}
	return doc.Root()
}

// text returns the text of the element at path under el, failing if absent.
func text(tb testing.TB, el *etree.Element, path string) string {
	tb.Helper()
	e := el.FindElement(path)
	if e == nil {
		tb.Fatalf("no %s in %s", path, el.Tag)
	}
	return e.Text()
}

func attr(tb testing.TB, el *etree.Element, path, name string) string {
	tb.Helper()
	e := el.FindElement(path)
	if e == nil {
		tb.Fatalf("no %s in %s", path, el.Tag)
	}
	a := e.SelectAttr(name)
	if a == nil {
		tb.Fatalf("%s has no %s attribute", path, name)
	}
	return a.Value
}

// attributeValues returns the AttributeStatement as Name -> values.
func attributeValues(assertion *etree.Element) map[string][]string {
	out := map[string][]string{}
	for _, a := range assertion.FindElements("./AttributeStatement/Attribute") {
		name := a.SelectAttrValue("Name", "")
		for _, v := range a.SelectElements("AttributeValue") {
			out[name] = append(out[name], v.Text())
		}
	}
	return out
}

func mustEqual[T comparable](tb testing.TB, what string, got, want T) {
	tb.Helper()
	if got != want {
		tb.Errorf("%s = %v, want %v", what, got, want)
	}
}

func mustTime(tb testing.TB, s string) time.Time {
	tb.Helper()
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		tb.Fatal(fmt.Errorf("parsing %q: %w", s, err))
	}
	return t
}
