package samlverify

import (
	"context"
	"encoding/base64"
	"net/url"
	"strings"

	"github.com/beevik/etree"
)

// AssertionOptions holds the options of VerifyAssertion.
type AssertionOptions struct {
	// TokenURL is the absolute URL of the token endpoint the assertion is
	// presented to. The bearer confirmation's Recipient must equal it, and
	// it is accepted as an Audience besides Config.SPEntityID (RFC 7522
	// §3). Required.
	TokenURL string
	// ExpectedIdP, when set, restricts the issuer to this entity ID, as in
	// ResponseOptions.
	ExpectedIdP string
}

// VerifyAssertion verifies a bare SAML 2.0 Assertion presented to the token
// endpoint by the SAML 2.0 bearer grant (RFC 7522): assertion is its
// base64url encoding, with or without padding. The Assertion itself must
// carry a valid signature by its IdP (nothing else can be signed here), a
// bearer confirmation whose Recipient is opts.TokenURL, an audience naming
// the SP or the token endpoint, and a live time window. No InResponseTo is
// required, and none is consumed. Its ID is recorded in the replay cache,
// so it is accepted once. Errors are *Error, as for VerifyResponse.
func (v *Verifier) VerifyAssertion(ctx context.Context, assertion string, opts AssertionOptions) (*Identity, error) {
	if u, err := url.Parse(opts.TokenURL); err != nil || !u.IsAbs() {
		return nil, failf(ReasonWrongRecipient, "AssertionOptions.TokenURL must be an absolute URL")
	}
	// RFC 7522 §2.1: base64url, pad characters SHOULD NOT be included.
	raw, err := decodeBase64(strings.TrimRight(assertion, "="), v.cfg.MaxResponseBytes, base64.RawURLEncoding)
	if err != nil {
		return nil, err
	}
	doc, err := parseXML(raw)
	if err != nil {
		return nil, err
	}
	id, err := v.verifyBareAssertion(doc.Root(), opts)
	if err != nil {
		return nil, err
	}
	if err := v.checkState(ctx, id, false); err != nil {
		return nil, err
	}
	return id, nil
}

// verifyBareAssertion runs the stateless checks on a parsed bare assertion.
func (v *Verifier) verifyBareAssertion(root *etree.Element, opts AssertionOptions) (*Identity, error) {
	now := v.cfg.Clock.Now()
	if !is(root, nsAssertion, "Assertion") {
		return nil, failf(ReasonMalformed, "root is not a SAML Assertion")
	}
	if countDescendants(root, nsAssertion, "Assertion", "EncryptedAssertion") != 1 {
		return nil, failf(ReasonMultipleAssertions, "assertion holds another assertion")
	}
	name := opts.ExpectedIdP
	if name == "" {
		name = issuerOf(root)
	}
	idp, ok := v.idps.LookupIdP(name)
	if !ok || name == "" {
		return nil, failf(ReasonUnknownIdP, "Issuer names no configured IdP")
	}
	if !hasSignature(root) {
		return nil, failf(ReasonSignatureMissing, "assertion is not signed")
	}
	a, err := verifySigned(root, v.sigPolicy(idp, now))
	if err != nil {
		return nil, err
	}
	return v.checkAssertion(a, idp, assertionPolicy{
		audiences: []string{v.cfg.SPEntityID, opts.TokenURL},
		recipient: opts.TokenURL,
	}, now)
}

// checkState runs the stateful checks last, so that nothing is recorded for
// a message that fails a stateless check: the assertion ID must be new (it
// is remembered until NotOnOrAfter plus skew, as long as it could be
// accepted), and, for Web SSO, InResponseTo must name an outstanding
// AuthnRequest, which is consumed. The replay check comes first so that a
// replayed Response reports ReasonReplay rather than an unknown request.
func (v *Verifier) checkState(ctx context.Context, id *Identity, wantRequest bool) error {
	until := id.NotOnOrAfter.Add(v.cfg.Skew)
	if !v.cfg.Clock.Now().Before(until) {
		return failf(ReasonExpired, "assertion expired during verification")
	}
	seen, err := v.replay.SeenBefore(ctx, id.AssertionID, until)
	if err != nil {
		return fail(ReasonUnavailable, err)
	}
	if seen {
		return failf(ReasonReplay, "assertion ID seen before")
	}
	if !wantRequest {
		return nil
	}
	ok, err := v.replay.Consume(ctx, id.InResponseTo)
	if err != nil {
		return fail(ReasonUnavailable, err)
	}
	if !ok {
		return failf(ReasonUnknownRequest, "InResponseTo names no outstanding request")
	}
	return nil
}
