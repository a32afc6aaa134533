package sp

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"

	"github.com/tfgate/tfgate/authz"
	"github.com/tfgate/tfgate/internal/webpage"
	"github.com/tfgate/tfgate/samlverify"
	"github.com/tfgate/tfgate/samlverify/internal/fixture"
)

// EndSAMLSessions ends the fake's browser sessions of (idp, nameID[,
// index]) and their families, as authz/session's stores do.
func (f *fakeStore) EndSAMLSessions(_ context.Context, idp, nameID string, indexes []string) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.fail["EndSAMLSessions"]; err != nil {
		return 0, err
	}
	n := 0
	for tok, s := range f.sessions {
		if s.Family == "" && s.IdP == idp && s.Subject == nameID && (len(indexes) == 0 || slices.Contains(indexes, s.SessionIndex)) {
			delete(f.sessions, tok)
			f.revokeLocked(authz.SessionHandle(tok))
			n++
		}
	}
	return n, nil
}

var _ SingleLogout = (*fakeStore)(nil)

// withSLOPost gives the fixture IdP an HTTP-POST SingleLogoutService too.
func withSLOPost(_ *Config, idps *[]*samlverify.IdP) { (*idps)[0].SLOPostURL = idpSLO + "/post" }

// idpLogoutGET is the fixture IdP's signed LogoutRequest in the
// HTTP-Redirect binding, adjusted by mod.
func idpLogoutGET(tb testing.TB, mod func(*fixture.Logout), relay string, key *rsa.PrivateKey) *http.Request {
	tb.Helper()
	l := fixture.DefaultLogout()
	if mod != nil {
		mod(&l)
	}
	q := fixture.RedirectQuery(tb, "SAMLRequest", fixture.Deflate(tb, l.Element()), relay, key, fixture.SigAlgRSASHA256)
	return httptest.NewRequest("GET", LogoutPath+"?"+q, nil)
}

