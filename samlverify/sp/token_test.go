package sp

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tfgate/tfgate/authz"
	"github.com/tfgate/tfgate/samlverify"
	"github.com/tfgate/tfgate/samlverify/internal/fixture"
)

// TestTokenAuthorizationCode is `extauthz login`'s exchange: what the
// tokens hold, how long they last, and what the store keeps of them.
func TestTokenAuthorizationCode(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, cookie := e.signIn(t, "")
	parent, _ := e.store.session(cookie.Value)
	code := e.code(t, cookie, authorizeQuery())
	tj := tokensOf(t, e.exchange(code, testVerifier, cliRedirect))
	mustEqual(t, "expires_in", tj.ExpiresIn, int64(3600))
	if _, ok := tj.raw["scope"]; ok {
		t.Errorf("an unscoped token's response carries scope: %v", tj.raw)
	}
	access, ok := e.store.session(tj.AccessToken)
	if !ok {
		t.Fatal("the access token is not a session")
	}
	mustEqual(t, "subject", access.Subject, parent.Subject)
	mustEqual(t, "groups", strings.Join(access.Groups, ","), "ml-readers,ml-admins")
	mustEqual(t, "idp", access.IdP, fixture.IdPEntityID)
	mustEqual(t, "created at (the sign-in's)", access.CreatedAt, parent.CreatedAt)
	mustEqual(t, "expires at", access.ExpiresAt, fixture.T0.Add(time.Hour))
	if root, grant, _ := strings.Cut(access.Family, "/"); root != authz.SessionHandle(cookie.Value) || grant == "" {
		t.Errorf("family %q, want the browser session's handle / a grant", access.Family)
	}
	if access.SessionIndex != "" || len(access.Scope) != 0 {
		t.Errorf("access token session %+v", access)
	}
	rec, ok := e.store.session(refreshRecordKey(tj.RefreshToken))
	if !ok || rec.Family != access.Family || !rec.ExpiresAt.Equal(parent.ExpiresAt) {
		t.Errorf("refresh record %+v (found %v), want the access token's family, until the sign-in's end %v", rec, ok, parent.ExpiresAt)
	}
	// Neither the refresh token nor the code is a bearer credential.
	for name, tok := range map[string]string{"refresh token": tj.RefreshToken, "code": code} {
		if e.live(tok) {
			t.Errorf("the %s names a session the Check path would accept", name)
		}
	}
	if strings.Contains(e.logs.String(), tj.AccessToken) || strings.Contains(e.logs.String(), tj.RefreshToken) ||
		strings.Contains(e.logs.String(), code) {
		t.Error("the log holds a token or code")
	}
}

// TestTokenLifetimes: no token outlives the sign-in it comes from, and
// RefreshLifetime shortens refresh tokens.
func TestTokenLifetimes(t *testing.T) {
	t.Parallel()
	t.Run("short sign-in", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		cookie := e.signInWith(t, func(p *fixture.Params) { p.SessionNotOnOrAfter = fixture.T0.Add(30 * time.Minute) })
		tj := e.cliLogin(t, cookie, authorizeQuery())
		mustEqual(t, "expires_in", tj.ExpiresIn, int64(1800))
		rec, _ := e.store.session(refreshRecordKey(tj.RefreshToken))
		mustEqual(t, "refresh end", rec.ExpiresAt, fixture.T0.Add(30*time.Minute))
		e.fake.Advance(30 * time.Minute)
		code, _ := oauthErrorOf(t, e.refresh(tj.RefreshToken, ""), http.StatusBadRequest)
		mustEqual(t, "refresh after the sign-in ended", code, errInvalidGrant)
	})
	t.Run("refresh lifetime", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, func(c *Config, _ *[]*samlverify.IdP) {
			c.RefreshLifetime, c.TokenLifetime = 2*time.Hour, 15*time.Minute
		})
		_, cookie := e.signIn(t, "")
		tj := e.cliLogin(t, cookie, authorizeQuery())
		mustEqual(t, "expires_in", tj.ExpiresIn, int64(900))
		// Rotation keeps the family's end.
		e.fake.Advance(time.Hour)
		next := tokensOf(t, e.refresh(tj.RefreshToken, ""))
		rec, _ := e.store.session(refreshRecordKey(next.RefreshToken))
		mustEqual(t, "rotated refresh end", rec.ExpiresAt, fixture.T0.Add(2*time.Hour))
		e.fake.Advance(59 * time.Minute)
		last := tokensOf(t, e.refresh(next.RefreshToken, ""))
		mustEqual(t, "access capped by the refresh end", last.ExpiresIn, int64(60))
	})
}

