package samlverify

import (
	"context"
	"encoding/base64"
	"errors"
	"time"

	"github.com/beevik/etree"
)

// Verifier verifies SAML Responses and bearer assertions from trusted IdPs.
// It is safe for concurrent use.
type Verifier struct {
	cfg    Config
	idps   IdPSource
	replay ReplayCache
}

// New returns a Verifier for cfg, trusting the IdPs idps yields and
// recording one-time state in replay. It fails when cfg is invalid or a
// dependency is nil.
func New(cfg Config, idps IdPSource, replay ReplayCache) (*Verifier, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if idps == nil || replay == nil {
		return nil, errors.New("samlverify: New needs an IdPSource and a ReplayCache")
	}
	return &Verifier{cfg: cfg, idps: idps, replay: replay}, nil
}

// ResponseOptions holds per-call options of VerifyResponse.
type ResponseOptions struct {
	// ExpectedIdP, when set, is the entity ID of the IdP the AuthnRequest
	// was sent to; a Response from any other IdP is refused (its Issuer
	// fails with ReasonWrongIssuer, its key with ReasonUntrustedKey or
	// ReasonSignatureInvalid). When empty, the IdP is looked up by the Response's
	// (or else the assertion's) Issuer, and checked after the signature.
	ExpectedIdP string
	// Pending, when set, is the caller's own record of the AuthnRequests
	// it has outstanding (the SP keeps them in a sealed cookie in the
	// browser, not in the store). It is called with the Response's
	// InResponseTo, unverified ("" when the Response has none), before any
	// signature is checked, and returns the request that ID names. Then:
	// the request's IdP is the expected IdP (overriding ExpectedIdP); the
	// verified InResponseTo must equal its ID, which is compared before any
	// state is touched, so a Response for another request consumes
	// nothing; and instead of consuming the ID from the ReplayCache, the
	// ID is recorded as answered (SeenBefore, until the request's
	// NotOnOrAfter), so each request is answered once. No match is
	// ReasonUnknownRequest.
	Pending func(inResponseTo string) (PendingRequest, bool)
	// Unsolicited, when set, decides about a Response without
	// InResponseTo (IdP-initiated sign-in). It is called, before any
	// signature is checked, with the entity ID the Response's unverified
	// Issuer names, and returns whether that IdP may sign users in
	// unsolicited and, if so, the largest age of such a Response. Then the
	// Response passes only with every check of a solicited one, except
	// that neither the Response nor the assertion's bearer confirmation may
	// carry an InResponseTo, the IdP is the one the Issuer named, and the
	// assertion's IssueInstant must be at most maxAge (plus skew) in the
	// past. It is refused with ReasonUnknownRequest when the IdP may not,
	// and when Unsolicited is nil, as before.
	Unsolicited func(idp string) (maxAge time.Duration, ok bool)
}

// PendingRequest is an AuthnRequest the caller sent and still awaits an
// answer to (see ResponseOptions.Pending).
type PendingRequest struct {
	// ID is the AuthnRequest's ID; IdP the entity ID it was sent to.
	ID, IdP string
	// NotOnOrAfter is when the request stops being answerable.
	NotOnOrAfter time.Time
}

// answeredDomain separates answered request IDs from assertion IDs in the
// replay cache.
const answeredDomain = "tfgate answered request\x00"

// VerifyResponse verifies samlResponse, the base64 SAMLResponse form value
// of the HTTP-POST binding, and returns the identity its one assertion
// asserts. The error is always an *Error (see Reason) and the identity nil
// when verification fails.
//
// Checks, in order: size cap; base64; XML safety (no DTD, processing
// instruction or comment; round-trip stable; unique IDs); Response root;
// Status Success; exactly one Assertion or EncryptedAssertion in the whole
// message; a known IdP; the Response's signature, when present; decryption;
// the assertion's signature, when present (one of the two must cover the
// assertion used); Issuer; Destination; Conditions time window and audience;
// a bearer confirmation with Recipient = ACSURL, a live window and an
// InResponseTo; AuthnStatement and SessionNotOnOrAfter. Then, with state: the
// assertion ID must not have been seen (it is recorded until NotOnOrAfter
// plus skew), and InResponseTo must name an outstanding request, which is
// consumed. Unsolicited (IdP-initiated) responses are refused.
func (v *Verifier) VerifyResponse(ctx context.Context, samlResponse string, opts ResponseOptions) (*Identity, error) {
	raw, err := decodeBase64(samlResponse, v.cfg.MaxResponseBytes, base64.StdEncoding)
	if err != nil {
		return nil, err
	}
	doc, err := parseXML(raw)
	if err != nil {
		return nil, err
	}
	if opts.Unsolicited != nil && attr(doc.Root(), "InResponseTo") == "" {
		return v.verifyUnsolicited(ctx, doc.Root(), opts.Unsolicited)
	}
	var pending *PendingRequest
	if opts.Pending != nil {
		p, ok := opts.Pending(attr(doc.Root(), "InResponseTo"))
		if !ok || p.ID == "" || p.IdP == "" {
			return nil, failf(ReasonUnknownRequest, "InResponseTo names no sign-in pending in this browser")
		}
		pending, opts.ExpectedIdP = &p, p.IdP
	}
	id, err := v.verifyResponseDoc(doc.Root(), opts, 0)
	if err != nil {
		return nil, err
	}
	if pending != nil {
		if err := v.checkPendingState(ctx, id, *pending); err != nil {
			return nil, err
		}
		return id, nil
	}
	if err := v.checkState(ctx, id, true); err != nil {
		return nil, err
	}
	return id, nil
}

