package e2e

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tfgate/tfgate/internal/devidp"
	"github.com/tfgate/tfgate/internal/pysaml2idp"
	"github.com/tfgate/tfgate/samlverify/sp"
)

// tokenStack is the SAML stack, which also serves the token endpoints and
// puts a local session cache (TTL one hour, so only Redis pub/sub
// invalidations can make a revocation show) in front of Redis.
type tokenStack = samlStack

func startTokenStack(t *testing.T) *tokenStack { return startSAMLStack(t) }

// tokens is a token endpoint answer.
type tokens struct {
	Access  string `json:"access_token"`
	Refresh string `json:"refresh_token"`
	Scope   string `json:"scope"`
	Error   string `json:"error"`
}

// post posts form to a tfgate endpoint through Envoy.
func (s *tokenStack) post(t *testing.T, path string, form url.Values) (int, tokens) {
	t.Helper()
	resp, err := http.PostForm(s.base+path, form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var tj tokens
	if path == sp.TokenPath {
		if err := json.Unmarshal(b, &tj); err != nil {
			t.Fatalf("POST %s: %d %s", path, resp.StatusCode, b)
		}
	}
	return resp.StatusCode, tj
}

// grant posts a token request that must succeed.
func (s *tokenStack) grant(t *testing.T, form url.Values) tokens {
	t.Helper()
	status, tj := s.post(t, sp.TokenPath, form)
	if status != 200 || !strings.HasPrefix(tj.Access, "tfg_") {
		t.Fatalf("token endpoint: %d %+v\nlog: %s", status, tj, s.logs)
	}
	return tj
}

// call makes a TF Serving REST call through Envoy with a bearer token and
// returns the status and body.
func (s *tokenStack) call(t *testing.T, method, path, token string) (int, string) {
	t.Helper()
	var body io.Reader
	if method == "POST" {
		body = strings.NewReader(`{"instances": [1.0, 2.0, 5.0]}`)
	}
	req, _ := http.NewRequest(method, s.base+path, body)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// refusedWithin waits up to a second for token to be refused (401).
func (s *tokenStack) refusedWithin(t *testing.T, what, token string) {
	t.Helper()
	start := time.Now()
	for {
		status, _ := s.call(t, "GET", "/v1/models/half_plus_two/versions/1", token)
		if status == http.StatusUnauthorized {
			t.Logf("%s refused after %v", what, time.Since(start).Round(time.Millisecond))
			return
		}
		if time.Since(start) > time.Second {
			t.Fatalf("%s still answered %d %v after its revocation", what, status, time.Since(start))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

const predictURL = "/v1/models/half_plus_two/versions/1:predict"

// bearerForm is an RFC 7522 request for an assertion's XML.
func bearerForm(xmlText, scope string) url.Values {
	f := url.Values{"grant_type": {sp.GrantSAML2Bearer}, "assertion": {base64.RawURLEncoding.EncodeToString([]byte(xmlText))}}
	if scope != "" {
		f.Set("scope", scope)
	}
	return f
}

// TestTokens runs programs' tokens end to end: RFC 7522 exchanges of
// assertions from both IdPs, scoped tokens refused by the real policy for
// a model outside their scope, refresh rotation and reuse detection, the
// command-line sign-in through a browser, sign-out and revocation, each
// revocation reaching the Check path's cache within a second.
func TestTokens(t *testing.T) {
	s := startTokenStack(t)
	tokenURL := s.base + sp.TokenPath
	alice := devidp.DefaultUsers()[0] // ml-engineers
	devAssertion := func(t *testing.T) string {
		x, _, err := s.dev.NewAssertion(devidp.ResponseOptions{User: alice, ACSURL: tokenURL})
		if err != nil {
			t.Fatal(err)
		}
		return x
	}
	// primed makes a call that caches the token's session, so that only
	// an invalidation can make its revocation show.
	primed := func(t *testing.T, tok string) {
		t.Helper()
		if status, body := s.call(t, "POST", predictURL, tok); status != 200 {
			t.Fatalf("predict: %d %s", status, body)
		}
		if s.cache.Len() == 0 {
			t.Fatal("the Check path's cache holds nothing; it would prove nothing about invalidations")
		}
	}
	// Wait for the cache's subscription: until then it caches nothing.
	warm := s.grant(t, bearerForm(devAssertion(t), ""))
	for deadline := time.Now().Add(5 * time.Second); s.cache.Len() == 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the cache never subscribed")
		}
		s.call(t, "GET", "/v1/models/half_plus_two/versions/1", warm.Access)
	}

	t.Run("assertions from both IdPs", func(t *testing.T) {
		dev := s.grant(t, bearerForm(devAssertion(t), ""))
		primed(t, dev.Access)
		recs := s.tfs.Requests()
		s.tfs.Reset()
		if len(recs) == 0 || recs[len(recs)-1].Header.Get("X-Tfgate-User") != "alice" || strings.Contains(recs[len(recs)-1].Header.Get("Authorization"), "tfg_") {
			t.Errorf("TF Serving saw %+v", recs)
		}
		pyXML, err := s.py.Assertion(pysaml2idp.User{ID: "alice", Email: "alice@example.com", Groups: []string{"ml-engineers"}},
			pysaml2idp.AssertionOptions{Audience: tokenURL})
		if err != nil {
			t.Fatal(err)
		}
		py := s.grant(t, bearerForm(pyXML, ""))
		primed(t, py.Access)
		if status, tj := s.post(t, sp.TokenPath, bearerForm(pyXML, "")); status != 400 || tj.Error != "invalid_grant" {
			t.Errorf("replayed pysaml2 assertion: %d %+v", status, tj)
		}
	})

	t.Run("scope refused by the policy", func(t *testing.T) {
		other := s.grant(t, bearerForm(devAssertion(t), "model:half_plus_three"))
		status, body := s.call(t, "POST", predictURL, other.Access)
		if status != http.StatusForbidden || !strings.Contains(body, "token scope does not include predict on model half_plus_two") {
			t.Errorf("a model:half_plus_three token on half_plus_two: %d %s", status, body)
		}
		// Its refresh token cannot widen it.
		for _, scope := range []string{"model:half_plus_two:model_status", "model:*"} {
			status, tj := s.post(t, sp.TokenPath, url.Values{"grant_type": {sp.GrantRefreshToken}, "refresh_token": {other.Refresh}, "scope": {scope}})
			if status != 400 || tj.Error != "invalid_scope" {
				t.Errorf("a model:half_plus_three token refreshed into %s: %d %+v", scope, status, tj)
			}
		}
	})

	t.Run("scope narrowed by refresh", func(t *testing.T) {
		full := s.grant(t, bearerForm(devAssertion(t), ""))
		st := s.grant(t, url.Values{"grant_type": {sp.GrantRefreshToken}, "refresh_token": {full.Refresh}, "scope": {"model:half_plus_two:model_status"}})
		if status, _ := s.call(t, "GET", "/v1/models/half_plus_two/versions/1", st.Access); status != 200 {
			t.Errorf("model_status within scope: %d", status)
		}
		if status, body := s.call(t, "POST", predictURL, st.Access); status != 403 || !strings.Contains(body, "token scope") {
			t.Errorf("predict outside a model_status scope: %d %s", status, body)
		}
		// The rotated refresh token keeps the grant's (unscoped) scope.
		again := s.grant(t, url.Values{"grant_type": {sp.GrantRefreshToken}, "refresh_token": {st.Refresh}})
		if status, _ := s.call(t, "POST", predictURL, again.Access); again.Scope != "" || status != 200 {
			t.Errorf("refresh without scope after a narrowed one: scope %q, predict %d", again.Scope, status)
		}
	})

	t.Run("refresh reuse revokes", func(t *testing.T) {
		first := s.grant(t, bearerForm(devAssertion(t), ""))
		second := s.grant(t, url.Values{"grant_type": {sp.GrantRefreshToken}, "refresh_token": {first.Refresh}})
		primed(t, first.Access)
		primed(t, second.Access)
		if status, tj := s.post(t, sp.TokenPath, url.Values{"grant_type": {sp.GrantRefreshToken}, "refresh_token": {first.Refresh}}); status != 400 || tj.Error != "invalid_grant" {
			t.Fatalf("reused refresh token: %d %+v", status, tj)
		}
		s.refusedWithin(t, "the access token minted before the reuse", first.Access)
		s.refusedWithin(t, "the access token minted from the rotated refresh token", second.Access)
	})

	t.Run("revocation endpoint", func(t *testing.T) {
		tj := s.grant(t, bearerForm(devAssertion(t), ""))
		primed(t, tj.Access)
		if status, _ := s.post(t, sp.RevokePath, url.Values{"token": {tj.Refresh}}); status != 200 {
			t.Fatalf("revoke: %d", status)
		}
		s.refusedWithin(t, "an access token whose refresh token was revoked", tj.Access)
	})

	t.Run("command-line sign-in and sign-out", func(t *testing.T) {
		b := newSAMLBrowser(t)
		tj := s.cliSignIn(t, b)
		primed(t, tj.Access)

		// Signing out of the browser session revokes the program's token.
		_, page := b.navigate(s.base + sp.LogoutPath)
		_, fields := form(t, page)
		req, _ := http.NewRequest("POST", s.base+sp.LogoutPath, strings.NewReader(fields.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", s.base)
		resp, _ := b.do(req)
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("logout: %d", resp.StatusCode)
		}
		s.refusedWithin(t, "a token minted from a signed-out browser session", tj.Access)
		if status, got := s.post(t, sp.TokenPath, url.Values{"grant_type": {sp.GrantRefreshToken}, "refresh_token": {tj.Refresh}}); status != 400 || got.Error != "invalid_grant" {
			t.Errorf("refresh after sign-out: %d %+v", status, got)
		}
	})
	for _, secret := range []string{"tfg_", "tfr_"} {
		if strings.Contains(s.logs.String(), secret) {
			t.Errorf("the log holds a token:\n%s", s.logs)
		}
	}
}

// cliSignIn runs the command-line sign-in through browser b: the
// authorize endpoint sends it to sign in at the development IdP as alice,
// the consent page is confirmed, and the code is exchanged for tokens.
func (s *tokenStack) cliSignIn(t *testing.T, b *samlBrowser) tokens {
	t.Helper()
	const verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
	const challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
	const redirect = "http://127.0.0.1:53682/callback"
	authorize := s.base + sp.CLIAuthorizePath + "?" + url.Values{
		"redirect_uri": {redirect}, "state": {"xyz"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"},
	}.Encode()
	login := hop(t, mustNavigate(t, b, authorize), http.StatusFound)
	if !strings.HasPrefix(login, s.base+sp.LoginPath+"?return_to=") {
		t.Fatalf("authorize without a session went to %q", login)
	}
	resp, page := b.navigate(hop(t, mustNavigate(t, b, login), http.StatusFound))
	action, fields, err := devidp.SubmitSignIn(t.Context(), b.c, resp, page, "alice")
	if err != nil {
		t.Fatal(err)
	}
	resp, _ = b.submit(action, fields)
	back := hop(t, resp, http.StatusSeeOther)
	if !strings.HasPrefix(back, s.base+sp.CLIAuthorizePath+"?") {
		t.Fatalf("after sign-in the browser went to %q", back)
	}
	// Signed in, the authorize endpoint asks for confirmation; a GET
	// never issues a code.
	resp, page = b.navigate(back)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Location") != "" {
		t.Fatalf("authorize after sign-in: %d %q, want the confirmation page", resp.StatusCode, resp.Header.Get("Location"))
	}
	action, fields = form(t, page)
	fields.Set("decision", "allow")
	u, _ := resp.Request.URL.Parse(action)
	req, _ := http.NewRequest("POST", u.String(), strings.NewReader(fields.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", s.base)
	resp, _ = b.do(req)
	cb, err := url.Parse(hop(t, resp, http.StatusFound))
	if err != nil || cb.Host != "127.0.0.1:53682" || cb.Query().Get("state") != "xyz" || cb.Query().Get("code") == "" {
		t.Fatalf("authorize redirected to %v", cb)
	}
	tj := s.grant(t, url.Values{"grant_type": {sp.GrantAuthorizationCode}, "code": {cb.Query().Get("code")},
		"code_verifier": {verifier}, "redirect_uri": {redirect}})
	return tj
}