// TestTokenCodeRefusals: every way an authorization code is refused.
func TestTokenCodeRefusals(t *testing.T) {
	t.Parallel()
	const otherVerifier = "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	tests := map[string]struct {
		// do runs the bad exchange(s) for code; the test checks its answer.
		do       func(e *env, code string) (*http.Response, error)
		status   int
		want     string // error code
		wantDesc string // part of the description
		// thenGood: the right exchange still works afterwards (nothing
		// was used up by the mistake).
		thenGood bool
	}{
		"wrong verifier":        {do: exch(otherVerifier, cliRedirect), want: errInvalidGrant, wantDesc: "code_verifier", thenGood: true},
		"verifier is challenge": {do: exch(testChallenge, cliRedirect), want: errInvalidGrant, thenGood: true},
		"other redirect_uri":    {do: exch(testVerifier, "http://127.0.0.1:53683/callback"), want: errInvalidGrant, wantDesc: "redirect_uri", thenGood: true},
		"other loopback host":   {do: exch(testVerifier, "http://localhost:53682/callback"), want: errInvalidGrant, thenGood: true},
		"short verifier":        {do: exch("abc", cliRedirect), want: errInvalidRequest, wantDesc: "43 to 128", thenGood: true},
		"expired": {do: func(e *env, code string) (*http.Response, error) {
			e.fake.Advance(codeTTL + time.Second)
			return e.exchange(code, testVerifier, cliRedirect).Result(), nil
		}, want: errInvalidGrant, wantDesc: "expired"},
		"unknown code": {do: func(e *env, _ string) (*http.Response, error) {
			return e.exchange(strings.Repeat("A", 43), testVerifier, cliRedirect).Result(), nil
		}, want: errInvalidGrant, thenGood: true},
		"missing code": {do: form(url.Values{"grant_type": {GrantAuthorizationCode}, "code_verifier": {testVerifier}, "redirect_uri": {cliRedirect}}),
			want: errInvalidRequest, wantDesc: "missing parameter code", thenGood: true},
		"missing redirect_uri": {do: form(url.Values{"grant_type": {GrantAuthorizationCode}, "code": {"c"}, "code_verifier": {testVerifier}}),
			want: errInvalidRequest, wantDesc: "redirect_uri", thenGood: true},
		"missing verifier": {do: form(url.Values{"grant_type": {GrantAuthorizationCode}, "code": {"c"}, "redirect_uri": {cliRedirect}}),
			want: errInvalidRequest, wantDesc: "code_verifier", thenGood: true},
		"repeated code": {do: func(e *env, code string) (*http.Response, error) {
			return e.postForm(TokenPath, url.Values{"grant_type": {GrantAuthorizationCode}, "code": {code, code},
				"code_verifier": {testVerifier}, "redirect_uri": {cliRedirect}}).Result(), nil
		}, want: errInvalidRequest, wantDesc: "more than once", thenGood: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			_, cookie := e.signIn(t, "")
			code := e.code(t, cookie, authorizeQuery())
			resp, _ := tc.do(e, code)
			rec := recorderOf(t, resp)
			got, desc := oauthErrorOf(t, rec, http.StatusBadRequest)
			mustEqual(t, "error", got, tc.want)
			if !strings.Contains(desc, tc.wantDesc) {
				t.Errorf("error_description %q does not mention %q", desc, tc.wantDesc)
			}
			if strings.Contains(desc, code) {
				t.Error("the description echoes the code")
			}
			if tc.thenGood {
				tokensOf(t, e.exchange(code, testVerifier, cliRedirect))
			}
		})
	}
}

