package samlverify

import (
	"time"

	"github.com/beevik/etree"
)

// Identity is what a verified assertion says about its subject. Every field
// comes from the element the signature validator returned.
type Identity struct {
	// NameID is the subject's NameID value, exactly as sent.
	NameID string
	// NameIDFormat is the NameID's Format attribute, or "" when absent
	// (which SAML defines as unspecified).
	NameIDFormat string
	// Email is the first value of the first attribute AttributeMap.Email
	// names, or "".
	Email string
	// DisplayName is the first value of the first attribute
	// AttributeMap.DisplayName names, or "".
	DisplayName string
	// Groups holds every value of the first attribute AttributeMap.Groups
	// names, in order, without duplicates.
	Groups []string
	// Attributes maps every attribute Name to all its string values, in
	// order. Values that are not text (nested elements, xsi:nil) are left
	// out.
	Attributes map[string][]string
	// IdP is the entity ID of the IdP that issued the assertion.
	IdP string
	// SessionIndex is the AuthnStatement's SessionIndex, needed for logout.
	SessionIndex string
	// AuthnInstant is when the IdP authenticated the subject.
	AuthnInstant time.Time
	// NotOnOrAfter is the earliest of the assertion's Conditions and bearer
	// confirmation NotOnOrAfter: the assertion is not accepted from then on.
	NotOnOrAfter time.Time
	// SessionNotOnOrAfter is the AuthnStatement's SessionNotOnOrAfter, or
	// zero. A session built from this identity must not outlive it.
	SessionNotOnOrAfter time.Time
	// AssertionID is the assertion's ID, recorded in the replay cache.
	AssertionID string
	// InResponseTo is the AuthnRequest ID the assertion answers, or "" for
	// a bare assertion verified by VerifyAssertion.
	InResponseTo string
}

// attribute is one saml:Attribute, with its string values.
type attribute struct {
	name, friendlyName string
	values             []string
}

// readAttributes collects the attributes of every AttributeStatement in a.
func readAttributes(a *etree.Element) ([]attribute, error) {
	var out []attribute
	for _, st := range children(a, nsAssertion, "AttributeStatement") {
		for _, el := range children(st, nsAssertion, "Attribute") {
			at := attribute{name: attr(el, "Name"), friendlyName: attr(el, "FriendlyName")}
			if at.name == "" {
				return nil, failf(ReasonMalformed, "Attribute without Name")
			}
			for _, v := range children(el, nsAssertion, "AttributeValue") {
				if s, ok := stringValue(v); ok {
					at.values = append(at.values, s)
				}
			}
			out = append(out, at)
		}
	}
	return out, nil
}

// stringValue returns the text of an AttributeValue, whatever its xsi:type,
// and false for a nil or structured value.
func stringValue(v *etree.Element) (string, bool) {
	for _, a := range v.Attr {
		if a.Key == "nil" && a.Space != "" && nsOfPrefix(v, a.Space) == nsXSI && (a.Value == "true" || a.Value == "1") {
			return "", false
		}
	}
	s, err := textOf(v)
	return s, err == nil
}

// nsOfPrefix resolves prefix in el's scope.
func nsOfPrefix(el *etree.Element, prefix string) string {
	for e := el; e != nil; e = e.Parent() {
		for _, a := range e.Attr {
			if a.Space == "xmlns" && a.Key == prefix {
				return a.Value
			}
		}
	}
	return ""
}

// applyAttributes fills id's attribute-derived fields using m.
func applyAttributes(id *Identity, attrs []attribute, m AttributeMap) {
	id.Attributes = make(map[string][]string, len(attrs))
	for _, a := range attrs {
		id.Attributes[a.name] = append(id.Attributes[a.name], a.values...)
	}
	if vs := lookupAttribute(attrs, m.Email); len(vs) > 0 {
		id.Email = vs[0]
	}
	if vs := lookupAttribute(attrs, m.DisplayName); len(vs) > 0 {
		id.DisplayName = vs[0]
	}
	id.Groups = dedupe(lookupAttribute(attrs, m.Groups))
}

// dedupe returns vs without later duplicates, in first-seen order, in a new
// slice.
func dedupe(vs []string) []string {
	seen := make(map[string]bool, len(vs))
	var out []string
	for _, v := range vs {
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}

// lookupAttribute returns the values of the first of names present among
// attrs, matching Name first and then FriendlyName.
func lookupAttribute(attrs []attribute, names []string) []string {
	for _, n := range names {
		var vs []string
		found := false
		for _, a := range attrs {
			if a.name == n {
				vs, found = append(vs, a.values...), true
			}
		}
		if !found {
			for _, a := range attrs {
				if a.friendlyName != "" && a.friendlyName == n {
					vs, found = append(vs, a.values...), true
				}
			}
		}
		if found {
			return vs
		}
	}
	return nil
}
