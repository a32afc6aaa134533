package sp

import (
	"html"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tfgate/tfgate/samlverify"
	"github.com/tfgate/tfgate/samlverify/internal/fixture"
)

// allowIdPInitiated lets only the IdP entityID sign users in unsolicited,
// with maxAge (0: the default).
func allowIdPInitiated(entityID string, maxAge time.Duration) func(*Config, *[]*samlverify.IdP) {
	return func(cfg *Config, _ *[]*samlverify.IdP) {
		cfg.IdPInitiated = func(e string) (time.Duration, bool) { return maxAge, e == entityID }
	}
}

// unsolicited returns an IdP-initiated Response (no InResponseTo anywhere)
// from the fixture IdP, adjusted by mod.
func unsolicited(t *testing.T, mod func(*fixture.Params)) string {
	t.Helper()
	return response(t, "", mod)
}

// postUnsolicited posts samlResponse with relayState (omitted when "") to
// the ACS of a browser that never visited /saml/login.
func (e *env) postUnsolicited(samlResponse, relayState string) *http.Response {
	form := url.Values{"SAMLResponse": {samlResponse}}
	if relayState != "" {
		form.Set("RelayState", relayState)
	}
	return e.do(acsRequest(form)).Result()
}

// TestIdPInitiatedOffByDefault: without IdPInitiated, an unsolicited
// Response, however valid, signs nobody in, and the page tells the
// administrator why and what to change.
func TestIdPInitiatedOffByDefault(t *testing.T) {
	for name, mod := range map[string]func(*Config, *[]*samlverify.IdP){
		"not configured":        func(*Config, *[]*samlverify.IdP) {},
		"allowed for other IdP": allowIdPInitiated("https://other-idp.example.test", 0),
	} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, mod)
			resp := e.postUnsolicited(unsolicited(t, nil), "/v1/models/m")
			mustEqual(t, "status", resp.StatusCode, http.StatusForbidden)
			mustEqual(t, "sessions", e.store.count(), 0)
			body := readBody(t, resp)
			if !strings.Contains(html.UnescapeString(body), "idp_initiated: true") {
				t.Errorf("the page does not say how to allow IdP-initiated sign-in:\n%s", body)
			}
			if !strings.Contains(e.logs.String(), "reason=unknown_request") {
				t.Errorf("log: %s", e.logs)
			}
		})
	}
}

// TestIdPInitiatedSignIn: when allowed for the IdP, an unsolicited Response
// signs the user in with the same checks as a solicited one, once, within
// the maximum age, and its RelayState never redirects off the allowed
// hosts.
func TestIdPInitiatedSignIn(t *testing.T) {
	e := newEnv(t, allowIdPInitiated(fixture.IdPEntityID, 2*time.Minute))
	samlResponse := unsolicited(t, nil)
	resp := e.postUnsolicited(samlResponse, "/v1/models/m:predict?x=1")
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("ACS: %d %s\n%s", resp.StatusCode, readBody(t, resp), e.logs)
	}
	mustEqual(t, "redirect", resp.Header.Get("Location"), "/v1/models/m:predict?x=1")
	c := cookieNamed(resp.Cookies(), e.h.cfg.CookieName)
	if c == nil {
		t.Fatal("no session cookie")
	}
	s, ok := e.store.session(c.Value)
	if !ok || s.Subject != "alice@example.test" || s.IdP != fixture.IdPEntityID {
		t.Fatalf("session %+v %v", s, ok)
	}
	if !strings.Contains(e.logs.String(), "idp_initiated=true") {
		t.Errorf("the sign-in is not logged as IdP-initiated: %s", e.logs)
	}

	t.Run("replay", func(t *testing.T) {
		resp := e.postUnsolicited(samlResponse, "/")
		mustEqual(t, "status", resp.StatusCode, http.StatusForbidden)
		mustEqual(t, "sessions", e.store.count(), 1)
	})
	t.Run("RelayState is never an open redirect", func(t *testing.T) {
		for _, rs := range []string{"https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:alert(1)", "/saml/cli/authorize?redirect_uri=http://127.0.0.1:1/&state=x"} {
			resp := e.postUnsolicited(unsolicited(t, nil), rs)
			mustEqual(t, "status "+rs, resp.StatusCode, http.StatusSeeOther)
			mustEqual(t, "redirect for "+rs, resp.Header.Get("Location"), "/")
		}
	})
	refusals := []struct {
		name   string
		mod    func(*fixture.Params)
		reason samlverify.Reason
	}{
		{"older than the maximum age", func(p *fixture.Params) {
			p.IssueInstant = fixture.T0.Add(-2*time.Minute - samlverify.DefaultSkew - time.Second)
		}, samlverify.ReasonExpired},
		{"issued in the future", func(p *fixture.Params) { p.IssueInstant = fixture.T0.Add(10 * time.Minute) }, samlverify.ReasonNotYetValid},
		{"InResponseTo on the assertion only", func(p *fixture.Params) { p.SCDInResponseTo = "_some-request" }, samlverify.ReasonUnknownRequest},
		{"wrong audience", func(p *fixture.Params) { p.Audiences = []string{"https://other-sp.example.test"} }, samlverify.ReasonWrongAudience},
		{"wrong recipient", func(p *fixture.Params) { p.Recipient = "https://other-sp.example.test/acs" }, samlverify.ReasonWrongRecipient},
		{"wrong destination", func(p *fixture.Params) { p.Destination = "https://other-sp.example.test/acs" }, samlverify.ReasonWrongDestination},
		{"expired", func(p *fixture.Params) {
			p.NotOnOrAfter, p.SCDNotOnOrAfter = fixture.T0.Add(-time.Minute-samlverify.DefaultSkew), fixture.T0.Add(-time.Minute-samlverify.DefaultSkew)
		}, samlverify.ReasonExpired},
		// Signed by the fixture IdP's key but claiming to be the other IdP,
		// which may not send unsolicited Responses anyway; the key of the
		// IdP named must verify.
		{"issuer not allowed", func(p *fixture.Params) { p.Issuer = "https://other-idp.example.test" }, samlverify.ReasonUnknownRequest},
	}
	for _, tc := range refusals {
		t.Run(tc.name, func(t *testing.T) {
			before := e.store.count()
			resp := e.postUnsolicited(unsolicited(t, tc.mod), "/")
			mustEqual(t, "status", resp.StatusCode, http.StatusForbidden)
			mustEqual(t, "sessions", e.store.count(), before)
			if !strings.Contains(e.logs.String(), "reason="+string(tc.reason)) {
				t.Errorf("no reason=%s in the log: %s", tc.reason, e.logs)
			}
		})
	}
}

// TestIdPInitiatedKeepsSolicitedChecks: allowing unsolicited Responses
// changes nothing for a Response that names a request: without the
// browser's binding it is still refused.
func TestIdPInitiatedKeepsSolicitedChecks(t *testing.T) {
	e := newEnv(t, allowIdPInitiated(fixture.IdPEntityID, 0))
	l := e.login(t, "")
	resp := e.postUnsolicited(response(t, l.requestID, nil), "")
	mustEqual(t, "status without binding", resp.StatusCode, http.StatusForbidden)
	if !strings.Contains(e.logs.String(), "reason=no_binding") {
		t.Errorf("log: %s", e.logs)
	}
	mustEqual(t, "sessions", e.store.count(), 0)
}

// readBody returns resp's body.
func readBody(t *testing.T, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
