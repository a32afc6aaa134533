package sp

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/tfgate/tfgate/internal/webpage"
	"github.com/tfgate/tfgate/samlverify"
)

// TestCLIAuthorizeRedirectURIs: only loopback http redirects with a port;
// anything else is an error page, never a redirect.
func TestCLIAuthorizeRedirectURIs(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, cookie := e.signIn(t, "")
	for uri, ok := range map[string]bool{
		"http://127.0.0.1:53682/callback":                               true,
		"http://127.0.0.1:1/":                                           true,
		"http://127.0.0.1:65535":                                        true,
		"http://[::1]:53682/callback":                                   true,
		"http://localhost:53682/callback":                               false, // RFC 8252 §8.3: the IP literal
		"http://LOCALHOST:53682/cb":                                     false,
		"http://127.0.0.1:53682/cb?session=x":                           true,
		"http://127.0.0.1/callback":                                     false, // no port
		"http://127.0.0.1:0/callback":                                   false,
		"http://127.0.0.1:65536/callback":                               false,
		"http://127.0.0.1:080/callback":                                 false,
		"https://127.0.0.1:53682/callback":                              false, // RFC 8252 loopback is http
		"http://127.0.0.2:53682/callback":                               false,
		"http://127.1:53682/callback":                                   false,
		"http://0x7f000001:53682/callback":                              false,
		"http://[::ffff:127.0.0.1]:53682/callback":                      false,
		"http://[::1]/callback":                                         false,
		"http://localhost.:53682/callback":                              false,
		"http://localhost.evil.example:53682/":                          false,
		"http://127.0.0.1.nip.io:53682/":                                false,
		"http://evil.example:53682/callback":                            false,
		"http://user@127.0.0.1:53682/callback":                          false,
		"http://127.0.0.1:53682@evil.example/":                          false,
		"http://127.0.0.1:53682/cb#frag":                                false,
		"http://127.0.0.1:53682/cb?code=x":                              false,
		"http://127.0.0.1:53682/cb?state=x":                             false,
		"http://127.0.0.1:53682/c\\b":                                   false,
		"http://127.0.0.1:53682/c b":                                    false,
		"//127.0.0.1:53682/callback":                                    false,
		"/callback":                                                     false,
		"javascript:alert(1)//127.0.0.1:53682":                          false,
		"com.example.app:/callback":                                     false,
		"":                                                              false,
		"http://127.0.0.1:53682/" + strings.Repeat("a", maxRedirectURI): false,
	} {
		rec := e.authorize(cookie, authorizeQuery(func(q url.Values) { q.Set("redirect_uri", uri) }))
		switch {
		case ok && rec.Code != http.StatusFound:
			t.Errorf("%q refused: %d", uri, rec.Code)
		case ok && !strings.HasPrefix(rec.Header().Get("Location"), uri+"?") && !strings.HasPrefix(rec.Header().Get("Location"), uri+"&"):
			t.Errorf("%q: redirected to %q", uri, rec.Header().Get("Location"))
		case !ok && (rec.Code != http.StatusBadRequest || rec.Header().Get("Location") != ""):
			t.Errorf("%q accepted: %d Location %q", uri, rec.Code, rec.Header().Get("Location"))
		case !ok && !strings.Contains(rec.Body.String(), "Invalid sign-in link"):
			t.Errorf("%q: error page %s", uri, rec.Body)
		}
	}
	// A redirect_uri with a query keeps it, and gets code and state added.
	loc := e.authorize(cookie, authorizeQuery(func(q url.Values) { q.Set("redirect_uri", "http://127.0.0.1:53682/cb?session=x") })).Header().Get("Location")
	u, _ := url.Parse(loc)
	if u.Query().Get("session") != "x" || u.Query().Get("code") == "" {
		t.Errorf("redirect %q", loc)
	}
}

