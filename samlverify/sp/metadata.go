package sp

import (
	"crypto/x509"
	"encoding/base64"
	"net/http"
	"strconv"

	"github.com/beevik/etree"
)

// encryptionMethods are the content-encryption algorithms metadata offers,
// best first: AES-GCM, which samlverify always decrypts, before AES-CBC,
// which it decrypts only inside a signed Response.
var encryptionMethods = []string{
	"http://www.w3.org/2009/xmlenc11#aes256-gcm",
	"http://www.w3.org/2009/xmlenc11#aes128-gcm",
	"http://www.w3.org/2009/xmlenc11#rsa-oaep",
	"http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p",
}

// buildMetadata returns the SP's EntityDescriptor: one SPSSODescriptor
// with, in the schema's order, the key descriptors, the SingleLogoutService,
// the NameID formats and the one HTTP-POST AssertionConsumerService.
func buildMetadata(cfg Config) ([]byte, error) {
	ed := etree.NewElement("md:EntityDescriptor")
	ed.CreateAttr("xmlns:md", nsMetadata)
	ed.CreateAttr("xmlns:ds", nsDSig)
	ed.CreateAttr("entityID", cfg.EntityID)
	d := ed.CreateElement("md:SPSSODescriptor")
	d.CreateAttr("AuthnRequestsSigned", strconv.FormatBool(cfg.SignRequests))
	d.CreateAttr("WantAssertionsSigned", "true")
	d.CreateAttr("protocolSupportEnumeration", nsProtocol)
	if cfg.Cert != nil {
		keyDescriptor(d, "signing", cfg.Cert)
		enc := keyDescriptor(d, "encryption", cfg.Cert)
		for _, alg := range encryptionMethods {
			enc.CreateElement("md:EncryptionMethod").CreateAttr("Algorithm", alg)
		}
	}
	for _, b := range []string{bindingRedir, bindingPOST} {
		slo := d.CreateElement("md:SingleLogoutService")
		slo.CreateAttr("Binding", b)
		slo.CreateAttr("Location", cfg.BaseURL+LogoutPath)
	}
	for _, f := range nameIDFormats(cfg.NameIDFormat) {
		d.CreateElement("md:NameIDFormat").SetText(f)
	}
	acs := d.CreateElement("md:AssertionConsumerService")
	acs.CreateAttr("Binding", bindingPOST)
	acs.CreateAttr("Location", cfg.BaseURL+ACSPath)
	acs.CreateAttr("index", "0")
	acs.CreateAttr("isDefault", "true")

	doc := etree.NewDocument()
	doc.CreateProcInst("xml", `version="1.0" encoding="UTF-8"`)
	doc.SetRoot(ed)
	doc.Indent(2)
	return doc.WriteToBytes()
}

// nameIDFormats lists the requested format first, then the others the SP
// accepts (any NameID is accepted; this is advice for the IdP).
func nameIDFormats(requested string) []string {
	out := []string{requested}
	for _, f := range []string{NameIDFormatUnspecified, NameIDFormatEmail, NameIDFormatPersistent} {
		if f != requested {
			out = append(out, f)
		}
	}
	return out
}

// keyDescriptor adds a KeyDescriptor for cert with use and returns it.
func keyDescriptor(parent *etree.Element, use string, cert *x509.Certificate) *etree.Element {
	kd := parent.CreateElement("md:KeyDescriptor")
	kd.CreateAttr("use", use)
	kd.CreateElement("ds:KeyInfo").CreateElement("ds:X509Data").
		CreateElement("ds:X509Certificate").SetText(base64.StdEncoding.EncodeToString(cert.Raw))
	return kd
}

// handleMetadata serves the metadata built by New.
func (h *Handler) handleMetadata(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/samlmetadata+xml")
	w.Header().Set("Content-Disposition", `inline; filename="tfgate-sp-metadata.xml"`)
	_, _ = w.Write(h.metadata)
}
