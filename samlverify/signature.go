package samlverify

import (
	"crypto/x509"
	"encoding/base64"
	"errors"
	"strings"
	"time"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"
	"github.com/russellhaering/goxmldsig/etreeutils"
)

// Algorithms accepted in signatures. SAML's profile of XML Signature
// (saml-core §5.4) uses exclusive canonicalization and the enveloped
// signature transform only; nothing else is accepted, so that inclusive
// canonicalization's dependence on the surrounding document never matters.
var (
	allowedC14N = map[string]bool{
		string(dsig.CanonicalXML10ExclusiveAlgorithmId):             true,
		string(dsig.CanonicalXML10ExclusiveWithCommentsAlgorithmId): true,
	}
	signatureMethods = map[string]bool{ // value: is SHA-1
		dsig.RSASHA256SignatureMethod: false, dsig.RSASHA384SignatureMethod: false,
		dsig.RSASHA512SignatureMethod: false, dsig.ECDSASHA256SignatureMethod: false,
		dsig.ECDSASHA384SignatureMethod: false, dsig.ECDSASHA512SignatureMethod: false,
		dsig.RSASHA1SignatureMethod: true, dsig.ECDSASHA1SignatureMethod: true,
	}
	digestMethods = map[string]bool{ // value: is SHA-1
		"http://www.w3.org/2001/04/xmlenc#sha256":       false,
		"http://www.w3.org/2001/04/xmldsig-more#sha384": false,
		"http://www.w3.org/2001/04/xmlenc#sha512":       false,
		"http://www.w3.org/2000/09/xmldsig#sha1":        true,
	}
)

// sigPolicy is what verifySigned needs besides the element.
type sigPolicy struct {
	certs     []*x509.Certificate
	allowSHA1 bool
	now       time.Time
	clock     *dsig.Clock
}

// hasSignature reports whether el has a ds:Signature child, that is, claims
// to be signed.
func hasSignature(el *etree.Element) bool {
	return len(children(el, nsDSig, "Signature")) > 0
}

// verifySigned checks the enveloped signature of el against p.certs and
// returns the element goxmldsig rebuilt from the bytes it verified. Callers
// read identity only from that element. Before goxmldsig runs, the signature
// must have the one shape SAML allows: a single ds:Signature child of el,
// with a single Reference to el's own ID, and no other signature in the
// subtree referring to el. goxmldsig would otherwise pick the first matching
// signature anywhere below el.
func verifySigned(el *etree.Element, p sigPolicy) (*etree.Element, error) {
	id := attr(el, "ID")
	if id == "" {
		return nil, failf(ReasonMalformed, "signed element has no ID")
	}
	sig, err := soleSignature(el, id)
	if err != nil {
		return nil, err
	}
	if err := checkSignedInfo(sig, id, p.allowSHA1); err != nil {
		return nil, err
	}
	certs, err := signingCandidates(sig, p)
	if err != nil {
		return nil, err
	}
	return validateWith(el, id, certs, p.clock)
}

// soleSignature returns el's only ds:Signature child after checking that no
// other signature in the subtree references el (by its ID or by the empty,
// whole-document URI).
func soleSignature(el *etree.Element, id string) (*etree.Element, error) {
	sigs := children(el, nsDSig, "Signature")
	if len(sigs) == 0 {
		return nil, failf(ReasonSignatureMissing, "no signature")
	}
	if len(sigs) > 1 {
		return nil, failf(ReasonSignatureInvalid, "several signatures on one element")
	}
	var stray bool
	walk(el, func(s *etree.Element) {
		if s != sigs[0] && is(s, nsDSig, "Signature") && referencesID(s, id) {
			stray = true
		}
	})
	if stray {
		return nil, failf(ReasonSignatureInvalid, "another signature references the element")
	}
	return sigs[0], nil
}

// referencesID reports whether signature s has a Reference to id or to the
// whole document.
func referencesID(s *etree.Element, id string) bool {
	found := false
	walk(s, func(r *etree.Element) {
		if is(r, nsDSig, "Reference") {
			if u := attr(r, "URI"); u == "" || u == "#"+id {
				found = true
			}
		}
	})
	return found
}

// walk calls f for el and every element below it, in document order.
func walk(el *etree.Element, f func(*etree.Element)) {
	f(el)
	for _, c := range el.ChildElements() {
		walk(c, f)
	}
}

// checkSignedInfo enforces saml-core §5.4 on the SignedInfo of sig and the
// algorithm policy: exclusive c14n, one Reference to "#"+id, only the
// enveloped-signature and exclusive c14n transforms, and no SHA-1 unless
// allowed.
func checkSignedInfo(sig *etree.Element, id string, allowSHA1 bool) error {
	si, err := requiredChild(sig, nsDSig, "SignedInfo")
	if err != nil {
		return fail(ReasonSignatureInvalid, err)
	}
	if err := checkAlgorithm(si, "CanonicalizationMethod", allowedC14N, allowSHA1, false); err != nil {
		return err
	}
	if err := checkAlgorithm(si, "SignatureMethod", signatureMethods, allowSHA1, true); err != nil {
		return err
	}
	refs := children(si, nsDSig, "Reference")
	if len(refs) != 1 || attr(refs[0], "URI") != "#"+id {
		return failf(ReasonSignatureInvalid, "signature must have one Reference to the signed element")
	}
	if err := checkTransforms(refs[0]); err != nil {
		return err
	}
	return checkAlgorithm(refs[0], "DigestMethod", digestMethods, allowSHA1, true)
}

