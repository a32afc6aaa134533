package devidp

import (
	"crypto/x509"
	"fmt"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"
)

// signingContext returns a goxmldsig context for RSA-SHA256 with exclusive
// c14n. Exclusive c14n is what SAML IdPs use: an assertion's signature stays
// valid when the assertion is moved into (or out of) a Response.
func (idp *IdP) signingContext() (*dsig.SigningContext, error) {
	ctx, err := dsig.NewSigningContext(idp.key, [][]byte{idp.cert.Raw})
	if err != nil {
		return nil, err
	}
	ctx.Canonicalizer = dsig.MakeC14N10ExclusiveCanonicalizerWithPrefixList("")
	if err := ctx.SetSignatureMethod(dsig.RSASHA256SignatureMethod); err != nil {
		return nil, err
	}
	return ctx, nil
}

// signAfterIssuer adds an enveloped signature over el, placed right after
// el's Issuer child as the SAML schema requires for both Response and
// Assertion.
//
// goxmldsig canonicalizes el in place while digesting it, so el is already
// in its canonical form when the signature is inserted; nothing may change
// el afterwards (not even indentation).
func signAfterIssuer(ctx *dsig.SigningContext, el *etree.Element) error {
	issuer := el.SelectElement("Issuer")
	if issuer == nil {
		return fmt.Errorf("devidp: %s has no Issuer to sign after", el.Tag)
	}
	sig, err := ctx.ConstructSignature(el, true)
	if err != nil {
		return fmt.Errorf("devidp: signing %s: %w", el.Tag, err)
	}
	el.InsertChildAt(issuer.Index()+1, sig)
	return nil
}

// certBase64 is the certificate as it appears in KeyInfo and metadata.
func certBase64(cert *x509.Certificate) string {
	return b64std(cert.Raw)
}