// verifyUnsolicited verifies an IdP-initiated Response (see
// ResponseOptions.Unsolicited).
func (v *Verifier) verifyUnsolicited(ctx context.Context, root *etree.Element, allow func(string) (time.Duration, bool)) (*Identity, error) {
	hint := issuerHint(root)
	maxAge, ok := allow(hint)
	if hint == "" || !ok {
		return nil, failAdvice(ReasonUnknownRequest, "unsolicited Response from an IdP not allowed to send one", adviceUnsolicited)
	}
	if maxAge <= 0 {
		return nil, failf(ReasonUnavailable, "unsolicited Response allowed with no maximum age")
	}
	id, err := v.verifyResponseDoc(root, ResponseOptions{ExpectedIdP: hint}, maxAge)
	if err != nil {
		return nil, err
	}
	if err := v.checkState(ctx, id, false); err != nil {
		return nil, err
	}
	return id, nil
}

// checkPendingState is checkState for a request the caller holds: the
// verified InResponseTo is compared with it first, so that a Response to
// another request records nothing; then the assertion ID must be new and
// the request not answered before.
func (v *Verifier) checkPendingState(ctx context.Context, id *Identity, p PendingRequest) error {
	if id.InResponseTo != p.ID {
		return failf(ReasonUnknownRequest, "InResponseTo is not the sign-in pending in this browser")
	}
	if !v.cfg.Clock.Now().Before(p.NotOnOrAfter) {
		return failf(ReasonUnknownRequest, "the sign-in this Response answers has expired")
	}
	if err := v.checkState(ctx, id, false); err != nil {
		return err
	}
	seen, err := v.replay.SeenBefore(ctx, answeredDomain+p.ID, p.NotOnOrAfter)
	if err != nil {
		return fail(ReasonUnavailable, err)
	}
	if seen {
		return failf(ReasonUnknownRequest, "the sign-in this Response answers was answered before")
	}
	return nil
}

// verifyResponseDoc runs the stateless checks on a parsed Response. A
// positive unsolicitedMaxAge verifies an IdP-initiated Response: no
// InResponseTo anywhere, and an assertion at most that old.
func (v *Verifier) verifyResponseDoc(root *etree.Element, opts ResponseOptions, unsolicitedMaxAge time.Duration) (*Identity, error) {
	now := v.cfg.Clock.Now()
	if err := checkResponseShape(root); err != nil {
		return nil, err
	}
	idp, err := v.selectIdP(root, opts.ExpectedIdP)
	if err != nil {
		return nil, err
	}
	resp, signed := root, hasSignature(root)
	if signed {
		if resp, err = verifySigned(root, v.sigPolicy(idp, now)); err != nil {
			return nil, err
		}
	}
	if err := v.checkResponseFields(resp, idp); err != nil {
		return nil, err
	}
	a, err := v.authenticAssertion(resp, signed, idp, now)
	if err != nil {
		return nil, err
	}
	p := assertionPolicy{
		audiences:        []string{v.cfg.SPEntityID},
		recipient:        v.cfg.ACSURL,
		requireAuthn:     true,
		wantRequest:      true,
		respInResponseTo: attr(resp, "InResponseTo"),
	}
	if unsolicitedMaxAge > 0 {
		if p.respInResponseTo != "" {
			return nil, failf(ReasonUnknownRequest, "InResponseTo in a Response verified as unsolicited")
		}
		p.wantRequest, p.unsolicited = false, true
		if err := v.checkIssueAge(a, unsolicitedMaxAge, now); err != nil {
			return nil, err
		}
	}
	return v.checkAssertion(a, idp, p, now)
}

// checkIssueAge requires the assertion's IssueInstant, which its signature
// covers, to be at most maxAge (plus skew) before now and not in the
// future beyond skew.
func (v *Verifier) checkIssueAge(a *etree.Element, maxAge time.Duration, now time.Time) error {
	issued, err := timeAttr(a, "IssueInstant")
	if err != nil {
		return err
	}
	if issued.IsZero() {
		return failf(ReasonMalformed, "assertion without IssueInstant")
	}
	if issued.After(now.Add(v.cfg.Skew)) {
		return failf(ReasonNotYetValid, "assertion issued in the future")
	}
	if now.Sub(issued) > maxAge+v.cfg.Skew {
		return failAdvice(ReasonExpired, "unsolicited assertion older than its maximum age", adviceUnsolicitedTooOld)
	}
	return nil
}

