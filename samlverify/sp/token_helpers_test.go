package sp

import (
	"context"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/tfgate/tfgate/samlverify/internal/fixture"
)

// The PKCE pair of RFC 7636 Appendix B, and a loopback redirect.
const (
	testVerifier  = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
	testChallenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
	cliRedirect   = "http://127.0.0.1:53682/callback"
)

// authorizeQuery returns a valid authorize query, adjusted by mods.
func authorizeQuery(mods ...func(url.Values)) url.Values {
	q := url.Values{
		"redirect_uri": {cliRedirect}, "state": {"st-1"},
		"code_challenge": {testChallenge}, "code_challenge_method": {"S256"},
	}
	for _, m := range mods {
		m(q)
	}
	return q
}

// authorize runs GET /saml/cli/authorize?q with the session cookie c and,
// when it answers with the confirmation page, clicks Allow on it.
func (e *env) authorize(c *http.Cookie, q url.Values) *httptest.ResponseRecorder {
	rec := e.authorizeGet(c, q)
	if rec.Code != http.StatusOK {
		return rec
	}
	form := consentForm(rec.Body.String())
	form.Set("decision", "allow")
	return e.consent(c, form, map[string]string{"Origin": testBaseURL, "Sec-Fetch-Site": "same-origin"})
}

// authorizeGet runs GET /saml/cli/authorize?q with the session cookie c.
func (e *env) authorizeGet(c *http.Cookie, q url.Values) *httptest.ResponseRecorder {
	req := httptest.NewRequest("GET", CLIAuthorizePath+"?"+q.Encode(), nil)
	if c != nil {
		req.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
	}
	return e.do(req)
}

// consent runs POST /saml/cli/authorize with form, the session cookie c
// and headers.
func (e *env) consent(c *http.Cookie, form url.Values, headers map[string]string) *httptest.ResponseRecorder {
	req := httptest.NewRequest("POST", CLIAuthorizePath, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	if c != nil {
		req.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
	}
	return e.do(req)
}

var inputRE = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)

// consentForm returns the hidden fields of the confirmation page's form.
func consentForm(page string) url.Values {
	form := url.Values{}
	for _, m := range inputRE.FindAllStringSubmatch(page, -1) {
		form.Add(html.UnescapeString(m[1]), html.UnescapeString(m[2]))
	}
	return form
}

// code runs authorize for the browser with cookie c and returns the code
// it redirects to the loopback client with.
func (e *env) code(tb testing.TB, c *http.Cookie, q url.Values) string {
	tb.Helper()
	rec := e.authorize(c, q)
	if rec.Code != http.StatusFound {
		tb.Fatalf("authorize: %d\n%s\nlog: %s", rec.Code, rec.Body, e.logs)
	}
	loc, err := url.Parse(rec.Header().Get("Location"))
	if err != nil {
		tb.Fatal(err)
	}
	if !strings.HasPrefix(loc.String(), q.Get("redirect_uri")+"?") || loc.Query().Get("state") != q.Get("state") {
		tb.Fatalf("authorize redirected to %s", loc)
	}
	code := loc.Query().Get("code")
	if code == "" {
		tb.Fatalf("no code in %s", loc)
	}
	return code
}

// postForm runs POST path with form on the token handler.
func (e *env) postForm(path string, form url.Values) *httptest.ResponseRecorder {
	req := httptest.NewRequest("POST", path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec := httptest.NewRecorder()
	e.h.TokenHandler().ServeHTTP(rec, req)
	return rec
}

// exchange trades a code.
func (e *env) exchange(code, verifier, redirectURI string) *httptest.ResponseRecorder {
	return e.postForm(TokenPath, url.Values{
		"grant_type": {GrantAuthorizationCode}, "code": {code}, "code_verifier": {verifier}, "redirect_uri": {redirectURI},
	})
}

// refresh trades a refresh token, for scope when not empty.
func (e *env) refresh(refreshToken, scope string) *httptest.ResponseRecorder {
	form := url.Values{"grant_type": {GrantRefreshToken}, "refresh_token": {refreshToken}}
	if scope != "" {
		form.Set("scope", scope)
	}
	return e.postForm(TokenPath, form)
}

// tokenJSON is a decoded token response.
type tokenJSON struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	RefreshToken string `json:"refresh_token"`
	Scope        string `json:"scope"`
	raw          map[string]any
}

// tokensOf decodes a 200 token response and checks its headers.
func tokensOf(tb testing.TB, rec *httptest.ResponseRecorder) tokenJSON {
	tb.Helper()
	if rec.Code != http.StatusOK {
		tb.Fatalf("token endpoint: %d %s", rec.Code, rec.Body)
	}
	checkTokenHeaders(tb, rec)
	var tj tokenJSON
	if err := json.Unmarshal(rec.Body.Bytes(), &tj); err != nil {
		tb.Fatal(err)
	}
	_ = json.Unmarshal(rec.Body.Bytes(), &tj.raw)
	if !strings.HasPrefix(tj.AccessToken, "tfg_") || !strings.HasPrefix(tj.RefreshToken, RefreshTokenPrefix) || tj.TokenType != "Bearer" {
		tb.Fatalf("token response %s", rec.Body)
	}
	return tj
}

