package samlverify

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"

	"github.com/tfgate/tfgate/samlverify/internal/fixture"
)

// evilName is the identity every attack tries to assume.
const evilName = "admin@example.test"

// Attack builders. Each starts from material the IdP legitimately signed
// for alice (fixture.Default) and rearranges it the way the named attack
// does; see Somorovsky et al., "On Breaking SAML: Be Whoever You Want to
// Be" (USENIX Security 2012), and the XSW1-XSW8 catalogue of SAML Raider.

// signedResp is a Response whose Response element (only) is signed.
func signedResp(tb testing.TB) *etree.Element {
	return fixture.Sign(tb, fixture.Default().Response(), fixture.IdPKey(tb), fixture.SignOptions{})
}

// signedAssertionResp is a Response whose Assertion (only) is signed.
func signedAssertionResp(tb testing.TB) *etree.Element {
	return build(tb, nil, signAssertion)
}

// makeEvil rewrites el's NameID to evilName and, when id is set, its ID.
func makeEvil(el *etree.Element, id string) *etree.Element {
	fixture.Find(el, "NameID").SetText(evilName)
	if id != "" {
		el.CreateAttr("ID", id)
	}
	return el
}

// withoutSignature returns a copy of el with its ds:Signature children gone.
func withoutSignature(el *etree.Element) *etree.Element {
	el = el.Copy()
	for _, s := range el.SelectElements("Signature") {
		el.RemoveChild(s)
	}
	return el
}

// xsw1: the original signed Response is moved into the Signature of an
// evil Response with a new ID; the Signature still references the
// original ID.
func xsw1(tb testing.TB) *etree.Element {
	orig := signedResp(tb)
	evil := makeEvil(orig.Copy(), "_evil-resp")
	evil.SelectElement("Signature").AddChild(withoutSignature(orig))
	return evil
}

// xsw2: like XSW1, but the original Response is placed before the
// Signature, as a detached sibling inside the evil Response.
func xsw2(tb testing.TB) *etree.Element {
	orig := signedResp(tb)
	evil := makeEvil(orig.Copy(), "_evil-resp")
	evil.InsertChildAt(evil.SelectElement("Signature").Index(), withoutSignature(orig))
	return evil
}

// assertionOf returns resp's Assertion element.
func assertionOf(resp *etree.Element) *etree.Element { return resp.SelectElement("Assertion") }

// xsw3: an evil unsigned Assertion is inserted before the signed original.
func xsw3(tb testing.TB) *etree.Element {
	resp := signedAssertionResp(tb)
	orig := assertionOf(resp)
	resp.InsertChildAt(orig.Index(), makeEvil(withoutSignature(orig), "_evil"))
	return resp
}

// xsw4: the evil Assertion wraps the signed original as its child.
func xsw4(tb testing.TB) *etree.Element {
	resp := signedAssertionResp(tb)
	orig := assertionOf(resp)
	evil := makeEvil(withoutSignature(orig), "_evil")
	evil.AddChild(orig.Copy())
	resp.InsertChildAt(orig.Index(), evil)
	resp.RemoveChild(orig)
	return resp
}

// xsw5: the signed Assertion's content is changed in place, keeping its
// signature, and an unmodified unsigned copy of the original (same ID) is
// appended to the Response for a lenient validator to digest.
func xsw5(tb testing.TB) *etree.Element {
	resp := signedAssertionResp(tb)
	orig := assertionOf(resp)
	clean := withoutSignature(orig)
	makeEvil(orig, "")
	resp.AddChild(clean)
	return resp
}

// xsw6: the signed original is moved into the copied Signature of an evil
// Assertion with a new ID.
func xsw6(tb testing.TB) *etree.Element {
	resp := signedAssertionResp(tb)
	orig := assertionOf(resp)
	evil := makeEvil(orig.Copy(), "_evil")
	evil.SelectElement("Signature").AddChild(orig.Copy())
	resp.InsertChildAt(orig.Index(), evil)
	resp.RemoveChild(orig)
	return resp
}