// checkResponseShape checks what can be judged before any signature: the
// root is a SAML 2.0 Response with status Success carrying exactly one
// assertion, counted across the whole document so that a copy hidden
// anywhere (Extensions, Advice, inside a signature) is refused outright.
func checkResponseShape(root *etree.Element) error {
	if !is(root, nsProtocol, "Response") {
		return failf(ReasonMalformed, "root is not a SAML Response")
	}
	if attr(root, "Version") != "2.0" {
		return failf(ReasonUnsupported, "response version is not 2.0")
	}
	if err := checkStatus(root); err != nil {
		return err
	}
	if countDescendants(root, nsAssertion, "Assertion", "EncryptedAssertion") != 1 ||
		countDescendants(root, nsProtocol, "Response") != 1 {
		return failf(ReasonMultipleAssertions, "message must carry exactly one assertion")
	}
	return nil
}

// checkStatus requires the top-level StatusCode to be Success.
func checkStatus(resp *etree.Element) error {
	st, err := requiredChild(resp, nsProtocol, "Status")
	if err != nil {
		return err
	}
	code, err := requiredChild(st, nsProtocol, "StatusCode")
	if err != nil {
		return err
	}
	if attr(code, "Value") != statusOK {
		return failf(ReasonStatusNotSuccess, "status is not Success")
	}
	return nil
}

// selectIdP picks the IdP whose keys verify the message: the expected one,
// or the one the (not yet verified) Issuer names. The Issuers are checked
// again on verified elements, so a forged Issuer only selects keys that
// then fail to verify.
func (v *Verifier) selectIdP(root *etree.Element, expected string) (*IdP, error) {
	name := expected
	if name == "" {
		name = issuerHint(root)
	}
	if name == "" {
		return nil, failf(ReasonUnknownIdP, "no Issuer to select an IdP")
	}
	idp, ok := v.idps.LookupIdP(name)
	if !ok {
		if expected != "" {
			return nil, failf(ReasonUnknownIdP, "expected IdP is not configured")
		}
		return nil, failf(ReasonUnknownIdP, "Issuer names no configured IdP")
	}
	return idp, nil
}

// issuerHint returns the Response's Issuer or, when absent, its
// Assertion's, or "".
func issuerHint(root *etree.Element) string {
	if s := issuerOf(root); s != "" {
		return s
	}
	if a := firstChild(root, nsAssertion, "Assertion"); a != nil {
		return issuerOf(a)
	}
	return ""
}

// issuerOf returns the text of el's first Issuer child, or "".
func issuerOf(el *etree.Element) string {
	if iss := firstChild(el, nsAssertion, "Issuer"); iss != nil {
		if s, err := uriText(iss); err == nil {
			return s
		}
	}
	return ""
}

// firstChild returns el's first child ns:tag, or nil.
func firstChild(el *etree.Element, ns, tag string) *etree.Element {
	if cs := children(el, ns, tag); len(cs) > 0 {
		return cs[0]
	}
	return nil
}

// checkResponseFields checks the Response's Issuer (optional) and
// Destination (checked when present; required by the binding only when
// signed, and IdPs differ).
func (v *Verifier) checkResponseFields(resp *etree.Element, idp *IdP) error {
	if err := checkIssuer(resp, idp, false); err != nil {
		return err
	}
	if d := attr(resp, "Destination"); d != "" && d != v.cfg.ACSURL {
		return failf(ReasonWrongDestination, "Destination is not the ACS URL")
	}
	return nil
}

// authenticAssertion returns the assertion of resp that a verified
// signature covers: resp's (if respSigned) or its own, which is verified
// whenever present, even inside a signed Response.
func (v *Verifier) authenticAssertion(resp *etree.Element, respSigned bool, idp *IdP, now time.Time) (*etree.Element, error) {
	plain := children(resp, nsAssertion, "Assertion")
	enc := children(resp, nsAssertion, "EncryptedAssertion")
	if len(plain)+len(enc) != 1 {
		return nil, failf(ReasonMultipleAssertions, "response must carry exactly one assertion")
	}
	var a *etree.Element
	if len(enc) == 1 {
		var err error
		if a, err = v.decryptAssertion(enc[0], respSigned); err != nil {
			return nil, err
		}
	} else {
		a = plain[0]
	}
	if hasSignature(a) {
		return verifySigned(a, v.sigPolicy(idp, now))
	}
	if !respSigned {
		return nil, failf(ReasonSignatureMissing, "neither Response nor assertion is signed")
	}
	return a, nil
}

// sigPolicy returns the signature policy for idp at now.
func (v *Verifier) sigPolicy(idp *IdP, now time.Time) sigPolicy {
	return sigPolicy{certs: idp.SigningCerts, allowSHA1: v.cfg.AllowSHA1, now: now, clock: v.cfg.Clock}
}
