package devidp

import (
	"encoding/base64"
	"fmt"

	"github.com/beevik/etree"
)

// NewAssertion builds a bare Assertion, the kind an RFC 7522 SAML 2.0
// bearer grant carries. The Assertion is signed (unless opts or the
// Config say it should not be), and it has a bearer SubjectConfirmation
// whose Recipient is opts.ACSURL: set that to the token endpoint's URL.
// There is no InResponseTo unless opts sets one. The fields and defaults
// are those of NewResponse, except that Response-only fields (ResponseID,
// StatusCode, UnsignedResponse) are ignored. It returns the XML text and
// its unpadded base64url encoding, which the grant's assertion parameter
// carries.
func (idp *IdP) NewAssertion(opts ResponseOptions) (xmlText string, b64url string, err error) {
	opts, err = idp.responseDefaults(opts)
	if err != nil {
		return "", "", err
	}
	a, err := buildAssertion(opts)
	if err != nil {
		return "", "", err
	}
	if !opts.UnsignedAssertion {
		ctx, err := idp.signingContext()
		if err != nil {
			return "", "", err
		}
		if err := signAfterIssuer(ctx, a); err != nil {
			return "", "", err
		}
	}
	doc := etree.NewDocument()
	doc.CreateProcInst("xml", `version="1.0" encoding="UTF-8"`)
	doc.SetRoot(a)
	out, err := doc.WriteToBytes()
	if err != nil {
		return "", "", fmt.Errorf("devidp: writing assertion: %w", err)
	}
	return string(out), base64.RawURLEncoding.EncodeToString(out), nil
}
