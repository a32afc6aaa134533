package samlverify

import (
	"slices"
	"time"

	"github.com/beevik/etree"
)

// SAML constants the checks compare against.
const (
	bearerMethod = "urn:oasis:names:tc:SAML:2.0:cm:bearer"
	entityFormat = "urn:oasis:names:tc:SAML:2.0:nameid-format:entity"
	statusOK     = "urn:oasis:names:tc:SAML:2.0:status:Success"
)

// assertionPolicy is what differs between a Web SSO assertion and a bare
// RFC 7522 assertion.
type assertionPolicy struct {
	audiences    []string // an AudienceRestriction must name one of these
	recipient    string   // the bearer confirmation's Recipient
	requireAuthn bool     // an AuthnStatement must be present
	// wantRequest makes InResponseTo mandatory; respInResponseTo is the
	// Response's value ("" when absent), which must then agree.
	wantRequest      bool
	respInResponseTo string
	// unsolicited forbids an InResponseTo in the bearer confirmation.
	unsolicited bool
}

// checkAssertion runs every stateless check on a, an assertion taken from a
// validated element, and returns the identity it asserts. now is the one
// clock reading for all time checks.
func (v *Verifier) checkAssertion(a *etree.Element, idp *IdP, p assertionPolicy, now time.Time) (*Identity, error) {
	id := &Identity{IdP: idp.EntityID, AssertionID: attr(a, "ID")}
	if attr(a, "Version") != "2.0" {
		return nil, failf(ReasonUnsupported, "assertion version is not 2.0")
	}
	if id.AssertionID == "" {
		return nil, failf(ReasonMalformed, "assertion without ID")
	}
	if err := checkIssuer(a, idp, true); err != nil {
		return nil, err
	}
	condEnd, err := v.checkConditions(a, p.audiences, now)
	if err != nil {
		return nil, err
	}
	confEnd, err := v.checkSubject(a, id, p, now)
	if err != nil {
		return nil, err
	}
	id.NotOnOrAfter = earliest(condEnd, confEnd)
	if err := v.checkAuthn(a, id, p.requireAuthn, now); err != nil {
		return nil, err
	}
	attrs, err := readAttributes(a)
	if err != nil {
		return nil, err
	}
	applyAttributes(id, attrs, v.cfg.Attributes)
	return id, nil
}

// checkIssuer requires el's Issuer (mandatory when required) to be the
// IdP's entity ID, in the entity format when a Format is given.
func checkIssuer(el *etree.Element, idp *IdP, required bool) error {
	iss, err := optionalChild(el, nsAssertion, "Issuer")
	if err != nil || (iss == nil && !required) {
		return err
	}
	if iss == nil {
		return failf(ReasonWrongIssuer, "assertion without Issuer")
	}
	name, err := uriText(iss)
	if err != nil {
		return err
	}
	if f := attr(iss, "Format"); f != "" && f != entityFormat {
		return failf(ReasonWrongIssuer, "Issuer format is not entity")
	}
	if name != idp.EntityID {
		return failf(ReasonWrongIssuer, "Issuer is not the IdP")
	}
	return nil
}

// checkWindow checks now against notBefore and notOnOrAfter (either may be
// zero), allowing the configured skew on both sides.
func (v *Verifier) checkWindow(notBefore, notOnOrAfter, now time.Time) error {
	skew := v.cfg.Skew
	if !notBefore.IsZero() && now.Add(skew).Before(notBefore) {
		return failf(ReasonNotYetValid, "before NotBefore")
	}
	if !notOnOrAfter.IsZero() && !now.Add(-skew).Before(notOnOrAfter) {
		return failf(ReasonExpired, "at or after NotOnOrAfter")
	}
	return nil
}

// checkConditions checks the Conditions time window and audience, and
// returns its NotOnOrAfter. Conditions SAML defines but that need no check
// here (OneTimeUse, which the replay cache enforces anyway, and
// ProxyRestriction) pass; any other condition is refused, as saml-core
// §2.5.1 requires for conditions a relying party does not understand.
func (v *Verifier) checkConditions(a *etree.Element, audiences []string, now time.Time) (time.Time, error) {
	c, err := optionalChild(a, nsAssertion, "Conditions")
	if err != nil {
		return time.Time{}, err
	}
	if c == nil {
		return time.Time{}, failf(ReasonNoAudience, "assertion without Conditions")
	}
	nb, err := timeAttr(c, "NotBefore")
	if err != nil {
		return time.Time{}, err
	}
	noa, err := timeAttr(c, "NotOnOrAfter")
	if err != nil {
		return time.Time{}, err
	}
	if err := v.checkWindow(nb, noa, now); err != nil {
		return time.Time{}, err
	}
	return noa, checkConditionChildren(c, audiences)
}

// checkConditionChildren requires at least one AudienceRestriction and that
// each names one of audiences (several restrictions must all hold).
func checkConditionChildren(c *etree.Element, audiences []string) error {
	restrictions := 0
	for _, el := range c.ChildElements() {
		switch {
		case is(el, nsAssertion, "AudienceRestriction"):
			restrictions++
			if ok, err := namesAudience(el, audiences); err != nil || !ok {
				if err == nil {
					err = failf(ReasonWrongAudience, "audience does not name this SP")
				}
				return err
			}
		case is(el, nsAssertion, "OneTimeUse"), is(el, nsAssertion, "ProxyRestriction"):
		default:
			return failf(ReasonUnsupported, "unknown condition")
		}
	}
	if restrictions == 0 {
		return failf(ReasonNoAudience, "no AudienceRestriction")
	}
	return nil
}

// namesAudience reports whether the AudienceRestriction r has an Audience
// equal to one of audiences.
func namesAudience(r *etree.Element, audiences []string) (bool, error) {
	for _, el := range children(r, nsAssertion, "Audience") {
		s, err := uriText(el)
		if err != nil {
			return false, err
		}
		if slices.Contains(audiences, s) {
			return true, nil
		}
	}
	return false, nil
}

// checkAuthn reads the AuthnStatement(s): SessionIndex and AuthnInstant
// from the first, the earliest SessionNotOnOrAfter of all, which must not
// have passed.
func (v *Verifier) checkAuthn(a *etree.Element, id *Identity, required bool, now time.Time) error {
	sts := children(a, nsAssertion, "AuthnStatement")
	if len(sts) == 0 {
		if required {
			return failf(ReasonNoAuthnStatement, "no AuthnStatement")
		}
		return nil
	}
	id.SessionIndex = attr(sts[0], "SessionIndex")
	var err error
	if id.AuthnInstant, err = timeAttr(sts[0], "AuthnInstant"); err != nil {
		return err
	}
	for _, st := range sts {
		t, err := timeAttr(st, "SessionNotOnOrAfter")
		if err != nil {
			return err
		}
		id.SessionNotOnOrAfter = earliest(id.SessionNotOnOrAfter, t)
	}
	return v.checkWindow(time.Time{}, id.SessionNotOnOrAfter, now)
}
