package samlverify

import (
	"context"
	"encoding/base64"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"

	"github.com/tfgate/tfgate/samlverify/internal/fixture"
)

// TestVerifyResponseAccepts covers the standard shapes IdPs send.
func TestVerifyResponseAccepts(t *testing.T) {
	t.Parallel()
	k := fixture.IdPKey(t)
	tests := map[string]struct {
		build func(t *testing.T) *etree.Element
		mods  []func(*Config)
		at    time.Time // default fixture.T0
		// emptyFormat expects no NameIDFormat instead of the default's.
		emptyFormat bool
	}{
		"assertion signed": {build: func(t *testing.T) *etree.Element { return build(t, nil, signAssertion) }},
		"response signed":  {build: func(t *testing.T) *etree.Element { return build(t, nil, signResponse) }},
		"both signed":      {build: func(t *testing.T) *etree.Element { return build(t, nil, signBoth) }},
		"exc-c14n with comments": {build: func(t *testing.T) *etree.Element {
			return fixture.SignAssertionIn(t, fixture.Default().Response(), k, fixture.SignOptions{WithComments: true})
		}},
		"no KeyInfo": {build: func(t *testing.T) *etree.Element {
			return fixture.SignAssertionIn(t, fixture.Default().Response(), k, fixture.SignOptions{NoKeyInfo: true})
		}},
		"SHA-1 allowed by operator": {
			build: func(t *testing.T) *etree.Element {
				return fixture.SignAssertionIn(t, fixture.Default().Response(), k, fixture.SignOptions{SHA1: true})
			},
			mods: []func(*Config){func(c *Config) { c.AllowSHA1 = true }},
		},
		"no Destination": {build: func(t *testing.T) *etree.Element {
			return build(t, func(p *fixture.Params) { p.Destination = "" }, signAssertion)
		}},
		"no Response Issuer": {build: func(t *testing.T) *etree.Element {
			return build(t, func(p *fixture.Params) { p.ResponseIssuer = false }, signAssertion)
		}},
		"no Response InResponseTo": {build: func(t *testing.T) *etree.Element {
			return build(t, func(p *fixture.Params) { p.InResponseTo = "" }, signAssertion)
		}},
		"unspecified NameID format": {build: func(t *testing.T) *etree.Element {
			return build(t, func(p *fixture.Params) { p.NameIDFormat = "" }, signAssertion)
		}, emptyFormat: true},
		"within skew after NotOnOrAfter": {
			build: func(t *testing.T) *etree.Element { return build(t, nil, signAssertion) },
			at:    fixture.T0.Add(5*time.Minute + 89*time.Second),
		},
		"within skew before NotBefore": {
			build: func(t *testing.T) *etree.Element { return build(t, nil, signAssertion) },
			at:    fixture.T0.Add(-time.Minute - 90*time.Second),
		},
		"encrypted GCM in signed response": {build: func(t *testing.T) *etree.Element {
			r := fixture.EncryptAssertionIn(t, fixture.Default().Response(), fixture.SPKey(t).Cert, fixture.AES128GCM)
			return fixture.Sign(t, r, k, fixture.SignOptions{})
		}, mods: []func(*Config){withDecryption}},
		"encrypted GCM signed assertion, unsigned response": {build: func(t *testing.T) *etree.Element {
			return fixture.EncryptAssertionIn(t, build(t, nil, signAssertion), fixture.SPKey(t).Cert, fixture.AES128GCM)
		}, mods: []func(*Config){withDecryption}},
		"encrypted CBC in signed response": {build: func(t *testing.T) *etree.Element {
			r := fixture.EncryptAssertionIn(t, build(t, nil, signAssertion), fixture.SPKey(t).Cert, fixture.AES256CBC)
			return fixture.Sign(t, r, k, fixture.SignOptions{})
		}, mods: []func(*Config){withDecryption}},
		"encrypted CBC unsigned response when allowed": {build: func(t *testing.T) *etree.Element {
			return fixture.EncryptAssertionIn(t, build(t, nil, signAssertion), fixture.SPKey(t).Cert, fixture.AES256CBC)
		}, mods: []func(*Config){withDecryption, func(c *Config) { c.AllowUnsignedResponseCBC = true }}},
		"several AudienceRestrictions all naming SP": {build: func(t *testing.T) *etree.Element {
			p := fixture.Default()
			a := p.Assertion()
			c := fixture.Find(a, "Conditions")
			c.AddChild(fixture.Find(c, "AudienceRestriction").Copy())
			c.CreateElement("saml:OneTimeUse")
			return respWith(t, p, fixture.Sign(t, a, k, fixture.SignOptions{}))
		}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			at := tc.at
			if at.IsZero() {
				at = fixture.T0
			}
			e := newEnvAt(t, at, tc.mods...)
			id, err := e.verify(t, tc.build(t))
			if err != nil {
				t.Fatalf("VerifyResponse: %v (cause: %v)", err, errors.Unwrap(err))
			}
			if tc.emptyFormat {
				if id.NameIDFormat != "" {
					t.Errorf("NameIDFormat = %q, want empty", id.NameIDFormat)
				}
				id.NameIDFormat = fixture.EmailFormat
			}
			checkDefaultIdentity(t, id)
		})
	}
}

