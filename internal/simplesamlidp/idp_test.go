package simplesamlidp

import (
	"testing"

	"github.com/tfgate/tfgate/samlverify"
)

// TestMetadata: the IdP comes up, and the metadata it serves over HTTP and
// through the TLS front names its entity, its endpoints and the signing
// certificate generated on the Go side.
func TestMetadata(t *testing.T) {
	t.Parallel()
	if err := Available(); err != nil {
		t.Fatal(err)
	}
	idp := New(t, Config{SPEntityID: "https://sp.example/saml/metadata", ACSURL: "https://sp.example/saml/acs"})
	raw, err := idp.Metadata(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	md, err := samlverify.ParseMetadata(raw, samlverify.MetadataOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(md.IdPs) != 1 {
		t.Fatalf("%d IdPs in the metadata", len(md.IdPs))
	}
	got := md.IdPs[0]
	if got.EntityID != idp.EntityID() {
		t.Errorf("entity %q, want %q", got.EntityID, idp.EntityID())
	}
	if got.SSORedirectURL != idp.SSOURL() {
		t.Errorf("SSO URL %q, want %q", got.SSORedirectURL, idp.SSOURL())
	}
	found := false
	for _, c := range got.SigningCerts {
		found = found || c.Equal(idp.Certificate())
	}
	if !found {
		t.Error("the metadata does not carry the IdP's signing certificate")
	}
	resp, err := idp.HTTPSClient().Get(idp.HTTPSMetadataURL())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.TLS == nil {
		t.Errorf("HTTPS metadata: %d, TLS %v", resp.StatusCode, resp.TLS != nil)
	}
}
