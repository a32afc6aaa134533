package samlverify

import (
	"crypto/x509"
	"encoding/base64"
	"strings"
	"time"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"
)

// SAML binding and protocol identifiers read from metadata.
const (
	bindingRedirect = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
	bindingPOST     = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
	protocolSAML2   = "urn:oasis:names:tc:SAML:2.0:protocol"
)

// DefaultMaxMetadataBytes is MetadataOptions.MaxBytes when unset. It is large
// because federation aggregates run to tens of megabytes.
const DefaultMaxMetadataBytes = 64 << 20

// MetadataOptions controls ParseMetadata.
type MetadataOptions struct {
	// PinnedCerts and PinnedSHA256 are the trust anchors for the metadata's
	// own signature. When either is set, the document's root must carry a
	// signature by a pinned certificate, or by a certificate (in its
	// KeyInfo) whose SHA-256 fingerprint is pinned. When both are empty the
	// metadata is trusted as delivered (a local file, or HTTPS) and its
	// signature, if any, is not checked. default: none.
	PinnedCerts []*x509.Certificate
	// PinnedSHA256 lists SHA-256 certificate fingerprints in hex, colons
	// and case ignored. default: none.
	PinnedSHA256 []string
	// AllowSHA1 accepts a SHA-1 metadata signature. default: false.
	AllowSHA1 bool
	// MaxBytes caps the document size. default: DefaultMaxMetadataBytes.
	MaxBytes int
	// Clock gives the time for validUntil and certificate validity.
	// default: nil, real time.
	Clock *dsig.Clock
}

// Metadata is a parsed metadata document.
type Metadata struct {
	// IdPs are the identity providers described, in document order. An
	// entity without an IDPSSODescriptor for SAML 2.0, or without a signing
	// certificate, is left out.
	IdPs []*IdP
	// ValidUntil is the earliest validUntil in the document, or zero.
	ValidUntil time.Time
	// CacheDuration is the shortest cacheDuration in the document, or zero.
	CacheDuration time.Duration
	// Signed reports whether the document's signature was verified against
	// a pin.
	Signed bool
}

// ParseMetadata parses raw, an EntityDescriptor or EntitiesDescriptor,
// after the same XML safety checks as a SAML message and, when pins are
// configured, a signature check; IdPs are then read only from the verified
// element. It fails with ReasonMetadataInvalid (wrapping a more specific
// *Error when there is one) when the document is unsafe, unsigned while
// pins are set, already past validUntil, or describes no usable IdP.
func ParseMetadata(raw []byte, opts MetadataOptions) (*Metadata, error) {
	if opts.MaxBytes == 0 {
		opts.MaxBytes = DefaultMaxMetadataBytes
	}
	if len(raw) > opts.MaxBytes {
		return nil, invalidMetadata(failf(ReasonTooLarge, "metadata exceeds the size cap"))
	}
	doc, err := parseXML(raw)
	if err != nil {
		return nil, invalidMetadata(err)
	}
	root, signed, err := verifyMetadataSignature(doc.Root(), opts)
	if err != nil {
		return nil, invalidMetadata(err)
	}
	md := &Metadata{Signed: signed}
	if err := md.collect(root, time.Time{}, 0); err != nil {
		return nil, invalidMetadata(err)
	}
	if len(md.IdPs) == 0 {
		return nil, invalidMetadata(failf(ReasonMalformed, "no SAML 2.0 IdP with a signing certificate"))
	}
	if !md.ValidUntil.IsZero() && !opts.Clock.Now().Before(md.ValidUntil) {
		return nil, invalidMetadata(failf(ReasonExpired, "metadata is past validUntil"))
	}
	return md, nil
}

// invalidMetadata wraps err in a ReasonMetadataInvalid error.
func invalidMetadata(err error) error {
	return fail(ReasonMetadataInvalid, err)
}

// collect walks el (an EntitiesDescriptor or EntityDescriptor), carrying
// the earliest validUntil and shortest cacheDuration down the tree.
func (md *Metadata) collect(el *etree.Element, until time.Time, cache time.Duration) error {
	until, cache, err := lifetime(el, until, cache)
	if err != nil {
		return err
	}
	md.ValidUntil = earliest(md.ValidUntil, until)
	md.CacheDuration = shortest(md.CacheDuration, cache)
	switch {
	case is(el, nsMetadata, "EntitiesDescriptor"):
		for _, c := range el.ChildElements() {
			if is(c, nsMetadata, "EntitiesDescriptor") || is(c, nsMetadata, "EntityDescriptor") {
				if err := md.collect(c, until, cache); err != nil {
					return err
				}
			}
		}
	case is(el, nsMetadata, "EntityDescriptor"):
		idp, err := parseEntity(el, until, cache)
		if err != nil || idp == nil {
			return err
		}
		md.IdPs = append(md.IdPs, idp)
	default:
		return failf(ReasonMalformed, "root is not an EntityDescriptor or EntitiesDescriptor")
	}
	return nil
}