// xsw7: an Extensions element carrying the signed original is added, and
// the evil unsigned Assertion takes its place.
func xsw7(tb testing.TB) *etree.Element {
	resp := signedAssertionResp(tb)
	orig := assertionOf(resp)
	ext := etree.NewElement("samlp:Extensions")
	ext.AddChild(orig.Copy())
	resp.InsertChildAt(resp.SelectElement("Status").Index(), ext)
	resp.InsertChildAt(orig.Index(), makeEvil(withoutSignature(orig), "_evil"))
	resp.RemoveChild(orig)
	return resp
}

// xsw8: the evil Assertion keeps the original's Signature, into which a
// ds:Object holding the original Assertion (signature removed) is added.
func xsw8(tb testing.TB) *etree.Element {
	resp := signedAssertionResp(tb)
	orig := assertionOf(resp)
	evil := makeEvil(orig.Copy(), "_evil")
	obj := evil.SelectElement("Signature").CreateElement("ds:Object")
	obj.AddChild(withoutSignature(orig))
	resp.InsertChildAt(orig.Index(), evil)
	resp.RemoveChild(orig)
	return resp
}

// rawXML returns the base64 of a document built from a Response's text
// with replace applied.
func rawXML(tb testing.TB, el *etree.Element, old, new string) string {
	s := string(fixture.Bytes(tb, el))
	if !strings.Contains(s, old) {
		tb.Fatalf("rawXML: %q not in document", old)
	}
	return base64.StdEncoding.EncodeToString([]byte(strings.Replace(s, old, new, 1)))
}

