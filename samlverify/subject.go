package samlverify

import (
	"time"

	"github.com/beevik/etree"
)

// checkSubject reads the NameID into id and finds a bearer
// SubjectConfirmation that holds: right Recipient, a live time window and,
// for Web SSO, an InResponseTo that agrees with the Response. It returns the
// confirmation's NotOnOrAfter. When several bearer confirmations are
// present, the first that holds is used (saml-profiles §4.1.4.3); when none
// does, the first one's error is returned.
func (v *Verifier) checkSubject(a *etree.Element, id *Identity, p assertionPolicy, now time.Time) (time.Time, error) {
	subj, err := requiredChild(a, nsAssertion, "Subject")
	if err != nil {
		return time.Time{}, err
	}
	if err := readNameID(subj, id); err != nil {
		return time.Time{}, err
	}
	var first error
	for _, sc := range children(subj, nsAssertion, "SubjectConfirmation") {
		if attr(sc, "Method") != bearerMethod {
			continue
		}
		end, irt, err := v.checkBearer(sc, p, now)
		if err == nil {
			id.InResponseTo = irt
			return end, nil
		}
		if first == nil {
			first = err
		}
	}
	if first == nil {
		first = failf(ReasonNoBearerConfirmation, "no bearer SubjectConfirmation")
	}
	return time.Time{}, first
}

// readNameID sets id.NameID and id.NameIDFormat from subj. An EncryptedID
// or BaseID is not supported: identities here are plain NameIDs.
func readNameID(subj *etree.Element, id *Identity) error {
	if len(children(subj, nsAssertion, "EncryptedID"))+len(children(subj, nsAssertion, "BaseID")) > 0 {
		return failf(ReasonUnsupported, "EncryptedID or BaseID subject")
	}
	n, err := requiredChild(subj, nsAssertion, "NameID")
	if err != nil {
		return err
	}
	if id.NameID, err = textOf(n); err != nil {
		return err
	}
	if id.NameID == "" {
		return failf(ReasonMalformed, "empty NameID")
	}
	id.NameIDFormat = attr(n, "Format")
	return nil
}

// checkBearer checks one bearer SubjectConfirmation and returns its
// NotOnOrAfter and InResponseTo. The bearer profile requires
// SubjectConfirmationData with a Recipient and a NotOnOrAfter.
func (v *Verifier) checkBearer(sc *etree.Element, p assertionPolicy, now time.Time) (time.Time, string, error) {
	d, err := requiredChild(sc, nsAssertion, "SubjectConfirmationData")
	if err != nil {
		return time.Time{}, "", err
	}
	if attr(d, "Recipient") != p.recipient {
		return time.Time{}, "", failf(ReasonWrongRecipient, "Recipient is not this endpoint")
	}
	nb, err := timeAttr(d, "NotBefore")
	if err != nil {
		return time.Time{}, "", err
	}
	noa, err := timeAttr(d, "NotOnOrAfter")
	if err != nil {
		return time.Time{}, "", err
	}
	if noa.IsZero() {
		return time.Time{}, "", failf(ReasonMalformed, "bearer confirmation without NotOnOrAfter")
	}
	if err := v.checkWindow(nb, noa, now); err != nil {
		return time.Time{}, "", err
	}
	irt := attr(d, "InResponseTo")
	if err := checkInResponseTo(irt, p); err != nil {
		return time.Time{}, "", err
	}
	return noa, irt, nil
}

// checkInResponseTo requires, for Web SSO, an InResponseTo in the
// confirmation that equals the Response's when that has one. Whether it
// names an outstanding request is checked last, against the store.
func checkInResponseTo(irt string, p assertionPolicy) error {
	if p.unsolicited && irt != "" {
		return failf(ReasonUnknownRequest, "InResponseTo in an assertion verified as unsolicited")
	}
	if !p.wantRequest {
		return nil
	}
	if irt == "" {
		return failAdvice(ReasonUnknownRequest, "no InResponseTo (unsolicited response)", adviceUnsolicited)
	}
	if p.respInResponseTo != "" && p.respInResponseTo != irt {
		return failf(ReasonUnknownRequest, "Response and assertion InResponseTo differ")
	}
	return nil
}
