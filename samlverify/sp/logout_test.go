package sp

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/tfgate/tfgate/samlverify"
	"github.com/tfgate/tfgate/samlverify/internal/fixture"
)

// logoutRequestFor returns POST /saml/logout with the session cookie, the
// form and the given headers.
func logoutRequestFor(c *http.Cookie, form url.Values, header map[string]string) *http.Request {
	req := httptest.NewRequest("POST", LogoutPath, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if c != nil {
		req.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	return req
}

// TestLogoutCSRF: a cookie session ends only on a request from this
// site's own page.
func TestLogoutCSRF(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		header    map[string]string
		withToken bool
		badToken  bool
		ok        bool
	}{
		"form token, no fetch metadata (old browser)": {withToken: true, ok: true},
		"same-origin fetch metadata":                  {header: map[string]string{"Sec-Fetch-Site": "same-origin"}, ok: true},
		"user-initiated (none)":                       {header: map[string]string{"Sec-Fetch-Site": "none"}, ok: true},
		"matching Origin":                             {header: map[string]string{"Origin": testBaseURL}, ok: true},
		"same-origin and token":                       {header: map[string]string{"Sec-Fetch-Site": "same-origin", "Origin": testBaseURL}, withToken: true, ok: true},
		"cross-site, even with the token":             {header: map[string]string{"Sec-Fetch-Site": "cross-site"}, withToken: true},
		"same-site sibling host":                      {header: map[string]string{"Sec-Fetch-Site": "same-site"}, withToken: true},
		"foreign Origin":                              {header: map[string]string{"Origin": "https://evil.example"}, withToken: true},
		"null Origin, our own page with the token":    {header: map[string]string{"Origin": "null"}, withToken: true, ok: true},
		"null Origin and same-origin (Chromium)":      {header: map[string]string{"Origin": "null", "Sec-Fetch-Site": "same-origin"}, ok: true},
		"null Origin without the token":               {header: map[string]string{"Origin": "null"}},
		"null Origin, cross-site, even with token":    {header: map[string]string{"Origin": "null", "Sec-Fetch-Site": "cross-site"}, withToken: true},
		"http Origin of our host":                     {header: map[string]string{"Origin": "http://sp.example.test"}},
		"nothing at all":                              {},
		"wrong token":                                 {badToken: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			_, c := e.signIn(t, "")
			form := url.Values{}
			if tc.withToken {
				form.Set("csrf", csrfToken(c.Value))
			}
			if tc.badToken {
				form.Set("csrf", csrfToken("tfg_other"))
			}
			rec := e.do(logoutRequestFor(c, form, tc.header))
			_, alive := e.store.session(c.Value)
			if tc.ok {
				if rec.Code != http.StatusSeeOther || alive {
					t.Errorf("logout refused: %d, session alive %v", rec.Code, alive)
				}
				return
			}
			if rec.Code != http.StatusForbidden || !alive || len(rec.Result().Cookies()) != 0 {
				t.Errorf("cross-site logout accepted: %d, session alive %v, cookies %v", rec.Code, alive, rec.Result().Cookies())
			}
		})
	}
}

// TestLogoutPage: GET never signs out; it offers a form carrying the
// token, or says "signed out" when there is no session cookie.
func TestLogoutPage(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, c := e.signIn(t, "")
	req := httptest.NewRequest("GET", LogoutPath, nil)
	req.AddCookie(c)
	rec := e.do(req)
	body := rec.Body.String()
	if rec.Code != 200 || !strings.Contains(body, `<form method="post" action="/saml/logout">`) ||
		!strings.Contains(body, `name="csrf" value="`+csrfToken(c.Value)+`"`) {
		t.Errorf("confirmation page: %d\n%s", rec.Code, body)
	}
	if strings.Contains(body, c.Value) {
		t.Error("page contains the session token")
	}
	if _, alive := e.store.session(c.Value); !alive {
		t.Error("GET signed out")
	}
	for _, r := range []*http.Request{
		httptest.NewRequest("GET", LogoutPath, nil),
		httptest.NewRequest("GET", LogoutPath+"?SAMLResponse=abc&RelayState=x", nil),
	} {
		rec := e.do(r)
		if rec.Code != 200 || !strings.Contains(rec.Body.String(), "You are signed out") {
			t.Errorf("%s: %d\n%s", r.URL, rec.Code, rec.Body)
		}
	}
}