// exch returns a do func exchanging the code with verifier and redirect.
func exch(verifier, redirectURI string) func(*env, string) (*http.Response, error) {
	return func(e *env, code string) (*http.Response, error) {
		return e.exchange(code, verifier, redirectURI).Result(), nil
	}
}

// form returns a do func posting f to the token endpoint as is.
func form(f url.Values) func(*env, string) (*http.Response, error) {
	return func(e *env, _ string) (*http.Response, error) { return e.postForm(TokenPath, f).Result(), nil }
}

// TestTokenCodeUsedTwice: the second use of a code is refused, and revokes
// the tokens the first use issued (RFC 6749 §4.1.2), but not those of
// another login from the same browser.
func TestTokenCodeUsedTwice(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, cookie := e.signIn(t, "")
	other := e.cliLogin(t, cookie, authorizeQuery())
	code := e.code(t, cookie, authorizeQuery())
	first := tokensOf(t, e.exchange(code, testVerifier, cliRedirect))
	got, desc := oauthErrorOf(t, e.exchange(code, testVerifier, cliRedirect), http.StatusBadRequest)
	mustEqual(t, "second use", got, errInvalidGrant)
	if !strings.Contains(desc, "used before") {
		t.Errorf("description %q", desc)
	}
	if e.live(first.AccessToken) {
		t.Error("the access token of the first exchange survived the code's reuse")
	}
	got, _ = oauthErrorOf(t, e.refresh(first.RefreshToken, ""), http.StatusBadRequest)
	mustEqual(t, "refresh of the first exchange", got, errInvalidGrant)
	if !e.live(other.AccessToken) || !e.live(cookie.Value) {
		t.Error("another login of the same browser, or the browser session, was revoked too")
	}
	// Later attempts stay refused.
	got, _ = oauthErrorOf(t, e.exchange(code, testVerifier, cliRedirect), http.StatusBadRequest)
	mustEqual(t, "third use", got, errInvalidGrant)
}

// TestTokenRefreshRotation: each refresh token is good once; reusing a
// rotated one revokes its login's every token, access tokens included.
func TestTokenRefreshRotation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, cookie := e.signIn(t, "")
	other := e.cliLogin(t, cookie, authorizeQuery())
	first := e.cliLogin(t, cookie, authorizeQuery())
	e.fake.Advance(10 * time.Minute)
	second := tokensOf(t, e.refresh(first.RefreshToken, ""))
	if second.RefreshToken == first.RefreshToken || second.AccessToken == first.AccessToken {
		t.Fatal("refresh did not rotate")
	}
	mustEqual(t, "expires_in", second.ExpiresIn, int64(3600))
	a1, _ := e.store.session(first.AccessToken)
	a2, _ := e.store.session(second.AccessToken)
	mustEqual(t, "family kept", a2.Family, a1.Family)
	mustEqual(t, "created at kept (the sign-in's)", a2.CreatedAt, a1.CreatedAt)
	if !e.live(first.AccessToken) {
		t.Error("a refresh revoked the previous access token; it lives until it expires")
	}

	// The old refresh token again: a thief or a replay. Everything of this
	// login goes.
	got, desc := oauthErrorOf(t, e.refresh(first.RefreshToken, ""), http.StatusBadRequest)
	mustEqual(t, "reused refresh token", got, errInvalidGrant)
	if !strings.Contains(desc, "used before") {
		t.Errorf("description %q", desc)
	}
	for name, tok := range map[string]string{"first access": first.AccessToken, "second access": second.AccessToken} {
		if e.live(tok) {
			t.Errorf("the %s token survived the reuse", name)
		}
	}
	got, _ = oauthErrorOf(t, e.refresh(second.RefreshToken, ""), http.StatusBadRequest)
	mustEqual(t, "the current refresh token after reuse", got, errInvalidGrant)
	if !e.live(other.AccessToken) || !e.live(cookie.Value) {
		t.Error("another login, or the browser session, was revoked with this one")
	}
	if !strings.Contains(e.logs.String(), "refresh token reused") {
		t.Errorf("reuse not logged: %s", e.logs)
	}
}