func TestAttacks(t *testing.T) {
	t.Parallel()
	enc := func(f func(testing.TB) *etree.Element) func(testing.TB) string {
		return func(tb testing.TB) string { return fixture.Encode(tb, f(tb)) }
	}
	signed := func(mod func(*fixture.Params)) func(testing.TB) string {
		return func(tb testing.TB) string { return fixture.Encode(tb, build(tb, mod, signAssertion)) }
	}
	tests := map[string]struct {
		input func(testing.TB) string
		at    time.Time
		want  Reason
	}{
		// XSW1 and XSW2 clone the whole Response, so the two assertions share
		// an ID and the duplicate-ID check fires first.
		"XSW1 response in signature":       {input: enc(xsw1), want: ReasonMalformed},
		"XSW2 detached response sibling":   {input: enc(xsw2), want: ReasonMalformed},
		"XSW3 evil assertion before":       {input: enc(xsw3), want: ReasonMultipleAssertions},
		"XSW4 evil assertion wraps":        {input: enc(xsw4), want: ReasonMultipleAssertions},
		"XSW5 modified signed, clean copy": {input: enc(xsw5), want: ReasonMalformed}, // duplicate ID
		"XSW6 original inside signature":   {input: enc(xsw6), want: ReasonMultipleAssertions},
		"XSW7 original in Extensions":      {input: enc(xsw7), want: ReasonMultipleAssertions},
		"XSW8 original in ds:Object":       {input: enc(xsw8), want: ReasonMultipleAssertions},
		"comment injection in NameID": {input: func(tb testing.TB) string {
			// The attacker owns admin@example.test.evil.test at the IdP and
			// splits it with a comment, which exclusive c14n ignores.
			el := build(tb, func(p *fixture.Params) { p.NameID = evilName + ".evil.test" }, signAssertion)
			return rawXML(tb, el, evilName+".evil.test", evilName+"<!---->.evil.test")
		}, want: ReasonComment},
		"CDATA split in NameID keeps whole value": {input: func(tb testing.TB) string {
			// Not an attack that can succeed: the signed value is read whole.
			el := build(tb, func(p *fixture.Params) { p.NameID = evilName + ".evil.test" }, signAssertion)
			return rawXML(tb, el, evilName+".evil.test", evilName+"<![CDATA[.evil.test]]>")
		}, want: ""},
		"unsigned assertion":                   {input: func(tb testing.TB) string { return fixture.Encode(tb, build(tb, nil, signNone)) }, want: ReasonSignatureMissing},
		"untrusted key":                        {input: func(tb testing.TB) string { return fixture.Encode(tb, evilSigned(tb)) }, want: ReasonUntrustedKey},
		"untrusted key, cert swapped to IdP's": {input: func(tb testing.TB) string { return fixture.Encode(tb, evilSignedIdPCert(tb)) }, want: ReasonSignatureInvalid},
		"tampered attribute": {input: func(tb testing.TB) string {
			el := signedAssertionResp(tb)
			return rawXML(tb, el, ">ml-readers<", ">ml-superusers<")
		}, want: ReasonSignatureInvalid},
		"tampered NameID in signed response": {input: func(tb testing.TB) string {
			return fixture.Encode(tb, makeEvil(signedResp(tb), ""))
		}, want: ReasonSignatureInvalid},
		"two signed assertions": {input: func(tb testing.TB) string {
			resp := signedAssertionResp(tb)
			q := fixture.Default()
			q.AssertionID, q.NameID = "_assert-0002", evilName
			resp.AddChild(fixture.Sign(tb, q.Assertion(), fixture.IdPKey(tb), fixture.SignOptions{}))
			return fixture.Encode(tb, resp)
		}, want: ReasonMultipleAssertions},
		"wrong audience":     {input: signed(func(p *fixture.Params) { p.Audiences = []string{"https://other-sp.test"} }), want: ReasonWrongAudience},
		"wrong recipient":    {input: signed(func(p *fixture.Params) { p.Recipient = "https://other-sp.test/acs" }), want: ReasonWrongRecipient},
		"wrong destination":  {input: signed(func(p *fixture.Params) { p.Destination = "https://other-sp.test/acs" }), want: ReasonWrongDestination},
		"wrong issuer":       {input: signed(func(p *fixture.Params) { p.Issuer = "https://evil-idp.test" }), want: ReasonUnknownIdP},
		"wrong InResponseTo": {input: signed(func(p *fixture.Params) { p.InResponseTo, p.SCDInResponseTo = "_forged", "_forged" }), want: ReasonUnknownRequest},
		"expired":            {input: signed(nil), at: fixture.T0.Add(5*time.Minute + 90*time.Second), want: ReasonExpired},
		"not yet valid":      {input: signed(nil), at: fixture.T0.Add(-3 * time.Minute), want: ReasonNotYetValid},
		"SHA-1 downgrade":    {input: func(tb testing.TB) string { return fixture.Encode(tb, sha1Signed(tb)) }, want: ReasonSHA1Disabled},
		"DOCTYPE":            {input: func(tb testing.TB) string { return withDoctype(tb, `<!DOCTYPE samlp:Response>`) }, want: ReasonDoctype},
		"internal entity":    {input: func(tb testing.TB) string { return withDoctype(tb, `<!DOCTYPE r [<!ENTITY who "admin">]>`) }, want: ReasonDoctype},
		"external entity XXE": {input: func(tb testing.TB) string {
			return withDoctype(tb, `<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>`)
		}, want: ReasonDoctype},
		"billion laughs": {input: func(tb testing.TB) string { return withDoctype(tb, billionLaughs) }, want: ReasonDoctype},
		"oversized":      {input: func(tb testing.TB) string { return strings.Repeat("A", DefaultMaxResponseBytes+4) }, want: ReasonTooLarge},
		"round-trip unstable": {input: func(tb testing.TB) string {
			return rawXML(tb, signedAssertionResp(tb), "<saml:Issuer>", "<saml:x:Issuer>")
		}, want: ReasonMalformed},
		"processing instruction inside": {input: func(tb testing.TB) string {
			return rawXML(tb, signedAssertionResp(tb), "<samlp:Status>", "<?evil?><samlp:Status>")
		}, want: ReasonProcInst},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			at := tc.at
			if at.IsZero() {
				at = fixture.T0
			}
			e := newEnvAt(t, at)
			in := tc.input(t)
			id, err := e.v.VerifyResponse(context.Background(), in, ResponseOptions{})
			if tc.want == "" {
				if err != nil || id.NameID != evilName+".evil.test" {
					t.Fatalf("got %+v, %v; want the whole signed NameID", id, err)
				}
				return
			}
			wantReason(t, id, err, tc.want)
			assertNoEcho(t, err, in)
		})
	}
}