// TestLogoutSingleLogout follows a confirmed logout: the session and its
// cookie are gone and the browser goes to the IdP with a LogoutRequest,
// signed when the SP has a key; without an IdP SLO endpoint, to the
// signed-out page.
func TestLogoutSingleLogout(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		mods   []func(*Config, *[]*samlverify.IdP)
		query  string
		signed bool
		dest   string // "" means the IdP's SLO with a LogoutRequest
	}{
		"IdP with SLO":      {nil, "", false, ""},
		"signed with a key": {[]func(*Config, *[]*samlverify.IdP){withKey(t)}, "", true, ""},
		"IdP without SLO":   {nil, "idp=other", false, LogoutPath},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, tc.mods...)
			l := e.login(t, tc.query)
			resp := response(t, l.requestID, nil)
			if tc.query != "" {
				p := fixture.Default()
				p.Issuer = "https://other-idp.example.test"
				p.InResponseTo, p.SCDInResponseTo, p.AssertionID = l.requestID, l.requestID, "_other-1"
				resp = fixture.Encode(t, fixture.SignAssertionIn(t, p.Response(), fixture.NextIdPKey(t), fixture.SignOptions{}))
			}
			rec := e.do(acsRequest(url.Values{"SAMLResponse": {resp}}, l.binding))
			c := cookieNamed(rec.Result().Cookies(), "__Host-tfgate")
			if c == nil {
				t.Fatalf("sign-in: %d %s", rec.Code, e.logs)
			}
			rec = e.do(logoutRequestFor(c, nil, map[string]string{"Sec-Fetch-Site": "same-origin"}))
			mustEqual(t, "status", rec.Code, http.StatusSeeOther)
			if _, alive := e.store.session(c.Value); alive {
				t.Error("session still stored")
			}
			cleared := cookieNamed(rec.Result().Cookies(), "__Host-tfgate")
			if cleared == nil || cleared.MaxAge >= 0 || cleared.Value != "" || !cleared.Secure || cleared.Path != "/" {
				t.Errorf("session cookie not deleted: %+v", cleared)
			}
			if !strings.Contains(rec.Header().Values("Set-Cookie")[0], "Max-Age=0") {
				t.Errorf("Set-Cookie %q", rec.Header().Values("Set-Cookie"))
			}
			loc, _ := url.Parse(rec.Header().Get("Location"))
			if tc.dest != "" {
				mustEqual(t, "Location", loc.String(), tc.dest)
				return
			}
			mustEqual(t, "SLO", loc.Scheme+"://"+loc.Host+loc.Path, idpSLO)
			mustEqual(t, "RelayState", loc.Query().Get("RelayState"), testBaseURL+LogoutPath)
			lr := inflate(t, loc.Query().Get("SAMLRequest"))
			mustEqual(t, "root", lr.Tag, "LogoutRequest")
			mustEqual(t, "Destination", lr.SelectAttrValue("Destination", ""), idpSLO)
			mustEqual(t, "Issuer", lr.SelectElement("Issuer").Text(), fixture.SPEntityID)
			mustEqual(t, "NameID", lr.SelectElement("NameID").Text(), fixture.Default().NameID)
			mustEqual(t, "NameID Format", lr.SelectElement("NameID").SelectAttrValue("Format", ""), fixture.EmailFormat)
			mustEqual(t, "SessionIndex", lr.SelectElement("SessionIndex").Text(), "_session-1")
			if tc.signed {
				checkRedirectSignature(t, e, loc)
			} else if loc.Query().Has("Signature") {
				t.Error("signed without a key")
			}
			if strings.Contains(e.logs.String(), fixture.Default().NameID) {
				t.Error("log contains the NameID")
			}
		})
	}
}

func TestLogoutEdgeCases(t *testing.T) {
	t.Parallel()
	t.Run("no credential", func(t *testing.T) {
		rec := newEnv(t).do(logoutRequestFor(nil, nil, nil))
		mustEqual(t, "status", rec.Code, http.StatusSeeOther)
		mustEqual(t, "Location", rec.Header().Get("Location"), LogoutPath)
	})
	t.Run("bearer token is revoked without CSRF checks", func(t *testing.T) {
		e := newEnv(t)
		_, c := e.signIn(t, "")
		req := logoutRequestFor(nil, nil, map[string]string{"Authorization": "Bearer " + c.Value})
		rec := e.do(req)
		var body map[string]string
		_ = json.Unmarshal(rec.Body.Bytes(), &body)
		if rec.Code != 200 || body["status"] != "signed out" {
			t.Errorf("%d %s", rec.Code, rec.Body)
		}
		if _, alive := e.store.session(c.Value); alive {
			t.Error("bearer session still stored")
		}
	})
	t.Run("cookie and bearer at once", func(t *testing.T) {
		e := newEnv(t)
		_, c := e.signIn(t, "")
		rec := e.do(logoutRequestFor(c, nil, map[string]string{"Authorization": "Bearer " + c.Value, "Sec-Fetch-Site": "same-origin"}))
		mustEqual(t, "status", rec.Code, http.StatusBadRequest)
	})
	t.Run("session already gone", func(t *testing.T) {
		e := newEnv(t)
		rec := e.do(logoutRequestFor(&http.Cookie{Name: "__Host-tfgate", Value: "tfg_gone"}, nil, map[string]string{"Sec-Fetch-Site": "same-origin"}))
		mustEqual(t, "status", rec.Code, http.StatusSeeOther)
		mustEqual(t, "Location", rec.Header().Get("Location"), LogoutPath)
	})
	t.Run("store down", func(t *testing.T) {
		e := newEnv(t)
		_, c := e.signIn(t, "")
		e.store.failing("Delete", errStore)
		rec := e.do(logoutRequestFor(c, nil, map[string]string{"Sec-Fetch-Site": "same-origin"}))
		mustEqual(t, "status", rec.Code, http.StatusServiceUnavailable)
		if len(rec.Result().Cookies()) != 0 {
			t.Error("cookie cleared although the session could not be deleted")
		}
	})
}
