package devidp

import (
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/beevik/etree"
)

// SAML names used in responses and metadata.
const (
	nsProtocol  = "urn:oasis:names:tc:SAML:2.0:protocol"
	nsAssertion = "urn:oasis:names:tc:SAML:2.0:assertion"
	nsMetadata  = "urn:oasis:names:tc:SAML:2.0:metadata"
	nsDSig      = "http://www.w3.org/2000/09/xmldsig#"

	// NameIDFormatUnspecified is the default NameID format: the User.ID.
	NameIDFormatUnspecified = "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"
	// NameIDFormatEmail makes the NameID the User.Email.
	NameIDFormatEmail = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"
	// StatusSuccess is the top-level status code of a successful Response.
	StatusSuccess = "urn:oasis:names:tc:SAML:2.0:status:Success"
	// StatusResponder is a failure status code, for tests of error responses.
	StatusResponder = "urn:oasis:names:tc:SAML:2.0:status:Responder"

	// AttrEmail is the Name of the e-mail attribute (FriendlyName "mail").
	AttrEmail = "urn:oid:0.9.2342.19200300.100.1.3"
	// AttrDisplayName is the Name of the display name attribute
	// (FriendlyName "displayName").
	AttrDisplayName = "urn:oid:2.16.840.1.113730.3.1.241"
	// AttrGroups is the Name (and FriendlyName) of the groups attribute.
	AttrGroups = "groups"

	attrFormatURI   = "urn:oasis:names:tc:SAML:2.0:attrname-format:uri"
	attrFormatBasic = "urn:oasis:names:tc:SAML:2.0:attrname-format:basic"
	bearerMethod    = "urn:oasis:names:tc:SAML:2.0:cm:bearer"
	authnClassRef   = "urn:oasis:names:tc:SAML:2.0:ac:classes:unspecified"
	timeFormat      = "2006-01-02T15:04:05Z"
)

// ResponseOptions describes one Response. Zero fields take the defaults
// noted; tests set fields to build variants (wrong audience, expired,
// unsigned, ...). NewResponse does not check ACSURL or Audience against the
// configured SPs: that is the HTTP flow's job, and tests need bad values.
type ResponseOptions struct {
	// User is the subject. Required: User.ID.
	User User
	// InResponseTo is the AuthnRequest ID. default: "" (omitted, as in an
	// IdP-initiated response).
	InResponseTo string
	// ACSURL is the Response Destination and the bearer confirmation's
	// Recipient. default: the first ACS URL of the only configured SP.
	ACSURL string
	// Audience is the AudienceRestriction. default: the entity ID of the SP
	// that lists ACSURL, or of the only configured SP.
	Audience string
	// Issuer is the Issuer of the Response and the Assertion. default: the
	// IdP's entity ID.
	Issuer string
	// NameIDFormat is NameIDFormatUnspecified (User.ID) or NameIDFormatEmail
	// (User.Email). default: NameIDFormatUnspecified.
	NameIDFormat string
	// IssueInstant is the Response's and Assertion's IssueInstant and the
	// AuthnInstant. default: Config.Now().
	IssueInstant time.Time
	// NotBefore is Conditions NotBefore. default: IssueInstant.
	NotBefore time.Time
	// NotOnOrAfter is Conditions and SubjectConfirmationData NotOnOrAfter.
	// default: IssueInstant + Config.AssertionLifetime.
	NotOnOrAfter time.Time
	// SessionNotOnOrAfter is the AuthnStatement's SessionNotOnOrAfter.
	// default: IssueInstant + Config.SessionLifetime.
	SessionNotOnOrAfter time.Time
	// ResponseID, AssertionID and SessionIndex default to random values.
	ResponseID, AssertionID, SessionIndex string
	// StatusCode is the top-level StatusCode. Any value but StatusSuccess
	// leaves the Assertion out. default: StatusSuccess.
	StatusCode string
	// UnsignedResponse and UnsignedAssertion leave that element unsigned
	// (as do the Config fields of the same names). default: both signed.
	UnsignedResponse, UnsignedAssertion bool
}