// lifetime folds el's validUntil and cacheDuration into the inherited ones.
func lifetime(el *etree.Element, until time.Time, cache time.Duration) (time.Time, time.Duration, error) {
	vu, err := timeAttr(el, "validUntil")
	if err != nil {
		return until, cache, err
	}
	if s := attr(el, "cacheDuration"); s != "" {
		d, err := parseXSDuration(s)
		if err != nil {
			return until, cache, err
		}
		cache = shortest(cache, d)
	}
	return earliest(until, vu), cache, nil
}

// parseEntity returns the IdP an EntityDescriptor describes, or nil when it
// has no SAML 2.0 IDPSSODescriptor with a signing certificate.
func parseEntity(ed *etree.Element, until time.Time, cache time.Duration) (*IdP, error) {
	entityID := attr(ed, "entityID")
	for _, sso := range children(ed, nsMetadata, "IDPSSODescriptor") {
		if !strings.Contains(" "+attr(sso, "protocolSupportEnumeration")+" ", " "+protocolSAML2+" ") {
			continue
		}
		u, c, err := lifetime(sso, until, cache)
		if err != nil {
			return nil, err
		}
		idp := &IdP{EntityID: entityID, ValidUntil: u, CacheDuration: c,
			WantAuthnRequestsSigned: attr(sso, "WantAuthnRequestsSigned") == "true" || attr(sso, "WantAuthnRequestsSigned") == "1"}
		if err := readIDPSSO(sso, idp); err != nil {
			return nil, err
		}
		if entityID == "" || len(idp.SigningCerts) == 0 {
			return nil, nil
		}
		return idp, nil
	}
	return nil, nil
}

// readIDPSSO fills idp from an IDPSSODescriptor.
func readIDPSSO(sso *etree.Element, idp *IdP) error {
	for _, kd := range children(sso, nsMetadata, "KeyDescriptor") {
		if use := attr(kd, "use"); use != "" && use != "signing" {
			continue
		}
		certs, err := keyDescriptorCerts(kd)
		if err != nil {
			return err
		}
		idp.SigningCerts = append(idp.SigningCerts, certs...)
	}
	idp.SSORedirectURL, idp.SSOPostURL = endpoints(sso, "SingleSignOnService")
	idp.SLORedirectURL, idp.SLOPostURL = endpoints(sso, "SingleLogoutService")
	for _, f := range children(sso, nsMetadata, "NameIDFormat") {
		s, err := uriText(f)
		if err != nil {
			return err
		}
		idp.NameIDFormats = append(idp.NameIDFormats, s)
	}
	return nil
}

// keyDescriptorCerts returns every X509Certificate in a KeyDescriptor.
func keyDescriptorCerts(kd *etree.Element) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	var bad bool
	walk(kd, func(e *etree.Element) {
		if bad || !is(e, nsDSig, "X509Certificate") {
			return
		}
		text, err := textOf(e)
		der, err2 := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(text), ""))
		cert, err3 := x509.ParseCertificate(der)
		if err != nil || err2 != nil || err3 != nil {
			bad = true
			return
		}
		out = append(out, cert)
	})
	if bad {
		return nil, failf(ReasonMalformed, "KeyDescriptor certificate does not parse")
	}
	return out, nil
}

// endpoints returns the first HTTP-Redirect and HTTP-POST Location of the
// role's services named tag.
func endpoints(sso *etree.Element, tag string) (redirect, post string) {
	for _, s := range children(sso, nsMetadata, tag) {
		switch attr(s, "Binding") {
		case bindingRedirect:
			if redirect == "" {
				redirect = attr(s, "Location")
			}
		case bindingPOST:
			if post == "" {
				post = attr(s, "Location")
			}
		}
	}
	return redirect, post
}

// shortest returns the shorter positive duration of a and b, or zero.
func shortest(a, b time.Duration) time.Duration {
	if a <= 0 || (b > 0 && b < a) {
		return b
	}
	return a
}
