package sp

import (
	"time"

	"github.com/beevik/etree"
)

// SAML namespaces and identifiers the SP writes.
const (
	nsProtocol    = "urn:oasis:names:tc:SAML:2.0:protocol"
	nsAssertion   = "urn:oasis:names:tc:SAML:2.0:assertion"
	nsMetadata    = "urn:oasis:names:tc:SAML:2.0:metadata"
	nsDSig        = "http://www.w3.org/2000/09/xmldsig#"
	bindingPOST   = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
	bindingRedir  = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
	samlTimestamp = "2006-01-02T15:04:05Z"
)

// authnRequest is what an AuthnRequest says.
type authnRequest struct {
	ID, Destination, ACS, Issuer, NameIDFormat string
	IssueInstant                               time.Time
}

// element returns the samlp:AuthnRequest. It asks for the HTTP-POST
// binding at the ACS URL, which the IdP must find in this SP's metadata,
// and lets the IdP create an identifier for a first-time user.
func (a authnRequest) element() *etree.Element {
	el := etree.NewElement("samlp:AuthnRequest")
	el.CreateAttr("xmlns:samlp", nsProtocol)
	el.CreateAttr("xmlns:saml", nsAssertion)
	el.CreateAttr("ID", a.ID)
	el.CreateAttr("Version", "2.0")
	el.CreateAttr("IssueInstant", a.IssueInstant.UTC().Format(samlTimestamp))
	el.CreateAttr("Destination", a.Destination)
	el.CreateAttr("AssertionConsumerServiceURL", a.ACS)
	el.CreateAttr("ProtocolBinding", bindingPOST)
	el.CreateElement("saml:Issuer").SetText(a.Issuer)
	p := el.CreateElement("samlp:NameIDPolicy")
	p.CreateAttr("Format", a.NameIDFormat)
	p.CreateAttr("AllowCreate", "true")
	return el
}

// logoutRequest is what a LogoutRequest says.
type logoutRequest struct {
	ID, Destination, Issuer     string
	NameID, NameIDFormat, Index string
	IssueInstant                time.Time
}

// element returns the samlp:LogoutRequest (SAML core §3.7.1).
func (l logoutRequest) element() *etree.Element {
	el := etree.NewElement("samlp:LogoutRequest")
	el.CreateAttr("xmlns:samlp", nsProtocol)
	el.CreateAttr("xmlns:saml", nsAssertion)
	el.CreateAttr("ID", l.ID)
	el.CreateAttr("Version", "2.0")
	el.CreateAttr("IssueInstant", l.IssueInstant.UTC().Format(samlTimestamp))
	el.CreateAttr("Destination", l.Destination)
	el.CreateElement("saml:Issuer").SetText(l.Issuer)
	n := el.CreateElement("saml:NameID")
	if l.NameIDFormat != "" {
		n.CreateAttr("Format", l.NameIDFormat)
	}
	n.SetText(l.NameID)
	if l.Index != "" {
		el.CreateElement("samlp:SessionIndex").SetText(l.Index)
	}
	return el
}
