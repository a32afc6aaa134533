package sp

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/tfgate/tfgate/samlverify"
)

// TestMetadataGolden pins the SP metadata with and without a key pair.
func TestMetadataGolden(t *testing.T) {
	t.Parallel()
	signed := func(c *Config, _ *[]*samlverify.IdP) { c.SignRequests = true }
	for name, mods := range map[string][]func(*Config, *[]*samlverify.IdP){
		"metadata":              nil,
		"metadata_key":          {withKey(t), signed},
		"metadata_email_nameid": {func(c *Config, _ *[]*samlverify.IdP) { c.NameIDFormat = NameIDFormatEmail }},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, mods...)
			rec := e.do(httptest.NewRequest("GET", MetadataPath, nil))
			mustEqual(t, "status", rec.Code, http.StatusOK)
			mustEqual(t, "Content-Type", rec.Header().Get("Content-Type"), "application/samlmetadata+xml")
			golden(t, name, rec.Body.Bytes())
			mustEqual(t, "Metadata()", string(e.h.Metadata()), rec.Body.String())
		})
	}
}

// TestMetadataParses reads the SP metadata back the way an IdP would.
func TestMetadataParses(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withKey(t))
	doc := parseXMLBytes(t, e.h.Metadata())
	ed := doc.Root()
	mustEqual(t, "entityID", ed.SelectAttrValue("entityID", ""), e.h.EntityID())
	d := ed.SelectElement("SPSSODescriptor")
	mustEqual(t, "WantAssertionsSigned", d.SelectAttrValue("WantAssertionsSigned", ""), "true")
	mustEqual(t, "AuthnRequestsSigned", d.SelectAttrValue("AuthnRequestsSigned", ""), "false")
	mustEqual(t, "protocolSupportEnumeration", d.SelectAttrValue("protocolSupportEnumeration", ""), nsProtocol)
	acs := d.SelectElement("AssertionConsumerService")
	mustEqual(t, "ACS Binding", acs.SelectAttrValue("Binding", ""), bindingPOST)
	mustEqual(t, "ACS Location", acs.SelectAttrValue("Location", ""), e.h.ACSURL())
	slo := d.SelectElement("SingleLogoutService")
	mustEqual(t, "SLO Location", slo.SelectAttrValue("Location", ""), testBaseURL+LogoutPath)
	uses := map[string]bool{}
	for _, kd := range d.SelectElements("KeyDescriptor") {
		uses[kd.SelectAttrValue("use", "")] = true
	}
	if !uses["signing"] || !uses["encryption"] {
		t.Errorf("KeyDescriptors: %v", uses)
	}
}