// withDecryption gives the Verifier the SP's key.
func withDecryption(c *Config) {
	c.DecryptionKey = fixture.SPKey(nil).Key
}

// respWith returns p's Response with its assertion replaced by a.
func respWith(tb testing.TB, p fixture.Params, a *etree.Element) *etree.Element {
	tb.Helper()
	r := p.Response()
	old := r.SelectElement("Assertion")
	r.InsertChildAt(old.Index(), a)
	r.RemoveChild(old)
	return r
}

// checkDefaultIdentity checks the identity fixture.Default asserts.
func checkDefaultIdentity(tb testing.TB, id *Identity) {
	tb.Helper()
	want := Identity{
		NameID: "alice@example.test", NameIDFormat: fixture.EmailFormat, Email: "alice@example.test",
		DisplayName: "Alice Example", IdP: fixture.IdPEntityID, SessionIndex: "_session-1",
		AuthnInstant: fixture.T0.Add(-time.Minute), NotOnOrAfter: fixture.T0.Add(5 * time.Minute),
		SessionNotOnOrAfter: fixture.T0.Add(8 * time.Hour), AssertionID: "_assert-0001", InResponseTo: fixture.RequestID,
	}
	got := *id
	got.Groups, got.Attributes = nil, nil
	if !reflect.DeepEqual(got, want) {
		tb.Errorf("identity =\n%+v\nwant\n%+v", got, want)
	}
	if strings.Join(id.Groups, ",") != "ml-readers,ml-admins" {
		tb.Errorf("groups = %q", id.Groups)
	}
	if g := id.Attributes["groups"]; len(g) != 3 {
		tb.Errorf("multi-valued attribute = %q, want all 3 values", g)
	}
}

