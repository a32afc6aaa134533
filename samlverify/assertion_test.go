package samlverify

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"

	"github.com/tfgate/tfgate/samlverify/internal/fixture"
)

// bearerParams returns Params for an RFC 7522 assertion for the token
// endpoint.
func bearerParams() fixture.Params {
	p := fixture.Default()
	p.Recipient, p.SCDInResponseTo, p.NoAuthnStatement = fixture.TokenURL, "", true
	p.Audiences = []string{fixture.TokenURL}
	return p
}

// verifyBearer runs VerifyAssertion on el's base64url encoding.
func (e *env) verifyBearer(tb testing.TB, el *etree.Element) (*Identity, error) {
	tb.Helper()
	return e.v.VerifyAssertion(context.Background(), fixture.EncodeURL(tb, el), AssertionOptions{TokenURL: fixture.TokenURL})
}

func TestVerifyAssertion(t *testing.T) {
	t.Parallel()
	k := fixture.IdPKey(t)
	signedBearer := func(mod func(*fixture.Params)) func(testing.TB) *etree.Element {
		return func(tb testing.TB) *etree.Element {
			p := bearerParams()
			if mod != nil {
				mod(&p)
			}
			return fixture.Sign(tb, p.Assertion(), k, fixture.SignOptions{})
		}
	}
	tests := map[string]struct {
		build func(testing.TB) *etree.Element
		want  Reason // "" for success
	}{
		"valid, audience token URL": {build: signedBearer(nil)},
		"valid, audience SP entity ID": {build: signedBearer(func(p *fixture.Params) {
			p.Audiences = []string{fixture.SPEntityID}
		})},
		"valid, with AuthnStatement": {build: signedBearer(func(p *fixture.Params) { p.NoAuthnStatement = false })},
		"unsigned":                   {build: func(tb testing.TB) *etree.Element { return bearerParams().Assertion() }, want: ReasonSignatureMissing},
		"response-level signature only": {build: func(tb testing.TB) *etree.Element {
			p := bearerParams()
			return fixture.Sign(tb, p.Response(), k, fixture.SignOptions{})
		}, want: ReasonMalformed},
		"recipient is the ACS": {build: signedBearer(func(p *fixture.Params) { p.Recipient = fixture.ACSURL }), want: ReasonWrongRecipient},
		"wrong audience": {build: signedBearer(func(p *fixture.Params) {
			p.Audiences = []string{"https://other.test"}
		}), want: ReasonWrongAudience},
		"expired": {build: signedBearer(func(p *fixture.Params) {
			p.SCDNotOnOrAfter = fixture.T0.Add(-time.Hour)
		}), want: ReasonExpired},
		"untrusted key": {build: func(tb testing.TB) *etree.Element {
			return fixture.Sign(tb, bearerParams().Assertion(), fixture.OtherKey(tb), fixture.SignOptions{})
		}, want: ReasonUntrustedKey},
		"nested assertion": {build: func(tb testing.TB) *etree.Element {
			a := bearerParams().Assertion()
			q := bearerParams()
			q.AssertionID = "_inner"
			a.CreateElement("saml:Advice").AddChild(q.Assertion())
			return fixture.Sign(tb, a, k, fixture.SignOptions{})
		}, want: ReasonMultipleAssertions},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			id, err := e.verifyBearer(t, tc.build(t))
			if tc.want != "" {
				wantReason(t, id, err, tc.want)
				return
			}
			if err != nil {
				t.Fatalf("VerifyAssertion: %v (cause %v)", err, unwrap(err))
			}
			if id.NameID != "alice@example.test" || id.InResponseTo != "" || len(id.Groups) != 2 {
				t.Errorf("identity = %+v", id)
			}
		})
	}
}

func TestVerifyAssertionReplayAndEncoding(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	el := fixture.Sign(t, bearerParams().Assertion(), fixture.IdPKey(t), fixture.SignOptions{})
	padded := fixture.EncodeURL(t, el)
	for len(padded)%4 != 0 {
		padded += "="
	}
	if _, err := e.v.VerifyAssertion(context.Background(), padded, AssertionOptions{TokenURL: fixture.TokenURL}); err != nil {
		t.Fatalf("padded base64url: %v", err)
	}
	id, err := e.verifyBearer(t, el)
	wantReason(t, id, err, ReasonReplay)
	std := strings.NewReplacer("-", "+", "_", "/").Replace(fixture.EncodeURL(t, el))
	if strings.ContainsAny(std, "+/") {
		id, err = e.v.VerifyAssertion(context.Background(), std, AssertionOptions{TokenURL: fixture.TokenURL})
		wantReason(t, id, err, ReasonMalformed)
	}
	id, err = e.v.VerifyAssertion(context.Background(), padded, AssertionOptions{TokenURL: "/token"})
	wantReason(t, id, err, ReasonWrongRecipient)
}

func TestAttributeMapping(t *testing.T) {
	t.Parallel()
	p := fixture.Default()
	p.Attributes = []fixture.Attribute{
		{Name: "urn:oid:2.5.4.42", FriendlyName: "givenName", Values: []string{"Alice"}},
		{Name: "http://schemas.microsoft.com/ws/2008/06/identity/claims/groups", Type: "xs:string", Values: []string{"g1", "g2"}},
		{Name: "memberOf", Type: "xs:anyType", Values: []string{"g3"}},
		{Name: "mail", Values: []string{"first@example.test", "second@example.test"}},
	}
	a := p.Assertion()
	// A nil value and a structured value are not strings, and are dropped.
	attrEl := fixture.Find(a, "AttributeStatement").CreateElement("saml:Attribute")
	attrEl.CreateAttr("Name", "mixed")
	attrEl.CreateElement("saml:AttributeValue").CreateAttr("xsi:nil", "true")
	attrEl.CreateElement("saml:AttributeValue").CreateElement("saml:NameID").SetText("x")
	attrEl.CreateElement("saml:AttributeValue").SetText("kept")
	// A second AttributeStatement is merged.
	st2 := a.CreateElement("saml:AttributeStatement").CreateElement("saml:Attribute")
	st2.CreateAttr("Name", "memberOf")
	st2.CreateElement("saml:AttributeValue").SetText("g4")
	resp := respWith(t, p, fixture.Sign(t, a, fixture.IdPKey(t), fixture.SignOptions{}))

	e := newEnv(t, func(c *Config) {
		c.Attributes = AttributeMap{
			Groups:      []string{"nope", "memberOf", "http://schemas.microsoft.com/ws/2008/06/identity/claims/groups"},
			Email:       []string{"mail"},
			DisplayName: []string{"givenName"}, // by FriendlyName
		}
	})
	id, err := e.verify(t, resp)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(id.Groups, ","); got != "g3,g4" {
		t.Errorf("groups = %q, want the first listed attribute present, both statements", got)
	}
	if id.Email != "first@example.test" || id.DisplayName != "Alice" {
		t.Errorf("email %q, display name %q", id.Email, id.DisplayName)
	}
	if got := id.Attributes["mixed"]; len(got) != 1 || got[0] != "kept" {
		t.Errorf("mixed = %q, want only the string value", got)
	}
	if got := id.Attributes["mail"]; len(got) != 2 {
		t.Errorf("multi-valued mail = %q", got)
	}
}