// idpLogoutPOST is the fixture IdP's LogoutRequest in the HTTP-POST
// binding, signed unless unsigned, as the browser posts it cross-site.
func idpLogoutPOST(tb testing.TB, mod func(*fixture.Logout), relay string, unsigned bool) *http.Request {
	tb.Helper()
	l := fixture.DefaultLogout()
	if mod != nil {
		mod(&l)
	}
	el := l.Element()
	if !unsigned {
		el = fixture.Sign(tb, el, fixture.IdPKey(tb), fixture.SignOptions{})
	}
	form := url.Values{"SAMLRequest": {fixture.Encode(tb, el)}}
	if relay != "" {
		form.Set("RelayState", relay)
	}
	req := logoutRequestFor(nil, form, map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://idp.example.test"})
	return req
}

// withCookie adds the session cookie c to req.
func withCookie(req *http.Request, c *http.Cookie) *http.Request {
	req.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
	return req
}

// redirectAnswer checks a 302 to the IdP's redirect SLO endpoint, its
// query signature by the SP's key, and returns the LogoutResponse and the
// RelayState.
func redirectAnswer(tb testing.TB, rec *httptest.ResponseRecorder, cert *x509.Certificate) (*etree.Element, string) {
	tb.Helper()
	if rec.Code != http.StatusFound {
		tb.Fatalf("status %d, want 302 to the IdP\n%s", rec.Code, rec.Body)
	}
	loc, err := url.Parse(rec.Header().Get("Location"))
	if err != nil || loc.Scheme+"://"+loc.Host+loc.Path != idpSLO {
		tb.Fatalf("Location %q, want the IdP's SLO endpoint", rec.Header().Get("Location"))
	}
	raw, sig, _ := strings.Cut(loc.RawQuery, "&Signature=")
	sigBytes, err := url.QueryUnescape(sig)
	if err != nil {
		tb.Fatal(err)
	}
	der, err := base64.StdEncoding.DecodeString(sigBytes)
	if err != nil {
		tb.Fatal(err)
	}
	sum := sha256.Sum256([]byte(raw))
	if err := rsa.VerifyPKCS1v15(cert.PublicKey.(*rsa.PublicKey), crypto.SHA256, sum[:], der); err != nil {
		tb.Fatalf("LogoutResponse query signature: %v", err)
	}
	return inflate(tb, loc.Query().Get("SAMLResponse")), loc.Query().Get("RelayState")
}

// statusOf returns a LogoutResponse's top-level and second-level status.
func statusOf(el *etree.Element) (string, string) {
	code := el.FindElement("./Status/StatusCode")
	if code == nil {
		return "", ""
	}
	sub := ""
	if s := code.SelectElement("StatusCode"); s != nil {
		sub = s.SelectAttrValue("Value", "")
	}
	return code.SelectAttrValue("Value", ""), sub
}

// checkLogoutResponse checks the fields every LogoutResponse carries.
func checkLogoutResponse(tb testing.TB, el *etree.Element, dest, inResponseTo, status string) {
	tb.Helper()
	got, _ := statusOf(el)
	if el.Tag != "LogoutResponse" || el.SelectAttrValue("Destination", "") != dest ||
		el.SelectAttrValue("InResponseTo", "") != inResponseTo || got != status ||
		el.SelectElement("Issuer").Text() != fixture.SPEntityID || !isRequestID(el.SelectAttrValue("ID", "")) ||
		el.SelectAttrValue("IssueInstant", "") != fixture.T0.Format(samlTimestamp) {
		tb.Errorf("LogoutResponse: %s", xmlDoc(tb, el))
	}
}

// TestIdPLogoutRedirect: a signed LogoutRequest in the HTTP-Redirect
// binding ends the session (and the tokens minted from it) and is
// answered with a signed Success LogoutResponse, RelayState echoed, the
// session cookie cleared. On the old code the GET showed the signed-out
// page and ended nothing.
func TestIdPLogoutRedirect(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withKey(t))
	_, c := e.signIn(t, "")
	child := "tfg_child"
	s, _ := e.store.session(c.Value)
	s.Family = authz.SessionHandle(c.Value)
	if err := e.store.Create(context.Background(), child, s); err != nil {
		t.Fatal(err)
	}
	rec := e.do(withCookie(idpLogoutGET(t, nil, "idp-state-1", fixture.IdPKey(t).Key), c))
	_, cert := testKeyPair(t)
	resp, relay := redirectAnswer(t, rec, cert)
	checkLogoutResponse(t, resp, idpSLO, "_logout-0001", statusSuccess)
	mustEqual(t, "RelayState", relay, "idp-state-1")
	if _, alive := e.store.session(c.Value); alive {
		t.Error("session still alive after the IdP's LogoutRequest")
	}
	if _, alive := e.store.session(child); alive {
		t.Error("token minted from the session still alive")
	}
	if got := cookieNamed(rec.Result().Cookies(), e.h.cfg.CookieName); got == nil || got.MaxAge >= 0 {
		t.Errorf("session cookie not cleared: %v", rec.Header()["Set-Cookie"])
	}
	if !strings.Contains(e.logs.String(), "signed out by the IdP") || strings.Contains(e.logs.String(), "alice@") {
		t.Errorf("log: %s", e.logs)
	}
	// The same request again is a replay: Requester, nothing more ended.
	rec = e.do(idpLogoutGET(t, nil, "", fixture.IdPKey(t).Key))
	resp, _ = redirectAnswer(t, rec, cert)
	checkLogoutResponse(t, resp, idpSLO, "_logout-0001", statusRequester)
}