// TestVerifyResponseChecks has one case per check, each naming the reason
// it must fail with.
func TestVerifyResponseChecks(t *testing.T) {
	t.Parallel()
	k := fixture.IdPKey(t)
	signed := func(mod func(*fixture.Params)) func(t *testing.T) *etree.Element {
		return func(t *testing.T) *etree.Element { return build(t, mod, signAssertion) }
	}
	tests := map[string]struct {
		build func(t *testing.T) *etree.Element
		raw   string // used instead of build when set
		mods  []func(*Config)
		at    time.Time
		want  Reason
	}{
		"too large":    {build: signed(nil), mods: []func(*Config){func(c *Config) { c.MaxResponseBytes = 1000 }}, want: ReasonTooLarge},
		"not base64":   {raw: "!!!not base64!!!", want: ReasonMalformed},
		"empty":        {raw: "", want: ReasonMalformed},
		"not XML":      {raw: b64("hello"), want: ReasonMalformed},
		"unclosed XML": {raw: b64("<samlp:Response xmlns:samlp='" + fixture.NSProtocol + "'>"), want: ReasonMalformed},
		"two roots":    {raw: b64("<a/><b/>"), want: ReasonMalformed},
		"root not Response": {build: func(t *testing.T) *etree.Element {
			return fixture.Sign(t, fixture.Default().Assertion(), k, fixture.SignOptions{})
		}, want: ReasonMalformed},
		"duplicate attribute": {raw: b64(`<samlp:Response xmlns:samlp="` + fixture.NSProtocol + `" xmlns:x="urn:x" ID="a" x:ID="b"/>`), want: ReasonMalformed},
		"duplicate ID": {build: func(t *testing.T) *etree.Element {
			return build(t, func(p *fixture.Params) { p.AssertionID = p.ResponseID }, signAssertion)
		}, want: ReasonMalformed},
		"processing instruction": {raw: b64(`<?xml version="1.0"?><?evil x?><r/>`), want: ReasonProcInst},
		"version 1.1": {build: func(t *testing.T) *etree.Element {
			r := build(t, nil, signAssertion)
			r.CreateAttr("Version", "1.1")
			return r
		}, want: ReasonUnsupported},
		"status not success": {build: signed(func(p *fixture.Params) {
			p.Status = "urn:oasis:names:tc:SAML:2.0:status:Responder"
		}), want: ReasonStatusNotSuccess},
		"no assertion": {build: func(t *testing.T) *etree.Element {
			r := fixture.Default().Response()
			r.RemoveChild(r.SelectElement("Assertion"))
			return r
		}, want: ReasonMultipleAssertions},
		"unknown IdP": {build: signed(func(p *fixture.Params) { p.Issuer = "https://other.example.test" }), want: ReasonUnknownIdP},
		"assertion issuer differs": {build: func(t *testing.T) *etree.Element {
			p := fixture.Default()
			q := p
			q.Issuer = "https://other.example.test"
			return respWith(t, p, fixture.Sign(t, q.Assertion(), k, fixture.SignOptions{}))
		}, want: ReasonWrongIssuer},
		"issuer format not entity": {build: func(t *testing.T) *etree.Element {
			a := fixture.Default().Assertion()
			fixture.Find(a, "Issuer").CreateAttr("Format", "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified")
			return respWith(t, fixture.Default(), fixture.Sign(t, a, k, fixture.SignOptions{}))
		}, want: ReasonWrongIssuer},
		"wrong destination": {build: signed(func(p *fixture.Params) { p.Destination = "https://evil.test/acs" }), want: ReasonWrongDestination},
		"wrong recipient":   {build: signed(func(p *fixture.Params) { p.Recipient = "https://evil.test/acs" }), want: ReasonWrongRecipient},
		"no recipient":      {build: signed(func(p *fixture.Params) { p.Recipient = "" }), want: ReasonWrongRecipient},
		"wrong audience":    {build: signed(func(p *fixture.Params) { p.Audiences = []string{"https://evil.test"} }), want: ReasonWrongAudience},
		"no audience":       {build: signed(func(p *fixture.Params) { p.Audiences = nil }), want: ReasonNoAudience},
		"one of two restrictions lacks SP": {build: func(t *testing.T) *etree.Element {
			a := fixture.Default().Assertion()
			fixture.Find(a, "Conditions").CreateElement("saml:AudienceRestriction").CreateElement("saml:Audience").SetText("https://evil.test")
			return respWith(t, fixture.Default(), fixture.Sign(t, a, k, fixture.SignOptions{}))
		}, want: ReasonWrongAudience},
		"no conditions": {build: func(t *testing.T) *etree.Element {
			a := fixture.Default().Assertion()
			a.RemoveChild(fixture.Find(a, "Conditions"))
			return respWith(t, fixture.Default(), fixture.Sign(t, a, k, fixture.SignOptions{}))
		}, want: ReasonNoAudience},
		"unknown condition": {build: func(t *testing.T) *etree.Element {
			a := fixture.Default().Assertion()
			fixture.Find(a, "Conditions").CreateElement("saml:Condition")
			return respWith(t, fixture.Default(), fixture.Sign(t, a, k, fixture.SignOptions{}))
		}, want: ReasonUnsupported},
		"not yet valid": {build: signed(nil), at: fixture.T0.Add(-time.Minute - 91*time.Second), want: ReasonNotYetValid},
		"conditions expired": {build: signed(func(p *fixture.Params) {
			p.NotOnOrAfter = fixture.T0.Add(-91 * time.Second)
		}), want: ReasonExpired},
		"confirmation expired": {build: signed(func(p *fixture.Params) {
			p.SCDNotOnOrAfter = fixture.T0.Add(-90 * time.Second)
		}), want: ReasonExpired},
		"confirmation without NotOnOrAfter": {build: signed(func(p *fixture.Params) { p.SCDNotOnOrAfter = time.Time{} }), want: ReasonMalformed},
		"session expired": {build: signed(func(p *fixture.Params) {
			p.SessionNotOnOrAfter = fixture.T0.Add(-time.Hour)
		}), want: ReasonExpired},
		"bad timestamp": {build: func(t *testing.T) *etree.Element {
			a := fixture.Default().Assertion()
			fixture.Find(a, "Conditions").CreateAttr("NotOnOrAfter", "tomorrow")
			return respWith(t, fixture.Default(), fixture.Sign(t, a, k, fixture.SignOptions{}))
		}, want: ReasonMalformed},
		"unsolicited": {build: signed(func(p *fixture.Params) {
			p.InResponseTo, p.SCDInResponseTo = "", ""
		}), want: ReasonUnknownRequest},
		"unknown request": {build: signed(func(p *fixture.Params) {
			p.InResponseTo, p.SCDInResponseTo = "_other", "_other"
		}), want: ReasonUnknownRequest},
		"response and assertion InResponseTo differ": {build: signed(func(p *fixture.Params) {
			p.InResponseTo = "_other"
		}), want: ReasonUnknownRequest},
		"holder-of-key only": {build: signed(func(p *fixture.Params) {
			p.Method = "urn:oasis:names:tc:SAML:2.0:cm:holder-of-key"
		}), want: ReasonNoBearerConfirmation},
		"no AuthnStatement": {build: signed(func(p *fixture.Params) { p.NoAuthnStatement = true }), want: ReasonNoAuthnStatement},
		"empty NameID":      {build: signed(func(p *fixture.Params) { p.NameID = "" }), want: ReasonMalformed},
		"EncryptedID subject": {build: func(t *testing.T) *etree.Element {
			a := fixture.Default().Assertion()
			fixture.Find(a, "Subject").CreateElement("saml:EncryptedID")
			return respWith(t, fixture.Default(), fixture.Sign(t, a, k, fixture.SignOptions{}))
		}, want: ReasonUnsupported},
		"unsigned": {build: func(t *testing.T) *etree.Element { return build(t, nil, signNone) }, want: ReasonSignatureMissing},
		"SHA-1 default": {build: func(t *testing.T) *etree.Element {
			return fixture.SignAssertionIn(t, fixture.Default().Response(), k, fixture.SignOptions{SHA1: true})
		}, want: ReasonSHA1Disabled},
		"SHA-1 response signature": {build: func(t *testing.T) *etree.Element {
			return fixture.Sign(t, fixture.Default().Response(), k, fixture.SignOptions{SHA1: true})
		}, want: ReasonSHA1Disabled},
		"untrusted key": {build: func(t *testing.T) *etree.Element {
			return fixture.SignAssertionIn(t, fixture.Default().Response(), fixture.OtherKey(t), fixture.SignOptions{})
		}, want: ReasonUntrustedKey},
		"untrusted key without KeyInfo": {build: func(t *testing.T) *etree.Element {
			return fixture.SignAssertionIn(t, fixture.Default().Response(), fixture.OtherKey(t), fixture.SignOptions{NoKeyInfo: true})
		}, want: ReasonSignatureInvalid},
		"certificate expired": {build: signed(func(p *fixture.Params) { shiftTimes(p, 400*24*time.Hour) }),
			at: fixture.T0.Add(400 * 24 * time.Hour), want: ReasonCertNotValid},
		"encrypted without key": {build: func(t *testing.T) *etree.Element {
			r := fixture.EncryptAssertionIn(t, fixture.Default().Response(), fixture.SPKey(t).Cert, fixture.AES128GCM)
			return fixture.Sign(t, r, k, fixture.SignOptions{})
		}, want: ReasonDecryptFailed},
		"encrypted for another key": {build: func(t *testing.T) *etree.Element {
			r := fixture.EncryptAssertionIn(t, fixture.Default().Response(), fixture.OtherKey(t).Cert, fixture.AES128GCM)
			return fixture.Sign(t, r, k, fixture.SignOptions{})
		}, mods: []func(*Config){withDecryption}, want: ReasonDecryptFailed},
		"encrypted CBC in unsigned response": {build: func(t *testing.T) *etree.Element {
			return fixture.EncryptAssertionIn(t, build(t, nil, signAssertion), fixture.SPKey(t).Cert, fixture.AES256CBC)
		}, mods: []func(*Config){withDecryption}, want: ReasonSignatureMissing},
		"encrypted unsigned assertion, unsigned response": {build: func(t *testing.T) *etree.Element {
			return fixture.EncryptAssertionIn(t, fixture.Default().Response(), fixture.SPKey(t).Cert, fixture.AES128GCM)
		}, mods: []func(*Config){withDecryption}, want: ReasonSignatureMissing},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			at := tc.at
			if at.IsZero() {
				at = fixture.T0
			}
			e := newEnvAt(t, at, tc.mods...)
			in := tc.raw
			if tc.build != nil {
				in = fixture.Encode(t, tc.build(t))
			}
			id, err := e.v.VerifyResponse(context.Background(), in, ResponseOptions{})
			wantReason(t, id, err, tc.want)
		})
	}
}

// b64 is base64 of s.
func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// shiftTimes moves every timestamp of p by d.
func shiftTimes(p *fixture.Params, d time.Duration) {
	for _, t := range []*time.Time{&p.IssueInstant, &p.NotBefore, &p.NotOnOrAfter, &p.SCDNotOnOrAfter, &p.AuthnInstant, &p.SessionNotOnOrAfter} {
		*t = t.Add(d)
	}
}
