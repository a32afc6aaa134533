package samlverify

import (
	"strings"
	"time"

	"github.com/beevik/etree"
)

// XML namespaces SAML uses.
const (
	nsProtocol  = "urn:oasis:names:tc:SAML:2.0:protocol"
	nsAssertion = "urn:oasis:names:tc:SAML:2.0:assertion"
	nsMetadata  = "urn:oasis:names:tc:SAML:2.0:metadata"
	nsDSig      = "http://www.w3.org/2000/09/xmldsig#"
	nsXEnc      = "http://www.w3.org/2001/04/xmlenc#"
	nsXSI       = "http://www.w3.org/2001/XMLSchema-instance"
)

// is reports whether el is the element ns:tag, whatever prefix it uses.
// SAML senders differ in prefixes (saml:, saml2:, none), so nothing here
// matches on them.
func is(el *etree.Element, ns, tag string) bool {
	return el != nil && el.Tag == tag && el.NamespaceURI() == ns
}

// children returns el's child elements that are ns:tag.
func children(el *etree.Element, ns, tag string) []*etree.Element {
	var out []*etree.Element
	for _, c := range el.ChildElements() {
		if is(c, ns, tag) {
			out = append(out, c)
		}
	}
	return out
}

// optionalChild returns el's only child ns:tag, nil when there is none, and
// an error when there are several: the schema allows at most one of the
// elements this is used for, and a second one is how wrapping attacks hide.
func optionalChild(el *etree.Element, ns, tag string) (*etree.Element, error) {
	cs := children(el, ns, tag)
	switch len(cs) {
	case 0:
		return nil, nil
	case 1:
		return cs[0], nil
	}
	return nil, failf(ReasonMalformed, "repeated "+tag+" element")
}

// requiredChild is optionalChild for an element that must be present.
func requiredChild(el *etree.Element, ns, tag string) (*etree.Element, error) {
	c, err := optionalChild(el, ns, tag)
	if err == nil && c == nil {
		err = failf(ReasonMalformed, "missing "+tag+" element")
	}
	return c, err
}

// textOf returns all character data directly inside el, joined. Reading only
// the first text node (etree's Text) would let a comment or CDATA boundary cut
// a NameID short; an element child where text belongs is refused.
func textOf(el *etree.Element) (string, error) {
	var b strings.Builder
	for _, t := range el.Child {
		switch t := t.(type) {
		case *etree.CharData:
			b.WriteString(t.Data)
		case *etree.Element:
			return "", failf(ReasonMalformed, "element where text was expected")
		}
	}
	return b.String(), nil
}

// uriText returns the text of an element typed xs:anyURI (Issuer, Audience),
// whose surrounding whitespace the schema collapses.
func uriText(el *etree.Element) (string, error) {
	s, err := textOf(el)
	return strings.TrimSpace(s), err
}

// attr returns the value of el's attribute name in no namespace.
func attr(el *etree.Element, name string) string {
	for _, a := range el.Attr {
		if a.Space == "" && a.Key == name {
			return a.Value
		}
	}
	return ""
}

// timeAttr parses el's xs:dateTime attribute name. The zero time and no
// error mean the attribute is absent.
func timeAttr(el *etree.Element, name string) (time.Time, error) {
	v := attr(el, name)
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, failf(ReasonMalformed, "bad "+name+" timestamp")
	}
	return t, nil
}

// countDescendants counts the elements below and including el that are
// ns:tag for any of tags.
func countDescendants(el *etree.Element, ns string, tags ...string) int {
	n := 0
	for _, tag := range tags {
		if is(el, ns, tag) {
			n++
		}
	}
	for _, c := range el.ChildElements() {
		n += countDescendants(c, ns, tags...)
	}
	return n
}

// earliest returns the earliest non-zero time of ts, or zero.
func earliest(ts ...time.Time) time.Time {
	var min time.Time
	for _, t := range ts {
		if !t.IsZero() && (min.IsZero() || t.Before(min)) {
			min = t
		}
	}
	return min
}