// TestIdPLogoutPOST: the HTTP-POST binding, answered with an
// auto-submitting form to the IdP's POST endpoint carrying an enveloped
// signed LogoutResponse, under a CSP that allows only that script. On the
// old code the POST was taken for a user's sign-out and ended nothing.
func TestIdPLogoutPOST(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withKey(t), withSLOPost)
	_, c := e.signIn(t, "")
	rec := e.do(idpLogoutPOST(t, nil, "st", false))
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d\n%s\nlog: %s", rec.Code, rec.Body, e.logs)
	}
	mustEqual(t, "CSP", rec.Header().Get("Content-Security-Policy"), webpage.CSPAutoSubmit)
	body := rec.Body.String()
	if !strings.Contains(body, `action="`+idpSLO+`/post"`) || !strings.Contains(body, "<script>"+webpage.AutoSubmitJS+"</script>") ||
		!strings.Contains(body, `name="RelayState" value="st"`) {
		t.Fatalf("form: %s", body)
	}
	m := regexp.MustCompile(`name="SAMLResponse" value="([^"]+)"`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no SAMLResponse in %s", body)
	}
	raw, err := base64.StdEncoding.DecodeString(html.UnescapeString(m[1]))
	if err != nil {
		t.Fatal(err)
	}
	doc := parseXMLBytes(t, raw)
	_, cert := testKeyPair(t)
	vctx := dsig.NewDefaultValidationContext(&dsig.MemoryX509CertificateStore{Roots: []*x509.Certificate{cert}})
	// Real time: the SP's test certificate is not valid at fixture.T0.
	signed, err := vctx.Validate(doc.Root())
	if err != nil {
		t.Fatalf("LogoutResponse signature: %v\n%s", err, raw)
	}
	checkLogoutResponse(t, signed, idpSLO+"/post", "_logout-0001", statusSuccess)
	if _, alive := e.store.session(c.Value); alive {
		t.Error("session still alive after the IdP's LogoutRequest")
	}
}

// TestIdPLogoutRefused: a LogoutRequest that does not verify ends
// nothing. When the Issuer names a configured IdP with a SingleLogoutService
// it is answered there with Requester status; otherwise an error page.
func TestIdPLogoutRefused(t *testing.T) {
	t.Parallel()
	other := fixture.OtherKey(t)
	cases := map[string]struct {
		req    func(tb testing.TB) *http.Request
		answer bool
		irt    string
		status int
	}{
		"redirect unsigned": {req: func(tb testing.TB) *http.Request { return idpLogoutGET(tb, nil, "", nil) }, answer: true, irt: "_logout-0001"},
		"redirect by another key": {req: func(tb testing.TB) *http.Request {
			return idpLogoutGET(tb, nil, "", other.Key)
		}, answer: true, irt: "_logout-0001"},
		"redirect wrong destination": {req: func(tb testing.TB) *http.Request {
			return idpLogoutGET(tb, func(l *fixture.Logout) { l.Destination = fixture.ACSURL }, "", fixture.IdPKey(tb).Key)
		}, answer: true, irt: "_logout-0001"},
		"redirect hostile ID not echoed": {req: func(tb testing.TB) *http.Request {
			return idpLogoutGET(tb, func(l *fixture.Logout) { l.ID = `_x"><script>` }, "", nil)
		}, answer: true, irt: ""},
		"post unsigned": {req: func(tb testing.TB) *http.Request { return idpLogoutPOST(tb, nil, "", true) }, answer: true, irt: "_logout-0001"},
		"unknown issuer": {req: func(tb testing.TB) *http.Request {
			return idpLogoutGET(tb, func(l *fixture.Logout) { l.Issuer = "https://evil.example.test" }, "", other.Key)
		}, status: http.StatusForbidden},
		"not SAML": {req: func(tb testing.TB) *http.Request {
			return httptest.NewRequest("GET", LogoutPath+"?SAMLRequest=bm90IHhtbA%3D%3D", nil)
		}, status: http.StatusBadRequest},
		"other IdP without SLO endpoint": {req: func(tb testing.TB) *http.Request {
			return idpLogoutGET(tb, func(l *fixture.Logout) { l.Issuer = "https://other-idp.example.test" }, "", other.Key)
		}, status: http.StatusForbidden},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, withKey(t))
			_, c := e.signIn(t, "")
			rec := e.do(withCookie(tc.req(t), c))
			if _, alive := e.store.session(c.Value); !alive {
				t.Fatal("a refused LogoutRequest ended the session")
			}
			if len(rec.Result().Cookies()) != 0 {
				t.Errorf("cookies changed: %v", rec.Header()["Set-Cookie"])
			}
			if !strings.Contains(e.logs.String(), "saml: request refused") || !strings.Contains(e.logs.String(), "advice=") {
				t.Errorf("refusal not logged with advice: %s", e.logs)
			}
			if tc.answer {
				_, cert := testKeyPair(t)
				resp, _ := redirectAnswer(t, rec, cert)
				checkLogoutResponse(t, resp, idpSLO, tc.irt, statusRequester)
				return
			}
			if rec.Code != tc.status || !strings.Contains(rec.Body.String(), "Support reference") {
				t.Errorf("status %d, want %d with an error page:\n%s", rec.Code, tc.status, rec.Body)
			}
		})
	}
}