// checkAlgorithm checks the Algorithm of parent's only child ds:tag against
// allowed, whose value says whether the algorithm is SHA-1 based (only
// consulted when sha1Matters).
func checkAlgorithm(parent *etree.Element, tag string, allowed map[string]bool, allowSHA1, sha1Matters bool) error {
	el, err := requiredChild(parent, nsDSig, tag)
	if err != nil {
		return fail(ReasonSignatureInvalid, err)
	}
	isSHA1, ok := allowed[attr(el, "Algorithm")]
	switch {
	case !ok:
		return failf(ReasonUnsupportedAlgorithm, "algorithm not allowed in "+tag)
	case sha1Matters && isSHA1 && !allowSHA1:
		return failf(ReasonSHA1Disabled, "SHA-1 in "+tag)
	}
	return nil
}

// checkTransforms requires the enveloped-signature transform and allows at
// most one exclusive canonicalization transform besides it.
func checkTransforms(ref *etree.Element) error {
	ts, err := requiredChild(ref, nsDSig, "Transforms")
	if err != nil {
		return fail(ReasonSignatureInvalid, err)
	}
	enveloped, c14n := 0, 0
	for _, t := range ts.ChildElements() {
		alg := attr(t, "Algorithm")
		switch {
		case !is(t, nsDSig, "Transform"):
			return failf(ReasonSignatureInvalid, "unexpected element in Transforms")
		case alg == string(dsig.EnvelopedSignatureAltorithmId):
			enveloped++
		case allowedC14N[alg]:
			c14n++
		default:
			return failf(ReasonUnsupportedAlgorithm, "transform not allowed")
		}
	}
	if enveloped != 1 || c14n > 1 {
		return failf(ReasonSignatureInvalid, "signature must be enveloped")
	}
	return nil
}

// signingCandidates returns the trusted certificates to try. When the
// signature carries a certificate, it must be one of p.certs (by exact
// equality, as IdP metadata pins keys, not issuers). When it carries none,
// every trusted certificate is tried in turn, so that an IdP with two keys
// during a rollover still verifies.
func signingCandidates(sig *etree.Element, p sigPolicy) ([]*x509.Certificate, error) {
	if len(p.certs) == 0 {
		return nil, failf(ReasonUntrustedKey, "IdP has no signing certificate")
	}
	candidates := p.certs
	if embedded, err := keyInfoCert(sig); err != nil {
		return nil, err
	} else if embedded != nil {
		candidates = nil
		for _, c := range p.certs {
			if c.Equal(embedded) {
				candidates = []*x509.Certificate{c}
			}
		}
		if candidates == nil {
			return nil, failf(ReasonUntrustedKey, "signing certificate is not trusted")
		}
	}
	var valid []*x509.Certificate
	for _, c := range candidates {
		if !p.now.Before(c.NotBefore) && !p.now.After(c.NotAfter) {
			valid = append(valid, c)
		}
	}
	if len(valid) == 0 {
		return nil, failf(ReasonCertNotValid, "signing certificate outside its validity period")
	}
	return valid, nil
}

// keyInfoCert returns the first certificate in sig's KeyInfo/X509Data, the
// one goxmldsig checks, or nil when the signature has no KeyInfo.
func keyInfoCert(sig *etree.Element) (*x509.Certificate, error) {
	ki, err := optionalChild(sig, nsDSig, "KeyInfo")
	if err != nil || ki == nil {
		return nil, err
	}
	var data *etree.Element
	walk(ki, func(e *etree.Element) {
		if data == nil && is(e, nsDSig, "X509Certificate") {
			data = e
		}
	})
	if data == nil {
		return nil, failf(ReasonSignatureInvalid, "KeyInfo without X509Certificate")
	}
	text, err := textOf(data)
	if err != nil {
		return nil, err
	}
	der, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(text), ""))
	if err != nil {
		return nil, failf(ReasonSignatureInvalid, "KeyInfo certificate is not base64")
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, failf(ReasonSignatureInvalid, "KeyInfo certificate does not parse")
	}
	return cert, nil
}

// validateWith runs goxmldsig on a detached copy of el (carrying the
// namespace declarations in scope, which exclusive c14n may need) with each
// candidate as the only trusted certificate, and returns the first element
// it validates. The result must still be the element with ID id.
func validateWith(el *etree.Element, id string, certs []*x509.Certificate, clock *dsig.Clock) (*etree.Element, error) {
	nsCtx, err := etreeutils.NSBuildParentContext(el)
	if err != nil {
		return nil, failf(ReasonMalformed, "undeclared namespace prefix")
	}
	detached, err := etreeutils.NSDetatch(nsCtx, el)
	if err != nil {
		return nil, failf(ReasonMalformed, "undeclared namespace prefix")
	}
	var last error = errors.New("no candidate certificate")
	for _, c := range certs {
		vctx := dsig.NewDefaultValidationContext(&dsig.MemoryX509CertificateStore{Roots: []*x509.Certificate{c}})
		vctx.Clock = clock
		out, err := vctx.Validate(detached)
		if err != nil {
			last = err
			continue
		}
		if !is(out, el.NamespaceURI(), el.Tag) || attr(out, "ID") != id || hasSignature(out) {
			return nil, failf(ReasonSignatureInvalid, "validated element is not the signed element")
		}
		return out, nil
	}
	return nil, fail(ReasonSignatureInvalid, sanitizeDSigError(last))
}

// sanitizeDSigError keeps goxmldsig's sentinel errors and the crypto
// packages' verification errors, and replaces anything else, which may quote
// an algorithm URI from the input, with a fixed message.
func sanitizeDSigError(err error) error {
	switch {
	case errors.Is(err, dsig.ErrMissingSignature), errors.Is(err, dsig.ErrInvalidSignature):
		return err
	case strings.HasPrefix(err.Error(), "crypto/"):
		return err
	}
	return errors.New("signature does not verify")
}
