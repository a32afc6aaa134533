package devidp

import (
	"bytes"
	"errors"
	"flag"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/beevik/etree"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

// goldenIdP is an IdP whose every output is reproducible: fixed key, clock,
// randomness and base URL.
func goldenIdP(t *testing.T) *IdP {
	t.Helper()
	cfg := testConfig(t)
	cfg.BaseURL = "http://127.0.0.1:8081"
	cfg.Now = func() time.Time { return fixedNow }
	cfg.Rand = seededRand()
	idp, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return idp
}

func TestMetadataGolden(t *testing.T) {
	t.Parallel()
	got, err := goldenIdP(t).Metadata()
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "metadata.golden")
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("metadata differs from %s (go test -update rewrites it):\n%s", golden, got)
	}
}

func TestMetadataContent(t *testing.T) {
	t.Parallel()
	idp := goldenIdP(t)
	md, err := idp.Metadata()
	if err != nil {
		t.Fatal(err)
	}
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(md); err != nil {
		t.Fatalf("metadata is not well-formed XML: %v", err)
	}
	ed := doc.Root()
	mustEqual(t, "root", ed.NamespaceURI()+" "+ed.Tag, nsMetadata+" EntityDescriptor")
	mustEqual(t, "entityID", ed.SelectAttrValue("entityID", ""), "http://127.0.0.1:8081/saml/idp")
	d := ed.SelectElement("IDPSSODescriptor")
	if d == nil {
		t.Fatal("no IDPSSODescriptor")
	}
	mustEqual(t, "KeyDescriptor use", attr(t, d, "./KeyDescriptor", "use"), "signing")
	mustEqual(t, "certificate", text(t, d, "./KeyDescriptor/KeyInfo/X509Data/X509Certificate"), certBase64(idp.Certificate()))
	mustEqual(t, "SSO Binding", attr(t, d, "./SingleSignOnService", "Binding"), bindingRedirect)
	mustEqual(t, "SSO Location", attr(t, d, "./SingleSignOnService", "Location"), "http://127.0.0.1:8081/saml/idp/sso")
	mustEqual(t, "SLO Location", attr(t, d, "./SingleLogoutService", "Location"), "http://127.0.0.1:8081/saml/idp/slo")
	mustEqual(t, "NameIDFormats", len(d.SelectElements("NameIDFormat")), 2)
}

func TestMetadataBeforeServe(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	idp, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := idp.Metadata(); !errors.Is(err, ErrNotBound) {
		t.Errorf("Metadata() before Serve: %v, want ErrNotBound", err)
	}
	rec := httptest.NewRecorder()
	idp.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, MetadataPath, nil))
	mustEqual(t, "status before Serve", rec.Code, http.StatusServiceUnavailable)
}