// TestCLIAuthorizeErrors: a bad state is a page; other mistakes go back to
// the client as RFC 6749 §4.1.2.1 errors with its state.
func TestCLIAuthorizeErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, cookie := e.signIn(t, "")
	pages := map[string]url.Values{
		"no state":           authorizeQuery(func(q url.Values) { q.Del("state") }),
		"state with newline": authorizeQuery(func(q url.Values) { q.Set("state", "a\nb") }),
		"long state":         authorizeQuery(func(q url.Values) { q.Set("state", strings.Repeat("s", maxState+1)) }),
	}
	for name, q := range pages {
		rec := e.authorize(cookie, q)
		if rec.Code != http.StatusBadRequest || rec.Header().Get("Location") != "" {
			t.Errorf("%s: %d %q, want an error page", name, rec.Code, rec.Header().Get("Location"))
		}
	}
	// Repeated parameters are a page too: which one would count?
	raw := authorizeQuery().Encode() + "&redirect_uri=" + url.QueryEscape("http://127.0.0.1:1/x")
	resp := e.authorizeRaw(cookie, raw)
	if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" {
		t.Errorf("repeated redirect_uri: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}

	redirects := map[string]struct {
		q    url.Values
		want string
	}{
		"plain method":     {authorizeQuery(func(q url.Values) { q.Set("code_challenge_method", "plain") }), errInvalidRequest},
		"no method":        {authorizeQuery(func(q url.Values) { q.Del("code_challenge_method") }), errInvalidRequest},
		"no challenge":     {authorizeQuery(func(q url.Values) { q.Del("code_challenge") }), errInvalidRequest},
		"short challenge":  {authorizeQuery(func(q url.Values) { q.Set("code_challenge", "abc") }), errInvalidRequest},
		"padded challenge": {authorizeQuery(func(q url.Values) { q.Set("code_challenge", testChallenge+"=") }), errInvalidRequest},
		"token flow":       {authorizeQuery(func(q url.Values) { q.Set("response_type", "token") }), "unsupported_response_type"},
		"bad scope":        {authorizeQuery(func(q url.Values) { q.Set("scope", "everything") }), errInvalidScope},
	}
	for name, tc := range redirects {
		rec := e.authorize(cookie, tc.q)
		loc, _ := url.Parse(rec.Header().Get("Location"))
		if rec.Code != http.StatusFound || !strings.HasPrefix(loc.String(), cliRedirect+"?") {
			t.Errorf("%s: %d %q", name, rec.Code, loc)
			continue
		}
		q := loc.Query()
		if q.Get("error") != tc.want || q.Get("state") != "st-1" || q.Get("error_description") == "" || q.Has("code") {
			t.Errorf("%s: redirected with %v, want error %s and the state", name, q, tc.want)
		}
	}
	// response_type=code and a client_id are fine.
	e.code(t, cookie, authorizeQuery(func(q url.Values) { q.Set("response_type", "code"); q.Set("client_id", "extauthz") }))
}

// authorizeRaw runs authorize with a raw query.
func (e *env) authorizeRaw(c *http.Cookie, raw string) *http.Response {
	req := httptest.NewRequest("GET", CLIAuthorizePath+"?"+raw, nil)
	req.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
	return e.do(req).Result()
}

// TestCLIAuthorizeSignsInFirst: without a session the browser signs in and
// comes back to the same authorize request, which then issues a code.
func TestCLIAuthorizeSignsInFirst(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	q := authorizeQuery(func(q url.Values) { q.Set("scope", "model:resnet") })
	rec := e.authorize(nil, q)
	loc, _ := url.Parse(rec.Header().Get("Location"))
	if rec.Code != http.StatusFound || loc.Path != LoginPath {
		t.Fatalf("anonymous authorize: %d %s", rec.Code, loc)
	}
	ret := loc.Query().Get("return_to")
	back, _ := url.Parse(ret)
	if back.Path != CLIAuthorizePath || back.Query().Get("code_challenge") != testChallenge ||
		back.Query().Get("scope") != "model:resnet" || back.Query().Get(signInMarker) != "1" {
		t.Fatalf("return_to %q", ret)
	}
	// The real sign-in: login with that return_to, then the ACS sends the
	// browser back to authorize (the return_to is long, so it rides in the
	// binding cookie rather than RelayState).
	rec2, cookie := e.signIn(t, "return_to="+url.QueryEscape(ret))
	mustEqual(t, "after sign-in", rec2.Header().Get("Location"), ret)
	rec = e.authorize(cookie, back.Query())
	loc, _ = url.Parse(rec.Header().Get("Location"))
	if rec.Code != http.StatusFound || loc.Query().Get("state") != "st-1" || loc.Query().Get("code") == "" {
		t.Fatalf("authorize after sign-in: %d %s", rec.Code, loc)
	}
	tj := tokensOf(t, e.exchange(loc.Query().Get("code"), testVerifier, cliRedirect))
	mustEqual(t, "scope", tj.Scope, "model:resnet")

	// Back from sign-in without a session (cookies blocked): a page, not
	// another trip to the IdP.
	rec = e.authorize(nil, back.Query())
	if rec.Code != http.StatusForbidden || rec.Header().Get("Location") != "" || !strings.Contains(rec.Body.String(), "cookie") {
		t.Errorf("no session after sign-in: %d %q", rec.Code, rec.Header().Get("Location"))
	}
	// A signed-out session cookie is no session.
	e.signOut(t, cookie)
	rec = e.authorize(cookie, q)
	if loc, _ := url.Parse(rec.Header().Get("Location")); loc.Path != LoginPath {
		t.Errorf("signed-out cookie: %d %s", rec.Code, loc)
	}
}