// TestTokenRefreshRefusals covers the refresh grant's other errors.
func TestTokenRefreshRefusals(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, cookie := e.signIn(t, "")
	tj := e.cliLogin(t, cookie, authorizeQuery())
	for name, tc := range map[string]struct {
		refresh, want string
	}{
		"access token as refresh token": {tj.AccessToken, errInvalidGrant},
		"unknown refresh token":         {RefreshTokenPrefix + strings.Repeat("A", 43), errInvalidGrant},
		"garbage":                       {"x", errInvalidGrant},
		"empty":                         {"", errInvalidRequest},
	} {
		got, desc := oauthErrorOf(t, e.refresh(tc.refresh, ""), http.StatusBadRequest)
		if got != tc.want || (tc.refresh != "" && strings.Contains(desc, tc.refresh)) {
			t.Errorf("%s: %s %q, want %s without an echo", name, got, desc, tc.want)
		}
	}
	// None of that used the real one up.
	tokensOf(t, e.refresh(tj.RefreshToken, ""))
}

// TestTokenScope: narrowing by refresh and at authorize, refusals, and the
// answer's scope.
func TestTokenScope(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, cookie := e.signIn(t, "")
	full := e.cliLogin(t, cookie, authorizeQuery())

	// From an unscoped login, any valid scope.
	narrow := tokensOf(t, e.refresh(full.RefreshToken, "model:resnet* model:bert:predict model:resnet*"))
	mustEqual(t, "scope", narrow.Scope, "model:resnet* model:bert:predict")
	s, _ := e.store.session(narrow.AccessToken)
	mustEqual(t, "stored scope", strings.Join(s.Scope, " "), "model:resnet* model:bert:predict")
	// The rotated refresh token keeps the login's (unscoped) scope.
	again := tokensOf(t, e.refresh(narrow.RefreshToken, ""))
	if again.Scope != "" {
		t.Errorf("scope after an unscoped refresh = %q, want none", again.Scope)
	}

	// A login scoped at authorize.
	scoped := e.cliLogin(t, cookie, authorizeQuery(func(q url.Values) { q.Set("scope", "model:resnet* model:bert:predict") }))
	mustEqual(t, "scoped login", scoped.Scope, "model:resnet* model:bert:predict")
	rt := scoped.RefreshToken
	for _, tc := range []struct {
		scope, want string // want "" = allowed
	}{
		{"model:resnet50", ""},
		{"model:resnet50:classify", ""},
		{"model:resnet*:predict", ""},
		{"model:bert:predict", ""},
		{"model:bert", errInvalidScope},               // every API of bert: wider
		{"model:bert:classify", errInvalidScope},      // another API
		{"model:gpt", errInvalidScope},                // another model
		{"model:*", errInvalidScope},                  // every model
		{"model:res*", errInvalidScope},               // a wider glob
		{"model:resnet?0", errInvalidScope},           // a glob within: undecided, refused
		{"model:resnet50 model:gpt", errInvalidScope}, // one entry outside
		{"model:resnet50:fly", errInvalidScope},       // not an API
		{"resnet50", errInvalidScope},                 // not model:
		{"model:", errInvalidScope},
		{"model:a:b:c", errInvalidScope},
		{"model:res[0-9]", errInvalidScope}, // glob syntax beyond * and ?
		{"model:a  model:b", errInvalidScope},
		{"model:a\tmodel:b", errInvalidScope},
		{strings.Repeat("model:a ", 33) + "model:a", errInvalidScope},
	} {
		rec := e.refresh(rt, tc.scope)
		if tc.want == "" {
			tj := tokensOf(t, rec)
			mustEqual(t, "scope of "+tc.scope, tj.Scope, tc.scope)
			rt = tj.RefreshToken
			continue
		}
		got, desc := oauthErrorOf(t, rec, http.StatusBadRequest)
		if got != tc.want || (desc != descScopeSyntax && desc != descScopeWider) {
			t.Errorf("scope %q: %s %q, want %s with a fixed description", tc.scope, got, desc, tc.want)
		}
	}
	// The refusals did not use the refresh token up.
	last := tokensOf(t, e.refresh(rt, ""))
	mustEqual(t, "scope kept", last.Scope, "model:resnet* model:bert:predict")
}

