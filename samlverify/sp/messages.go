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

// protocolMessage returns an empty samlp:tag with the attributes every
// request and response the SP sends carries (SAML core §3.2.1, §3.2.2).
func protocolMessage(tag, id, destination string, issued time.Time) *etree.Element {
	el := etree.NewElement("samlp:" + tag)
	el.CreateAttr("xmlns:samlp", nsProtocol)
	el.CreateAttr("xmlns:saml", nsAssertion)
	el.CreateAttr("ID", id)
	el.CreateAttr("Version", "2.0")
	el.CreateAttr("IssueInstant", issued.UTC().Format(samlTimestamp))
	el.CreateAttr("Destination", destination)
	return el
}

// authnRequest is what an AuthnRequest says.
type authnRequest struct {
	ID, Destination, ACS, Issuer, NameIDFormat string
	IssueInstant                               time.Time
}

// element returns the samlp:AuthnRequest. It asks for the HTTP-POST
// binding at the ACS URL, which the IdP must find in this SP's metadata,
// and lets the IdP create an identifier for a first-time user.
func (a authnRequest) element() *etree.Element {
	el := protocolMessage("AuthnRequest", a.ID, a.Destination, a.IssueInstant)
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
	el := protocolMessage("LogoutRequest", l.ID, l.Destination, l.IssueInstant)
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

// Status codes of a LogoutResponse (SAML core §3.2.2.2).
const (
	statusSuccess       = "urn:oasis:names:tc:SAML:2.0:status:Success"
	statusRequester     = "urn:oasis:names:tc:SAML:2.0:status:Requester"
	statusResponder     = "urn:oasis:names:tc:SAML:2.0:status:Responder"
	statusPartialLogout = "urn:oasis:names:tc:SAML:2.0:status:PartialLogout"
)

// logoutResponse is what a LogoutResponse says.
type logoutResponse struct {
	ID, Destination, Issuer, InResponseTo string
	// Status is the top-level code; Sub, when set, the second-level one.
	Status, Sub  string
	IssueInstant time.Time
}

// element returns the samlp:LogoutResponse (SAML core §3.7.2). The
// Issuer comes first among the children, so that an enveloped signature
// can follow it as the schema requires.
func (l logoutResponse) element() *etree.Element {
	el := protocolMessage("LogoutResponse", l.ID, l.Destination, l.IssueInstant)
	if l.InResponseTo != "" {
		el.CreateAttr("InResponseTo", l.InResponseTo)
	}
	el.CreateElement("saml:Issuer").SetText(l.Issuer)
	code := el.CreateElement("samlp:Status").CreateElement("samlp:StatusCode")
	code.CreateAttr("Value", l.Status)
	if l.Sub != "" {
		code.CreateElement("samlp:StatusCode").CreateAttr("Value", l.Sub)
	}
	return el
}