// TestIdPLogoutStoreFails: a store that cannot end the sessions is
// answered with Responder status (PartialLogout when some did end), never
// a crash or Success.
func TestIdPLogoutStoreFails(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withKey(t))
	_, c := e.signIn(t, "")
	e.store.failing("EndSAMLSessions", errStore)
	_, cert := testKeyPair(t)
	resp, _ := redirectAnswer(t, e.do(withCookie(idpLogoutGET(t, nil, "", fixture.IdPKey(t).Key), c)), cert)
	checkLogoutResponse(t, resp, idpSLO, "_logout-0001", statusResponder)

	partial := newEnv(t, withKey(t), func(cfg *Config, _ *[]*samlverify.IdP) { cfg.SingleLogout = partialLogout{} })
	resp, _ = redirectAnswer(t, partial.do(idpLogoutGET(t, nil, "", fixture.IdPKey(t).Key)), cert)
	if st, sub := statusOf(resp); st != statusResponder || sub != statusPartialLogout {
		t.Errorf("status %s / %s, want Responder / PartialLogout", st, sub)
	}
	if _, alive := e.store.session(c.Value); !alive {
		t.Error("session ended although the store failed")
	}
}

// partialLogout ends one session, then fails.
type partialLogout struct{}

func (partialLogout) EndSAMLSessions(context.Context, string, string, []string) (int, error) {
	return 1, errors.New("store: connection reset")
}

// TestIdPLogoutOnlyThatUser: a LogoutRequest ends only the sessions of
// the NameID and SessionIndex it names, and leaves the browser's cookie
// of another live session alone.
func TestIdPLogoutOnlyThatUser(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withKey(t))
	_, c := e.signIn(t, "")
	rec := e.do(withCookie(idpLogoutGET(t, func(l *fixture.Logout) { l.NameID = "bob@example.test" }, "", fixture.IdPKey(t).Key), c))
	_, cert := testKeyPair(t)
	resp, _ := redirectAnswer(t, rec, cert)
	checkLogoutResponse(t, resp, idpSLO, "_logout-0001", statusSuccess)
	if _, alive := e.store.session(c.Value); !alive {
		t.Error("alice's session ended by bob's LogoutRequest")
	}
	if len(rec.Result().Cookies()) != 0 {
		t.Errorf("alice's cookie cleared: %v", rec.Header()["Set-Cookie"])
	}
	rec = e.do(idpLogoutGET(t, func(l *fixture.Logout) { l.ID, l.SessionIndexes = "_logout-2", []string{"_other"} }, "", fixture.IdPKey(t).Key))
	resp, _ = redirectAnswer(t, rec, cert)
	checkLogoutResponse(t, resp, idpSLO, "_logout-2", statusSuccess)
	if _, alive := e.store.session(c.Value); !alive {
		t.Error("session ended by a LogoutRequest for another SessionIndex")
	}
}
