package devidp

import (
	"bytes"
	"compress/flate"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strings"
)

const (
	// maxEncodedRequest caps the SAMLRequest query value.
	maxEncodedRequest = 16 << 10
	// maxRequestXML caps the inflated AuthnRequest (a deflate bomb stops here).
	maxRequestXML = 64 << 10
	// maxRelayState is the limit SAML bindings §3.4.3 sets for RelayState.
	maxRelayState = 80

	bindingPOST = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
)

// authnRequest is what the IdP keeps from an accepted AuthnRequest.
type authnRequest struct {
	ID           string
	SP           SP
	ACSURL       string // checked against SP.ACSURLs
	NameIDFormat string // NameIDFormatUnspecified or NameIDFormatEmail
	RelayState   string
}

// xmlAuthnRequest is the part of samlp:AuthnRequest the IdP reads.
type xmlAuthnRequest struct {
	XMLName         xml.Name
	ID              string `xml:"ID,attr"`
	Version         string `xml:"Version,attr"`
	Destination     string `xml:"Destination,attr"`
	ACSURL          string `xml:"AssertionConsumerServiceURL,attr"`
	ProtocolBinding string `xml:"ProtocolBinding,attr"`
	Issuer          string `xml:"urn:oasis:names:tc:SAML:2.0:assertion Issuer"`
	NameIDPolicy    struct {
		Format string `xml:"Format,attr"`
	} `xml:"urn:oasis:names:tc:SAML:2.0:protocol NameIDPolicy"`
}

// parseRedirect reads an HTTP-Redirect binding query (the raw, still
// percent-encoded query string, which the signature covers) and returns the
// request if a configured SP sent it to this IdP for an allowed ACS URL.
func (idp *IdP) parseRedirect(rawQuery string) (authnRequest, error) {
	q, err := parseRawQuery(rawQuery)
	if err != nil {
		return authnRequest{}, err
	}
	samlRequest, relayState, err := q.values()
	if err != nil {
		return authnRequest{}, err
	}
	x, err := decodeAuthnRequest(samlRequest)
	if err != nil {
		return authnRequest{}, err
	}
	sp, ok := idp.spByEntityID(x.Issuer)
	if !ok {
		return authnRequest{}, fmt.Errorf("%w: Issuer %q", ErrUnknownSP, x.Issuer)
	}
	if sp.Cert != nil {
		if err := q.verify(sp.Cert); err != nil {
			return authnRequest{}, err
		}
	}
	return idp.checkAuthnRequest(x, sp, relayState)
}

// checkAuthnRequest applies the IdP's rules to a parsed request from sp.
func (idp *IdP) checkAuthnRequest(x xmlAuthnRequest, sp SP, relayState string) (authnRequest, error) {
	if x.Destination != "" && x.Destination != idp.SSOURL() {
		return authnRequest{}, fmt.Errorf("%w: Destination %q, want %q", ErrDestination, x.Destination, idp.SSOURL())
	}
	if x.ProtocolBinding != "" && x.ProtocolBinding != bindingPOST {
		return authnRequest{}, fmt.Errorf("%w: ProtocolBinding %q: only HTTP-POST is supported", ErrMalformedRequest, x.ProtocolBinding)
	}
	req := authnRequest{ID: x.ID, SP: sp, ACSURL: x.ACSURL, RelayState: relayState}
	if req.ACSURL == "" {
		req.ACSURL = sp.ACSURLs[0]
	} else if !slices.Contains(sp.ACSURLs, req.ACSURL) {
		return authnRequest{}, fmt.Errorf("%w: %q for %q", ErrACSNotAllowed, req.ACSURL, sp.EntityID)
	}
	switch f := x.NameIDPolicy.Format; f {
	case "", NameIDFormatUnspecified:
		req.NameIDFormat = NameIDFormatUnspecified
	case NameIDFormatEmail:
		req.NameIDFormat = NameIDFormatEmail
	default:
		return authnRequest{}, fmt.Errorf("%w: NameIDPolicy Format %q: only unspecified and emailAddress are supported", ErrMalformedRequest, f)
	}
	return req, nil
}

// decodeAuthnRequest base64-decodes, inflates and parses a SAMLRequest.
func decodeAuthnRequest(samlRequest string) (xmlAuthnRequest, error) {
	var x xmlAuthnRequest
	if len(samlRequest) > maxEncodedRequest {
		return x, fmt.Errorf("%w: SAMLRequest longer than %d bytes", ErrMalformedRequest, maxEncodedRequest)
	}
	deflated, err := base64.StdEncoding.DecodeString(samlRequest)
	if err != nil {
		return x, fmt.Errorf("%w: SAMLRequest is not base64: %v", ErrMalformedRequest, err)
	}
	raw, err := io.ReadAll(io.LimitReader(flate.NewReader(bytes.NewReader(deflated)), maxRequestXML+1))
	if err != nil {
		return x, fmt.Errorf("%w: SAMLRequest is not DEFLATE data: %v", ErrMalformedRequest, err)
	}
	if len(raw) > maxRequestXML {
		return x, fmt.Errorf("%w: AuthnRequest larger than %d bytes", ErrMalformedRequest, maxRequestXML)
	}
	if err := rejectDirectives(raw); err != nil {
		return x, err
	}
	if err := xml.Unmarshal(raw, &x); err != nil {
		return x, fmt.Errorf("%w: %v", ErrMalformedRequest, err)
	}
	return x, checkShape(&x)
}

// rejectDirectives refuses DOCTYPEs and other <!...> directives: an
// AuthnRequest never needs one, and refusing them closes entity tricks.
func rejectDirectives(raw []byte) error {
	d := xml.NewDecoder(bytes.NewReader(raw))
	for {
		tok, err := d.RawToken()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%w: %v", ErrMalformedRequest, err)
		}
		if _, ok := tok.(xml.Directive); ok {
			return fmt.Errorf("%w: XML directives (DOCTYPE) are not allowed", ErrMalformedRequest)
		}
	}
}

func checkShape(x *xmlAuthnRequest) error {
	if x.XMLName.Space != nsProtocol || x.XMLName.Local != "AuthnRequest" {
		return fmt.Errorf("%w: root element is {%s}%s, want samlp:AuthnRequest", ErrMalformedRequest, x.XMLName.Space, x.XMLName.Local)
	}
	if x.Version != "2.0" {
		return fmt.Errorf("%w: Version %q, want 2.0", ErrMalformedRequest, x.Version)
	}
	if x.ID == "" || len(x.ID) > 256 {
		return fmt.Errorf("%w: ID missing or longer than 256 bytes", ErrMalformedRequest)
	}
	x.Issuer = strings.TrimSpace(x.Issuer)
	if x.Issuer == "" {
		return fmt.Errorf("%w: Issuer missing", ErrMalformedRequest)
	}
	if x.ACSURL != "" {
		if u, err := url.Parse(x.ACSURL); err != nil || !u.IsAbs() {
			return fmt.Errorf("%w: AssertionConsumerServiceURL is not an absolute URL", ErrMalformedRequest)
		}
	}
	return nil
}