// TestTokenSAMLBearer exchanges fixture-signed bare assertions (RFC 7522),
// and checks every refusal says what to fix without echoing the request.
func TestTokenSAMLBearer(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tj := tokensOf(t, e.samlBearer(bareAssertion(t, nil), "model:resnet"))
	mustEqual(t, "scope", tj.Scope, "model:resnet")
	mustEqual(t, "expires_in", tj.ExpiresIn, int64(3600))
	s, _ := e.store.session(tj.AccessToken)
	mustEqual(t, "subject", s.Subject, "alice@example.test")
	mustEqual(t, "created at", s.CreatedAt, fixture.T0)
	rec, _ := e.store.session(refreshRecordKey(tj.RefreshToken))
	mustEqual(t, "family headed by the refresh token", s.Family, authz.SessionHandle(refreshRecordKey(tj.RefreshToken)))
	mustEqual(t, "refresh end: SessionNotOnOrAfter", rec.ExpiresAt, fixture.T0.Add(8*time.Hour))
	// The audience may also be the SP's entity ID.
	tokensOf(t, e.samlBearer(bareAssertion(t, func(p *fixture.Params) { p.Audiences = []string{fixture.SPEntityID} }), ""))
	// A sooner SessionNotOnOrAfter bounds the tokens.
	short := tokensOf(t, e.samlBearer(bareAssertion(t, func(p *fixture.Params) { p.SessionNotOnOrAfter = fixture.T0.Add(20 * time.Minute) }), ""))
	mustEqual(t, "expires_in, short session", short.ExpiresIn, int64(1200))

	used := bareAssertion(t, nil)
	tokensOf(t, e.samlBearer(used, ""))
	unsigned := bareParams()
	respSigned := bareParams()
	respOnly := fixture.Sign(t, respSigned.Response(), fixture.IdPKey(t), fixture.SignOptions{})
	tests := map[string]struct {
		assertion, scope string
		want, desc       string
	}{
		"replayed":           {used, "", errInvalidGrant, "used before"},
		"unsigned":           {fixture.EncodeURL(t, unsigned.Assertion()), "", errInvalidGrant, "must be signed"},
		"response signature": {fixture.EncodeURL(t, respOnly.SelectElement("Assertion")), "", errInvalidGrant, "does not carry over"},
		"a whole response":   {fixture.EncodeURL(t, respOnly), "", errInvalidGrant, "not a Response"},
		"wrong audience": {bareAssertion(t, func(p *fixture.Params) { p.Audiences = []string{"https://other.example/token"} }), "",
			errInvalidGrant, "Audience must name this server: " + fixture.SPEntityID + " or " + fixture.TokenURL},
		"wrong recipient": {bareAssertion(t, func(p *fixture.Params) { p.Recipient = fixture.ACSURL }), "",
			errInvalidGrant, "Recipient of the assertion's bearer SubjectConfirmationData must be this server's token endpoint: " + fixture.TokenURL},
		"expired": {bareAssertion(t, func(p *fixture.Params) {
			p.NotOnOrAfter, p.SCDNotOnOrAfter = fixture.T0.Add(-5*time.Minute), fixture.T0.Add(-5*time.Minute)
		}), "", errInvalidGrant, "expired"},
		"not yet valid": {bareAssertion(t, func(p *fixture.Params) { p.NotBefore = fixture.T0.Add(10 * time.Minute) }), "", errInvalidGrant, "not valid yet"},
		"untrusted key": {fixture.EncodeURL(t, fixture.Sign(t, bareParams().Assertion(), fixture.OtherKey(t), fixture.SignOptions{})), "",
			errInvalidGrant, "trusted IdP"},
		"tampered":      {tamper(t), "", errInvalidGrant, "signature"},
		"not base64url": {"<saml:Assertion/>", "", errInvalidGrant, "base64url"},
		"bad scope":     {bareAssertion(t, nil), "model:", errInvalidScope, "model:NAME"},
		"missing":       {"", "", errInvalidRequest, "missing parameter assertion"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, desc := oauthErrorOf(t, e.samlBearer(tc.assertion, tc.scope), http.StatusBadRequest)
			mustEqual(t, "error", got, tc.want)
			if !strings.Contains(desc, tc.desc) {
				t.Errorf("error_description %q, want it to mention %q", desc, tc.desc)
			}
			if len(tc.assertion) > 20 && strings.Contains(desc, tc.assertion[:20]) {
				t.Error("the description echoes the assertion")
			}
		})
	}
}

