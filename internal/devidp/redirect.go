package devidp

import (
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"net/url"
	"strings"
)

// Signature algorithms accepted on HTTP-Redirect AuthnRequests. SHA-1 is
// refused: tfgate's SP never needs it.
var redirectSigAlgs = map[string]x509.SignatureAlgorithm{
	"http://www.w3.org/2001/04/xmldsig-more#rsa-sha256":   x509.SHA256WithRSA,
	"http://www.w3.org/2001/04/xmldsig-more#rsa-sha512":   x509.SHA512WithRSA,
	"http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256": x509.ECDSAWithSHA256,
}

// redirectParams is the binding's parameters exactly as they appear in the
// query string. The redirect signature covers these encoded forms, not the
// decoded values, so they must not be re-encoded (SAML bindings §3.4.4.1).
type redirectParams map[string]string

// redirectKeys are the parameters the binding defines; others are ignored.
var redirectKeys = map[string]bool{"SAMLRequest": true, "RelayState": true, "SigAlg": true, "Signature": true}

// parseRawQuery splits a raw query into the binding's parameters, refusing
// repeats (which would make "the" signed value ambiguous).
func parseRawQuery(rawQuery string) (redirectParams, error) {
	p := redirectParams{}
	for part := range strings.SplitSeq(rawQuery, "&") {
		key, value, _ := strings.Cut(part, "=")
		if !redirectKeys[key] {
			continue
		}
		if _, dup := p[key]; dup {
			return nil, fmt.Errorf("%w: %s appears more than once", ErrMalformedRequest, key)
		}
		p[key] = value
	}
	return p, nil
}

// values returns the decoded SAMLRequest and RelayState.
func (p redirectParams) values() (samlRequest, relayState string, err error) {
	if samlRequest, err = p.decoded("SAMLRequest"); err != nil {
		return "", "", err
	}
	if samlRequest == "" {
		return "", "", fmt.Errorf("%w: no SAMLRequest parameter", ErrMalformedRequest)
	}
	if relayState, err = p.decoded("RelayState"); err != nil {
		return "", "", err
	}
	if len(relayState) > maxRelayState {
		return "", "", fmt.Errorf("%w: RelayState is %d bytes; SAML bindings §3.4.3 allows %d", ErrMalformedRequest, len(relayState), maxRelayState)
	}
	return samlRequest, relayState, nil
}

func (p redirectParams) decoded(key string) (string, error) {
	v, err := url.QueryUnescape(p[key])
	if err != nil {
		return "", fmt.Errorf("%w: %s is not URL-encoded: %v", ErrMalformedRequest, key, err)
	}
	return v, nil
}

// verify checks the redirect-binding signature with the SP's certificate.
func (p redirectParams) verify(cert *x509.Certificate) error {
	rawAlg, hasAlg := p["SigAlg"]
	_, hasSig := p["Signature"]
	if !hasAlg || !hasSig {
		return fmt.Errorf("%w: the SP has a certificate configured but the request is unsigned", ErrSignature)
	}
	sigAlg, err := p.decoded("SigAlg")
	if err != nil {
		return err
	}
	algo, ok := redirectSigAlgs[sigAlg]
	if !ok {
		return fmt.Errorf("%w: SigAlg %q is not accepted", ErrSignature, sigAlg)
	}
	sig64, err := p.decoded("Signature")
	if err != nil {
		return err
	}
	sig, err := base64.StdEncoding.DecodeString(sig64)
	if err != nil {
		return fmt.Errorf("%w: Signature is not base64", ErrSignature)
	}
	signed := "SAMLRequest=" + p["SAMLRequest"]
	if rs, ok := p["RelayState"]; ok {
		signed += "&RelayState=" + rs
	}
	signed += "&SigAlg=" + rawAlg
	if err := cert.CheckSignature(algo, []byte(signed), sig); err != nil {
		return fmt.Errorf("%w: %v", ErrSignature, err)
	}
	return nil
}
