package devidp

import (
	"fmt"
	"net/http"

	"github.com/beevik/etree"
)

// Metadata returns the IdP's SAML metadata: an EntityDescriptor with one
// IDPSSODescriptor carrying the signing certificate, the SingleLogoutService
// and SingleSignOnService (HTTP-Redirect) endpoints, and the NameID formats.
// It is unsigned and indented.
func (idp *IdP) Metadata() ([]byte, error) {
	base, entityID, err := idp.urls()
	if err != nil {
		return nil, err
	}
	ed := etree.NewElement("md:EntityDescriptor")
	ed.CreateAttr("xmlns:md", nsMetadata)
	ed.CreateAttr("xmlns:ds", nsDSig)
	ed.CreateAttr("entityID", entityID)

	// Child order follows the schema: KeyDescriptor (RoleDescriptorType),
	// SingleLogoutService and NameIDFormat (SSODescriptorType), then
	// SingleSignOnService (IDPSSODescriptorType).
	d := ed.CreateElement("md:IDPSSODescriptor")
	d.CreateAttr("protocolSupportEnumeration", nsProtocol)
	kd := d.CreateElement("md:KeyDescriptor")
	kd.CreateAttr("use", "signing")
	kd.CreateElement("ds:KeyInfo").CreateElement("ds:X509Data").
		CreateElement("ds:X509Certificate").SetText(certBase64(idp.cert))
	addEndpoint(d, "md:SingleLogoutService", base+SLOPath)
	d.CreateElement("md:NameIDFormat").SetText(NameIDFormatUnspecified)
	d.CreateElement("md:NameIDFormat").SetText(NameIDFormatEmail)
	addEndpoint(d, "md:SingleSignOnService", base+SSOPath)

	doc := etree.NewDocument()
	doc.CreateProcInst("xml", `version="1.0" encoding="UTF-8"`)
	doc.SetRoot(ed)
	doc.Indent(2)
	out, err := doc.WriteToBytes()
	if err != nil {
		return nil, fmt.Errorf("devidp: writing metadata: %w", err)
	}
	return out, nil
}

const bindingRedirect = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"

func addEndpoint(parent *etree.Element, tag, location string) {
	e := parent.CreateElement(tag)
	e.CreateAttr("Binding", bindingRedirect)
	e.CreateAttr("Location", location)
}

func (idp *IdP) handleMetadata(w http.ResponseWriter, r *http.Request) {
	md, err := idp.Metadata()
	if err != nil {
		idp.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/samlmetadata+xml")
	w.Header().Set("Cache-Control", "no-cache")
	_, _ = w.Write(md)
}