// TestCLIAuthorizeUnavailable: no token store, or a store that fails.
func TestCLIAuthorizeUnavailable(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *Config, _ *[]*samlverify.IdP) { c.Tokens = nil })
	_, cookie := e.signIn(t, "")
	if rec := e.authorize(cookie, authorizeQuery()); rec.Code != http.StatusNotFound || rec.Header().Get("Location") != "" {
		t.Errorf("without Tokens: %d %q", rec.Code, rec.Header().Get("Location"))
	}
	e = newEnv(t)
	_, cookie = e.signIn(t, "")
	e.store.failing("Remember", errStore)
	rec := e.authorize(cookie, authorizeQuery())
	loc, _ := url.Parse(rec.Header().Get("Location"))
	mustEqual(t, "store failing", loc.Query().Get("error"), errUnavailableCode)
	e.store.failing("Remember", nil)
	e.store.failing("Lookup", errStore)
	if rec := e.authorize(cookie, authorizeQuery()); rec.Code != http.StatusServiceUnavailable {
		t.Errorf("session lookup failing: %d", rec.Code)
	}
}

// TestCLIAuthorizeConsent: a signed-in browser gets a confirmation page,
// never a code, from the GET; only the page's own form, posted from this
// site with its token, gets one.
func TestCLIAuthorizeConsent(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, cookie := e.signIn(t, "")
	sameOrigin := map[string]string{"Origin": testBaseURL, "Sec-Fetch-Site": "same-origin"}

	t.Run("GET shows the page and issues nothing", func(t *testing.T) {
		for name, q := range map[string]url.Values{
			"all groups allow": authorizeQuery(),
			"scoped":           authorizeQuery(func(q url.Values) { q.Set("scope", "model:resnet") }),
		} {
			rec := e.authorizeGet(cookie, q)
			body := rec.Body.String()
			if rec.Code != http.StatusOK || rec.Header().Get("Location") != "" || strings.Contains(body, "code=") {
				t.Fatalf("%s: GET answered %d %q:\n%s", name, rec.Code, rec.Header().Get("Location"), body)
			}
			mustEqual(t, "CSP", rec.Header().Get("Content-Security-Policy"), webpage.CSP)
			mustEqual(t, "X-Frame-Options", rec.Header().Get("X-Frame-Options"), "DENY")
			want := "everything your groups allow"
			if q.Has("scope") {
				want = "model:resnet"
			}
			for _, s := range []string{"alice@example.test", want, "http://127.0.0.1:53682", `action="` + CLIAuthorizePath + `"`, `value="allow"`, `value="cancel"`} {
				if !strings.Contains(body, s) {
					t.Errorf("%s: the page lacks %q:\n%s", name, s, body)
				}
			}
			form := consentForm(body)
			if form.Get("csrf") == "" || form.Get("redirect_uri") != cliRedirect || form.Get("code_challenge") != testChallenge || form.Get("scope") != q.Get("scope") {
				t.Errorf("%s: form %v", name, form)
			}
		}
		if e.store.count() != 1 || strings.Contains(e.logs.String(), "authorization code issued") {
			t.Errorf("GETs issued a code: %d sessions, log:\n%s", e.store.count(), e.logs)
		}
	})

	page := func(t *testing.T, q url.Values) url.Values {
		t.Helper()
		rec := e.authorizeGet(cookie, q)
		if rec.Code != http.StatusOK {
			t.Fatalf("GET: %d", rec.Code)
		}
		return consentForm(rec.Body.String())
	}

	t.Run("Allow", func(t *testing.T) {
		form := page(t, authorizeQuery())
		form.Set("decision", "allow")
		rec := e.consent(cookie, form, sameOrigin)
		loc, _ := url.Parse(rec.Header().Get("Location"))
		if rec.Code != http.StatusFound || !strings.HasPrefix(loc.String(), cliRedirect+"?") || loc.Query().Get("code") == "" || loc.Query().Get("state") != "st-1" {
			t.Fatalf("Allow: %d %q", rec.Code, loc)
		}
		tokensOf(t, e.exchange(loc.Query().Get("code"), testVerifier, cliRedirect))
	})

	t.Run("Cancel", func(t *testing.T) {
		form := page(t, authorizeQuery())
		form.Set("decision", "cancel")
		rec := e.consent(cookie, form, sameOrigin)
		loc, _ := url.Parse(rec.Header().Get("Location"))
		q := loc.Query()
		if rec.Code != http.StatusFound || !strings.HasPrefix(loc.String(), cliRedirect+"?") || q.Get("error") != "access_denied" || q.Get("state") != "st-1" || q.Has("code") {
			t.Fatalf("Cancel: %d %q", rec.Code, loc)
		}
	})

	t.Run("Origin null is no proof but no refusal", func(t *testing.T) {
		// Browsers send Origin: null on a form POST from a no-referrer page.
		form := page(t, authorizeQuery())
		form.Set("decision", "allow")
		if rec := e.consent(cookie, form, map[string]string{"Origin": "null"}); rec.Code != http.StatusFound || !strings.Contains(rec.Header().Get("Location"), "code=") {
			t.Fatalf("Origin null: %d %q", rec.Code, rec.Header().Get("Location"))
		}
	})

	_, other := e.signIn(t, "")
	refused := map[string]struct {
		form    func(url.Values)
		headers map[string]string
		cookie  *http.Cookie
	}{
		"no token":                      {func(f url.Values) { f.Del("csrf") }, sameOrigin, cookie},
		"empty token":                   {func(f url.Values) { f.Set("csrf", "") }, sameOrigin, cookie},
		"wrong token":                   {func(f url.Values) { f.Set("csrf", csrfToken(cookie.Value)) }, sameOrigin, cookie},
		"two tokens":                    {func(f url.Values) { f.Add("csrf", "x") }, sameOrigin, cookie},
		"other redirect_uri":            {func(f url.Values) { f.Set("redirect_uri", "http://127.0.0.1:4444/callback") }, sameOrigin, cookie},
		"other challenge":               {func(f url.Values) { f.Set("code_challenge", strings.Repeat("A", 43)) }, sameOrigin, cookie},
		"added scope":                   {func(f url.Values) { f.Set("scope", "model:resnet") }, sameOrigin, cookie},
		"other session":                 {func(url.Values) {}, sameOrigin, other},
		"cross-site":                    {func(url.Values) {}, map[string]string{"Sec-Fetch-Site": "cross-site"}, cookie},
		"same-site":                     {func(url.Values) {}, map[string]string{"Sec-Fetch-Site": "same-site"}, cookie},
		"foreign Origin":                {func(url.Values) {}, map[string]string{"Origin": "https://evil.example"}, cookie},
		"cross-site and foreign Origin": {func(url.Values) {}, map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}, cookie},
	}
	for name, tc := range refused {
		t.Run("refused: "+name, func(t *testing.T) {
			form := page(t, authorizeQuery())
			form.Set("decision", "allow")
			tc.form(form)
			rec := e.consent(tc.cookie, form, tc.headers)
			if rec.Code != http.StatusForbidden || rec.Header().Get("Location") != "" || !strings.Contains(rec.Body.String(), "Command-line sign-in refused") {
				t.Fatalf("%d %q:\n%s", rec.Code, rec.Header().Get("Location"), rec.Body)
			}
		})
	}

	t.Run("no decision", func(t *testing.T) {
		rec := e.consent(cookie, page(t, authorizeQuery()), sameOrigin)
		if rec.Code != http.StatusBadRequest || rec.Header().Get("Location") != "" {
			t.Fatalf("%d %q", rec.Code, rec.Header().Get("Location"))
		}
	})

	t.Run("no session", func(t *testing.T) {
		form := page(t, authorizeQuery())
		form.Set("decision", "allow")
		rec := e.consent(nil, form, sameOrigin)
		loc, _ := url.Parse(rec.Header().Get("Location"))
		if rec.Code != http.StatusFound || loc.Path != LoginPath {
			t.Fatalf("%d %q, want to sign in first", rec.Code, loc)
		}
	})
}