// tamper returns a signed bare assertion whose NameID was changed after
// signing.
func tamper(t *testing.T) string {
	p := bareParams()
	signed := fixture.Sign(t, p.Assertion(), fixture.IdPKey(t), fixture.SignOptions{})
	fixture.Find(signed, "NameID").SetText("mallory@example.test")
	return fixture.EncodeURL(t, signed)
}

// TestTokenRequestErrors: malformed requests get RFC 6749 errors with the
// right code, and never an echo of what was sent.
func TestTokenRequestErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const secret = "tfr_SECRETSECRETSECRET"
	tests := map[string]struct {
		method, target, ctype, body string
		status                      int
		want                        string
	}{
		"GET":                  {"GET", TokenPath, "", "", http.StatusMethodNotAllowed, errInvalidRequest},
		"parameters in URL":    {"POST", TokenPath + "?grant_type=refresh_token&refresh_token=" + secret, "application/x-www-form-urlencoded", "", 400, errInvalidRequest},
		"JSON body":            {"POST", TokenPath, "application/json", `{"grant_type":"refresh_token"}`, 400, errInvalidRequest},
		"no content type":      {"POST", TokenPath, "", "grant_type=refresh_token", 400, errInvalidRequest},
		"missing grant_type":   {"POST", TokenPath, "application/x-www-form-urlencoded", "refresh_token=" + secret, 400, errInvalidRequest},
		"empty grant_type":     {"POST", TokenPath, "application/x-www-form-urlencoded", "grant_type=", 400, errInvalidRequest},
		"repeated grant_type":  {"POST", TokenPath, "application/x-www-form-urlencoded", "grant_type=refresh_token&grant_type=refresh_token", 400, errInvalidRequest},
		"unknown grant_type":   {"POST", TokenPath, "application/x-www-form-urlencoded", "grant_type=password&password=" + secret, 400, errUnsupportedGrantType},
		"client credentials":   {"POST", TokenPath, "application/x-www-form-urlencoded", "grant_type=client_credentials", 400, errUnsupportedGrantType},
		"bad form":             {"POST", TokenPath, "application/x-www-form-urlencoded", "grant_type=%zz", 400, errInvalidRequest},
		"too large":            {"POST", TokenPath, "application/x-www-form-urlencoded", "grant_type=" + GrantSAML2Bearer + "&assertion=" + strings.Repeat("A", DefaultMaxFormBytes), 400, errInvalidRequest},
		"repeated refresh":     {"POST", TokenPath, "application/x-www-form-urlencoded", "grant_type=refresh_token&refresh_token=a&refresh_token=b", 400, errInvalidRequest},
		"repeated scope":       {"POST", TokenPath, "application/x-www-form-urlencoded", "grant_type=refresh_token&refresh_token=" + secret + "&scope=model:a&scope=model:b", 400, errInvalidRequest},
		"revoke without token": {"POST", RevokePath, "application/x-www-form-urlencoded", "token_type_hint=refresh_token", 400, errInvalidRequest},
		"revoke repeated":      {"POST", RevokePath, "application/x-www-form-urlencoded", "token=a&token=b", 400, errInvalidRequest},
		"GET revoke":           {"GET", RevokePath, "", "", http.StatusMethodNotAllowed, errInvalidRequest},
		"other path":           {"POST", "/token/x", "application/x-www-form-urlencoded", "", http.StatusNotFound, errInvalidRequest},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			req := httptestRequest(tc.method, tc.target, tc.ctype, tc.body)
			rec := recorder()
			e.h.TokenHandler().ServeHTTP(rec, req)
			got, desc := oauthErrorOf(t, rec, tc.status)
			mustEqual(t, "error", got, tc.want)
			if strings.Contains(desc, "SECRET") || strings.Contains(rec.Body.String(), "SECRET") {
				t.Errorf("the answer echoes the request: %s", rec.Body)
			}
		})
	}
	if strings.Contains(e.logs.String(), "SECRET") {
		t.Error("the log holds a token from a request")
	}
}