// assertNoEcho fails when err's text or any cause in its chain quotes the
// input or the identity an attack tried to assume.
func assertNoEcho(tb testing.TB, err error, input string) {
	tb.Helper()
	for e := err; e != nil; e = errors.Unwrap(e) {
		msg := e.Error()
		if strings.Contains(msg, evilName) || strings.Contains(msg, "alice") ||
			(len(input) > 16 && strings.Contains(msg, input[:16])) || strings.Contains(msg, "ml-") {
			tb.Errorf("error chain echoes input: %q", msg)
		}
	}
}

// evilSigned is the default Response with the evil NameID, its assertion
// signed by the attacker's own key and certificate.
func evilSigned(tb testing.TB) *etree.Element {
	p := fixture.Default()
	p.NameID = evilName
	return fixture.SignAssertionIn(tb, p.Response(), fixture.OtherKey(tb), fixture.SignOptions{})
}

// evilSignedIdPCert is evilSigned with the IdP's certificate pasted into
// KeyInfo, so the certificate check passes and only the signature can fail.
func evilSignedIdPCert(tb testing.TB) *etree.Element {
	resp := evilSigned(tb)
	fixture.Find(assertionOf(resp), "X509Certificate").SetText(fixture.CertBase64(fixture.IdPKey(tb).Cert))
	return resp
}

// sha1Signed is a Response whose assertion the IdP signed with RSA-SHA1.
func sha1Signed(tb testing.TB) *etree.Element {
	return fixture.SignAssertionIn(tb, fixture.Default().Response(), fixture.IdPKey(tb), fixture.SignOptions{SHA1: true})
}

// billionLaughs is the classic entity expansion bomb.
const billionLaughs = `<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">` +
	`<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;"><!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">]>`

// withDoctype returns a signed Response with decl inserted after the XML
// declaration.
func withDoctype(tb testing.TB, decl string) string {
	return rawXML(tb, signedAssertionResp(tb), "?>", "?>"+decl)
}

// TestXSWSignatureLayer shows that the signature layer refuses every XSW
// variant on its own: the element each attack wants the SP to read fails
// verifySigned even when the assertion count check is not reached.
func TestXSWSignatureLayer(t *testing.T) {
	t.Parallel()
	resp := func(el *etree.Element) *etree.Element { return el }
	first := func(el *etree.Element) *etree.Element { return assertionOf(el) }
	tests := map[string]struct {
		build  func(testing.TB) *etree.Element
		target func(*etree.Element) *etree.Element
		want   Reason
	}{
		"XSW1": {xsw1, resp, ReasonSignatureInvalid},
		"XSW2": {xsw2, resp, ReasonSignatureInvalid},
		"XSW3": {xsw3, first, ReasonSignatureMissing},
		"XSW4": {xsw4, first, ReasonSignatureMissing},
		"XSW5": {xsw5, first, ReasonSignatureInvalid},
		"XSW6": {xsw6, first, ReasonSignatureInvalid},
		"XSW7": {xsw7, first, ReasonSignatureMissing},
		"XSW8": {xsw8, first, ReasonSignatureInvalid},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			doc := etree.NewDocument()
			if err := doc.ReadFromBytes(fixture.Bytes(t, tc.build(t))); err != nil {
				t.Fatal(err)
			}
			p := sigPolicy{certs: []*x509.Certificate{fixture.IdPKey(t).Cert}, now: fixture.T0}
			el, err := verifySigned(tc.target(doc.Root()), p)
			if el != nil {
				t.Fatalf("verifySigned returned an element for %s", name)
			}
			if got := ReasonOf(err); got != tc.want {
				t.Fatalf("reason = %q (%v), want %q", got, err, tc.want)
			}
		})
	}
}