// TestCLIAuthorizeRefusesTokenSessions (issue 8 item 4): an access token
// presented as the session cookie is not a browser session: it gets
// neither the confirmation page nor a code, whether it comes from a
// command-line sign-in or an assertion exchange. (Before, it minted a new
// grant under the token's root, which survived the victim's sign-out.)
func TestCLIAuthorizeRefusesTokenSessions(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, cookie := e.signIn(t, "")
	tj := e.cliLogin(t, cookie, authorizeQuery())
	asCookie := &http.Cookie{Name: cookie.Name, Value: tj.AccessToken}
	rec := e.authorizeGet(asCookie, authorizeQuery())
	if rec.Code != http.StatusForbidden || rec.Header().Get("Location") != "" {
		t.Errorf("GET with an access token as the cookie: %d %v", rec.Code, rec.Header())
	}
	// The confirmation form posted with a form token computed for the
	// access token: refused too.
	form := authorizeQuery()
	form.Set("csrf", consentToken(tj.AccessToken, form))
	form.Set("decision", "allow")
	rec = e.consent(asCookie, form, map[string]string{"Origin": testBaseURL, "Sec-Fetch-Site": "same-origin"})
	if rec.Code != http.StatusForbidden || rec.Header().Get("Location") != "" {
		t.Errorf("POST with an access token as the cookie: %d %v", rec.Code, rec.Header())
	}
	if !strings.Contains(e.logs.String(), "reason=token_session") {
		t.Errorf("log: %s", e.logs)
	}
	// The browser session itself still works.
	e.code(t, cookie, authorizeQuery())
}