// TestTokenRevoke is RFC 7009: an access token alone, a refresh token with
// its login, 200 for anything unknown.
func TestTokenRevoke(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, cookie := e.signIn(t, "")
	a := e.cliLogin(t, cookie, authorizeQuery())
	b := e.cliLogin(t, cookie, authorizeQuery())
	revoke := func(token, hint string) {
		t.Helper()
		form := url.Values{"token": {token}}
		if hint != "" {
			form.Set("token_type_hint", hint)
		}
		rec := e.postForm(RevokePath, form)
		if rec.Code != http.StatusOK || rec.Header().Get("Cache-Control") != "no-store" {
			t.Fatalf("revoke: %d %s", rec.Code, rec.Body)
		}
	}
	revoke(a.AccessToken, "access_token")
	if e.live(a.AccessToken) {
		t.Error("the revoked access token lives")
	}
	next := tokensOf(t, e.refresh(a.RefreshToken, "")) // its refresh token still works
	revoke(next.RefreshToken, "")
	for name, tok := range map[string]string{"older access": a.AccessToken, "newer access": next.AccessToken} {
		if e.live(tok) {
			t.Errorf("the %s token survived revoking its refresh token", name)
		}
	}
	got, _ := oauthErrorOf(t, e.refresh(next.RefreshToken, ""), http.StatusBadRequest)
	mustEqual(t, "refresh after revocation", got, errInvalidGrant)
	if !e.live(b.AccessToken) || !e.live(cookie.Value) {
		t.Error("revoking one login revoked another, or the browser session")
	}
	before := e.store.count()
	for _, tok := range []string{"unknown", "tfg_unknown", RefreshTokenPrefix + "unknown", next.RefreshToken, a.AccessToken} {
		revoke(tok, "refresh_token")
	}
	if e.store.count() != before {
		t.Error("revoking unknown tokens changed the store")
	}
	e.store.failing("Lookup", errStore)
	rec := e.postForm(RevokePath, url.Values{"token": {b.AccessToken}})
	code, _ := oauthErrorOf(t, rec, http.StatusServiceUnavailable)
	mustEqual(t, "store down", code, errUnavailableCode)
}

// TestTokenSignOutRevokes: signing out of the browser session revokes every
// token minted from it, through refresh chains too, and a code not yet
// exchanged.
func TestTokenSignOutRevokes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, cookie := e.signIn(t, "")
	a := e.cliLogin(t, cookie, authorizeQuery())
	b := tokensOf(t, e.refresh(e.cliLogin(t, cookie, authorizeQuery()).RefreshToken, "model:m"))
	pending := e.code(t, cookie, authorizeQuery())
	_, other := e.signIn(t, "")
	c := e.cliLogin(t, other, authorizeQuery())

	e.signOut(t, cookie)
	for name, tok := range map[string]string{"a": a.AccessToken, "b (refreshed)": b.AccessToken} {
		if e.live(tok) {
			t.Errorf("token %s survived the sign-out", name)
		}
	}
	for _, rt := range []string{a.RefreshToken, b.RefreshToken} {
		got, _ := oauthErrorOf(t, e.refresh(rt, ""), http.StatusBadRequest)
		mustEqual(t, "refresh after sign-out", got, errInvalidGrant)
	}
	got, _ := oauthErrorOf(t, e.exchange(pending, testVerifier, cliRedirect), http.StatusBadRequest)
	mustEqual(t, "code after sign-out", got, errInvalidGrant)
	if !e.live(c.AccessToken) {
		t.Error("another browser session's token was revoked")
	}
}