// NewResponse builds a Response as the HTTP flow would, signed according to
// the Config and opts, and returns its XML text and the base64 encoding an
// HTTP-POST binding's SAMLResponse field carries.
func (idp *IdP) NewResponse(opts ResponseOptions) (xmlText string, b64 string, err error) {
	opts, err = idp.responseDefaults(opts)
	if err != nil {
		return "", "", err
	}
	resp, err := idp.buildResponse(opts)
	if err != nil {
		return "", "", err
	}
	doc := etree.NewDocument()
	doc.CreateProcInst("xml", `version="1.0" encoding="UTF-8"`)
	doc.SetRoot(resp)
	out, err := doc.WriteToBytes()
	if err != nil {
		return "", "", fmt.Errorf("devidp: writing response: %w", err)
	}
	return string(out), base64.StdEncoding.EncodeToString(out), nil
}

// responseDefaults fills the zero fields of opts.
func (idp *IdP) responseDefaults(opts ResponseOptions) (ResponseOptions, error) {
	if opts.User.ID == "" {
		return opts, errors.New("devidp: ResponseOptions.User.ID is required")
	}
	if opts.Issuer == "" {
		_, entityID, err := idp.urls()
		if err != nil {
			return opts, err
		}
		opts.Issuer = entityID
	}
	if err := idp.defaultRecipient(&opts); err != nil {
		return opts, err
	}
	if err := idp.defaultIDs(&opts); err != nil {
		return opts, err
	}
	if opts.NameIDFormat == "" {
		opts.NameIDFormat = NameIDFormatUnspecified
	}
	if opts.StatusCode == "" {
		opts.StatusCode = StatusSuccess
	}
	if opts.IssueInstant.IsZero() {
		opts.IssueInstant = idp.cfg.Now()
	}
	opts.NotBefore = orDefault(opts.NotBefore, opts.IssueInstant)
	opts.NotOnOrAfter = orDefault(opts.NotOnOrAfter, opts.IssueInstant.Add(idp.cfg.AssertionLifetime))
	opts.SessionNotOnOrAfter = orDefault(opts.SessionNotOnOrAfter, opts.IssueInstant.Add(idp.cfg.SessionLifetime))
	opts.UnsignedResponse = opts.UnsignedResponse || idp.cfg.UnsignedResponse
	opts.UnsignedAssertion = opts.UnsignedAssertion || idp.cfg.UnsignedAssertion
	return opts, nil
}

// defaultRecipient fills ACSURL and Audience from the configured SPs.
func (idp *IdP) defaultRecipient(opts *ResponseOptions) error {
	sps := idp.cfg.SPs
	if opts.ACSURL == "" {
		if len(sps) != 1 {
			return errors.New("devidp: ResponseOptions.ACSURL is required when several SPs are configured")
		}
		opts.ACSURL = sps[0].ACSURLs[0]
	}
	if opts.Audience != "" {
		return nil
	}
	for _, sp := range sps {
		if slices.Contains(sp.ACSURLs, opts.ACSURL) {
			opts.Audience = sp.EntityID
			return nil
		}
	}
	if len(sps) != 1 {
		return errors.New("devidp: ResponseOptions.Audience is required: no single SP owns ACSURL")
	}
	opts.Audience = sps[0].EntityID
	return nil
}

func (idp *IdP) defaultIDs(opts *ResponseOptions) error {
	for _, id := range []*string{&opts.ResponseID, &opts.AssertionID, &opts.SessionIndex} {
		if *id != "" {
			continue
		}
		v, err := idp.newID()
		if err != nil {
			return err
		}
		*id = v
	}
	return nil
}

func orDefault(t, def time.Time) time.Time {
	if t.IsZero() {
		return def
	}
	return t
}

// timestamp formats t as SAML wants it: UTC, whole seconds, "Z".
func timestamp(t time.Time) string { return t.UTC().Format(timeFormat) }

func b64std(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