func checkTokenHeaders(tb testing.TB, rec *httptest.ResponseRecorder) {
	tb.Helper()
	if got := rec.Header().Get("Cache-Control"); got != "no-store" {
		tb.Errorf("Cache-Control = %q, want no-store", got)
	}
	if got := rec.Header().Get("Content-Type"); got != "application/json" {
		tb.Errorf("Content-Type = %q", got)
	}
}

// oauthErrorOf decodes an RFC 6749 §5.2 error answer with status.
func oauthErrorOf(tb testing.TB, rec *httptest.ResponseRecorder, status int) (code, desc string) {
	tb.Helper()
	if rec.Code != status {
		tb.Fatalf("status %d, want %d: %s", rec.Code, status, rec.Body)
	}
	checkTokenHeaders(tb, rec)
	var m map[string]string
	if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil || m["error"] == "" || len(m) != 2 {
		tb.Fatalf("not an RFC 6749 error object: %s", rec.Body)
	}
	return m["error"], m["error_description"]
}

// login is `extauthz login` against a signed-in browser: authorize with
// q, then exchange the code.
func (e *env) cliLogin(tb testing.TB, c *http.Cookie, q url.Values) tokenJSON {
	tb.Helper()
	return tokensOf(tb, e.exchange(e.code(tb, c, q), testVerifier, q.Get("redirect_uri")))
}

// live reports whether token names a session in the store.
func (e *env) live(token string) bool {
	_, err := e.store.Lookup(context.Background(), token)
	return err == nil
}

// bareAssertion returns an RFC 7522 assertion by the fixture IdP for the
// token endpoint, adjusted by mod, base64url-encoded.
func bareAssertion(tb testing.TB, mod func(*fixture.Params)) string {
	tb.Helper()
	p := bareParams()
	if mod != nil {
		mod(&p)
	}
	return fixture.EncodeURL(tb, fixture.Sign(tb, p.Assertion(), fixture.IdPKey(tb), fixture.SignOptions{}))
}

// bareParams are fixture Params for a bearer assertion: no InResponseTo,
// Recipient and Audience the token endpoint, a fresh ID.
func bareParams() fixture.Params {
	p := fixture.Default()
	p.InResponseTo, p.SCDInResponseTo = "", ""
	p.Recipient, p.Audiences = fixture.TokenURL, []string{fixture.TokenURL}
	p.AssertionID = fmt.Sprintf("_bare-%d", assertionSeq.Add(1))
	return p
}

// samlBearer exchanges an assertion.
func (e *env) samlBearer(assertion, scope string) *httptest.ResponseRecorder {
	form := url.Values{"grant_type": {GrantSAML2Bearer}, "assertion": {assertion}}
	if scope != "" {
		form.Set("scope", scope)
	}
	return e.postForm(TokenPath, form)
}

// signInWith is signIn with the fixture Response adjusted by mod.
func (e *env) signInWith(tb testing.TB, mod func(*fixture.Params)) *http.Cookie {
	tb.Helper()
	l := e.login(tb, "")
	rec := e.do(acsRequest(url.Values{"SAMLResponse": {response(tb, l.requestID, mod)}}, l.binding))
	if rec.Code != http.StatusSeeOther {
		tb.Fatalf("ACS: %d\n%s\nlog: %s", rec.Code, rec.Body, e.logs)
	}
	c := cookieNamed(rec.Result().Cookies(), e.h.cfg.CookieName)
	if c == nil {
		tb.Fatal("no session cookie")
	}
	return c
}

// signOut signs the browser with cookie c out, from this site's page.
func (e *env) signOut(tb testing.TB, c *http.Cookie) {
	tb.Helper()
	rec := e.do(logoutRequestFor(c, url.Values{}, map[string]string{"Origin": testBaseURL}))
	if rec.Code != http.StatusSeeOther {
		tb.Fatalf("logout: %d %s", rec.Code, rec.Body)
	}
}

// recorderOf turns a recorded response back into a recorder, for the
// helpers that take one.
func recorderOf(tb testing.TB, resp *http.Response) *httptest.ResponseRecorder {
	tb.Helper()
	rec := httptest.NewRecorder()
	for k, vs := range resp.Header {
		rec.Header()[k] = vs
	}
	rec.WriteHeader(resp.StatusCode)
	if _, err := io.Copy(rec, resp.Body); err != nil {
		tb.Fatal(err)
	}
	return rec
}

func recorder() *httptest.ResponseRecorder { return httptest.NewRecorder() }

// httptestRequest builds a request with a body and content type.
func httptestRequest(method, target, ctype, body string) *http.Request {
	req := httptest.NewRequest(method, target, strings.NewReader(body))
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	return req
}