// TestTokenStoreFailures: a store that does not answer is 503
// temporarily_unavailable, never a token, on every path that uses it, and
// a retry once it is back succeeds: a failed attempt used nothing up.
func TestTokenStoreFailures(t *testing.T) {
	t.Parallel()
	const (
		exchange = iota
		refresh
		bearer
		reuse
	)
	tests := map[string][]int{
		"Create":       {exchange, refresh, bearer},
		"Lookup":       {exchange, refresh, reuse},
		"Consume":      {exchange},
		"Remember":     {}, // only the used-code marker: logged, not fatal
		"SeenBefore":   {refresh, bearer, reuse},
		"RevokeFamily": {reuse},
	}
	for method, failing := range tests {
		t.Run(method, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			_, cookie := e.signIn(t, "")
			first := e.cliLogin(t, cookie, authorizeQuery())
			used := e.cliLogin(t, cookie, authorizeQuery())
			tokensOf(t, e.refresh(used.RefreshToken, ""))
			code := e.code(t, cookie, authorizeQuery())
			e.store.failing(method, errStore)
			requests := map[int]func() *http.Response{
				exchange: func() *http.Response { return e.exchange(code, testVerifier, cliRedirect).Result() },
				refresh:  func() *http.Response { return e.refresh(first.RefreshToken, "").Result() },
				bearer:   func() *http.Response { return e.samlBearer(bareAssertion(t, nil), "").Result() },
				reuse:    func() *http.Response { return e.refresh(used.RefreshToken, "").Result() },
			}
			for _, i := range failing {
				got, _ := oauthErrorOf(t, recorderOf(t, requests[i]()), http.StatusServiceUnavailable)
				mustEqual(t, "error", got, errUnavailableCode)
			}
			if len(failing) > 0 && !strings.Contains(e.logs.String(), "level=ERROR") {
				t.Error("a store failure was not logged as an error")
			}
			// Nothing was used up: once the store is back, the same code
			// and refresh token work.
			e.store.failing(method, nil)
			tokensOf(t, recorderOf(t, requests[exchange]()))
			tokensOf(t, recorderOf(t, requests[refresh]()))
		})
	}
}

// TestUnconfiguredToken: without an IdP, /token says so in RFC 6749 terms.
func TestUnconfiguredToken(t *testing.T) {
	t.Parallel()
	h := UnconfiguredToken("no identity provider is configured (saml.idps), so this server issues no tokens")
	rec := recorder()
	h.ServeHTTP(rec, httptestRequest("POST", TokenPath, "application/x-www-form-urlencoded", "grant_type=refresh_token&refresh_token=x"))
	code, desc := oauthErrorOf(t, rec, http.StatusBadRequest)
	mustEqual(t, "error", code, errUnsupportedGrantType)
	if !strings.Contains(desc, "saml.idps") {
		t.Errorf("description %q", desc)
	}
	rec = recorder()
	h.ServeHTTP(rec, httptestRequest("POST", RevokePath, "application/x-www-form-urlencoded", "token=x"))
	mustEqual(t, "revoke", rec.Code, http.StatusOK)
	// An SP without Config.Tokens has the same answer.
	e := newEnv(t, func(c *Config, _ *[]*samlverify.IdP) { c.Tokens = nil })
	rec = e.postForm(TokenPath, url.Values{"grant_type": {GrantRefreshToken}})
	code, _ = oauthErrorOf(t, rec, http.StatusBadRequest)
	mustEqual(t, "no Tokens", code, errUnsupportedGrantType)
}

// storeErrorIsNoSession makes sure the fake refuses like the real stores.
func TestFakeStoreRefusesRevokedFamilies(t *testing.T) {
	t.Parallel()
	f := newFakeStore(time.Now)
	if _, err := f.RevokeFamily(context.Background(), "r"); err != nil {
		t.Fatal(err)
	}
	err := f.Create(context.Background(), "t", authz.Session{Family: "r/g", ExpiresAt: time.Now().Add(time.Hour)})
	if !errors.Is(err, authz.ErrNoSession) {
		t.Errorf("Create in a revoked family: %v", err)
	}
}
