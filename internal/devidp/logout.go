package devidp

import (
	"bytes"
	"compress/flate"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/beevik/etree"
)

// LogoutOptions describes a LogoutRequest the IdP sends an SP, to start
// IdP-initiated single logout (SAML profiles §4.4).
type LogoutOptions struct {
	// Destination is the SP's SingleLogoutService URL. Required.
	Destination string
	// NameID names the user, as the IdP asserted it at sign-in. Required.
	NameID string
	// NameIDFormat is the NameID's format. default: NameIDFormatUnspecified.
	NameIDFormat string
	// SessionIndexes are the IdP sessions to end; none means all of the
	// user's sessions at the SP.
	SessionIndexes []string
	// RelayState is sent along and comes back with the SP's LogoutResponse.
	RelayState string
	// ID is the request ID. default: a random one.
	ID string
	// IssueInstant default: Config.Now(). NotOnOrAfter default:
	// IssueInstant + Config.AssertionLifetime.
	IssueInstant, NotOnOrAfter time.Time
	// Unsigned leaves the request unsigned, for tests of SPs that must
	// refuse it. default: signed.
	Unsigned bool
}

// LogoutRedirectURL returns the URL that sends a browser to the SP with a
// LogoutRequest in the HTTP-Redirect binding, signed (RSA-SHA256) in the
// query string as bindings §3.4.4.1 says.
func (idp *IdP) LogoutRedirectURL(opts LogoutOptions) (string, error) {
	el, err := idp.logoutRequest(&opts)
	if err != nil {
		return "", err
	}
	doc := etree.NewDocument()
	doc.SetRoot(el)
	raw, err := doc.WriteToBytes()
	if err != nil {
		return "", err
	}
	var buf bytes.Buffer
	fw, err := flate.NewWriter(&buf, flate.BestCompression)
	if err != nil {
		return "", err
	}
	if _, err := fw.Write(raw); err != nil {
		return "", err
	}
	if err := fw.Close(); err != nil {
		return "", err
	}
	q := "SAMLRequest=" + url.QueryEscape(base64.StdEncoding.EncodeToString(buf.Bytes()))
	if opts.RelayState != "" {
		q += "&RelayState=" + url.QueryEscape(opts.RelayState)
	}
	if !opts.Unsigned {
		q += "&SigAlg=" + url.QueryEscape("http://www.w3.org/2001/04/xmldsig-more#rsa-sha256")
		sum := sha256.Sum256([]byte(q))
		sig, err := rsa.SignPKCS1v15(nil, idp.key, crypto.SHA256, sum[:])
		if err != nil {
			return "", err
		}
		q += "&Signature=" + url.QueryEscape(base64.StdEncoding.EncodeToString(sig))
	}
	sep := "?"
	if strings.Contains(opts.Destination, "?") {
		sep = "&"
	}
	return opts.Destination + sep + q, nil
}

// LogoutForm returns the HTTP-POST binding of a LogoutRequest with an
// enveloped signature: the form's action and its fields (SAMLRequest and
// RelayState), which a browser posts to the SP.
func (idp *IdP) LogoutForm(opts LogoutOptions) (action string, fields url.Values, err error) {
	el, err := idp.logoutRequest(&opts)
	if err != nil {
		return "", nil, err
	}
	if !opts.Unsigned {
		ctx, err := idp.signingContext()
		if err != nil {
			return "", nil, err
		}
		if err := signAfterIssuer(ctx, el); err != nil {
			return "", nil, err
		}
	}
	doc := etree.NewDocument()
	doc.CreateProcInst("xml", `version="1.0" encoding="UTF-8"`)
	doc.SetRoot(el)
	raw, err := doc.WriteToBytes()
	if err != nil {
		return "", nil, fmt.Errorf("devidp: writing LogoutRequest: %w", err)
	}
	fields = url.Values{"SAMLRequest": {base64.StdEncoding.EncodeToString(raw)}}
	if opts.RelayState != "" {
		fields.Set("RelayState", opts.RelayState)
	}
	return opts.Destination, fields, nil
}

// logoutRequest fills opts' defaults and builds the samlp:LogoutRequest.
func (idp *IdP) logoutRequest(opts *LogoutOptions) (*etree.Element, error) {
	if opts.Destination == "" || opts.NameID == "" {
		return nil, errors.New("devidp: LogoutOptions.Destination and NameID are required")
	}
	_, entityID, err := idp.urls()
	if err != nil {
		return nil, err
	}
	if opts.ID == "" {
		if opts.ID, err = idp.newID(); err != nil {
			return nil, err
		}
	}
	if opts.NameIDFormat == "" {
		opts.NameIDFormat = NameIDFormatUnspecified
	}
	if opts.IssueInstant.IsZero() {
		opts.IssueInstant = idp.cfg.Now()
	}
	opts.NotOnOrAfter = orDefault(opts.NotOnOrAfter, opts.IssueInstant.Add(idp.cfg.AssertionLifetime))
	el := etree.NewElement("samlp:LogoutRequest")
	el.CreateAttr("xmlns:samlp", nsProtocol)
	el.CreateAttr("xmlns:saml", nsAssertion)
	el.CreateAttr("ID", opts.ID)
	el.CreateAttr("Version", "2.0")
	el.CreateAttr("IssueInstant", opts.IssueInstant.UTC().Format(timeFormat))
	el.CreateAttr("Destination", opts.Destination)
	el.CreateAttr("NotOnOrAfter", opts.NotOnOrAfter.UTC().Format(timeFormat))
	el.CreateElement("saml:Issuer").SetText(entityID)
	n := el.CreateElement("saml:NameID")
	n.CreateAttr("Format", opts.NameIDFormat)
	n.SetText(opts.NameID)
	for _, si := range opts.SessionIndexes {
		el.CreateElement("samlp:SessionIndex").SetText(si)
	}
	return el, nil
}
