package cliclient

import (
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"golang.org/x/oauth2"
	"time"

	"github.com/tfgate/tfgate/internal/devidp"
)

// fakeAuthServer is the server side of the CLI protocol, small enough to
// read: authorize shows a confirmation page whose Allow issues the code
// (the user is taken as signed in), codes
// are one-time and PKCE-bound, refresh tokens rotate. Unit tests use it;
// the flow test runs the real server.
type fakeAuthServer struct {
	t   *testing.T
	srv *httptest.Server

	mu          sync.Mutex
	n           int
	expiresIn   int64
	authError   string            // if set, authorize redirects with error=authError
	badState    bool              // if set, authorize returns a wrong state
	unavailable bool              // if set, the token endpoint answers 503
	codes       map[string]string // code -> code_challenge
	refresh     map[string]bool   // live refresh tokens
	access      map[string]string // live access tokens -> scope
	revoked     []string
	requests    []url.Values // token endpoint forms
	whoamis     int          // GET /saml/whoami requests
}

func newFakeAuthServer(t *testing.T) *fakeAuthServer {
	f := &fakeAuthServer{t: t, expiresIn: 3600, codes: map[string]string{}, refresh: map[string]bool{}, access: map[string]string{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+authorizePath, f.consentPage)
	mux.HandleFunc("POST "+authorizePath, f.authorize)
	mux.HandleFunc("POST "+tokenPath, f.token)
	mux.HandleFunc("POST "+revokePath, f.revoke)
	mux.HandleFunc("GET "+whoamiPath, f.whoami)
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeAuthServer) URL() string { return f.srv.URL }

func (f *fakeAuthServer) next(prefix string) string {
	f.n++
	return fmt.Sprintf("%s%d", prefix, f.n)
}

// authorizePage is the fake's confirmation page, as the real one's form:
// the authorize parameters as hidden fields, Allow and Cancel.
var authorizePage = template.Must(template.New("consent").Parse(`<!doctype html><title>Allow?</title>
<form method="post" action="` + authorizePath + `">{{range $k, $v := .}}<input type="hidden" name="{{$k}}" value="{{index $v 0}}">{{end}}` +
	`<button type="submit" name="decision" value="allow">Allow</button><button type="submit" name="decision" value="cancel">Cancel</button></form>`))

// consentPage answers GET authorize with the confirmation page: like the
// real server, a GET never issues a code.
func (f *fakeAuthServer) consentPage(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = authorizePage.Execute(w, r.URL.Query())
}

func (f *fakeAuthServer) authorize(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	_ = r.ParseForm()
	q := r.PostForm
	ru, err := url.Parse(q.Get("redirect_uri"))
	if err != nil || ru.Hostname() != "127.0.0.1" || q.Get("code_challenge_method") != "S256" || q.Get("decision") != "allow" {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	v := url.Values{"state": {q.Get("state")}}
	if f.badState {
		v.Set("state", "not-"+q.Get("state"))
	}
	if f.authError != "" {
		v.Set("error", f.authError)
		v.Set("error_description", "the user said no")
	} else {
		code := f.next("code")
		f.codes[code] = q.Get("code_challenge")
		v.Set("code", code)
	}
	ru.RawQuery = v.Encode()
	http.Redirect(w, r, ru.String(), http.StatusFound)
}

func (f *fakeAuthServer) token(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	_ = r.ParseForm()
	f.requests = append(f.requests, r.PostForm)
	if f.unavailable {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": "temporarily_unavailable", "error_description": "try again"})
		return
	}
	scope := "model:* "
	switch r.PostForm.Get("grant_type") {
	case "authorization_code":
		challenge, ok := f.codes[r.PostForm.Get("code")]
		delete(f.codes, r.PostForm.Get("code"))
		if !ok || oauth2.S256ChallengeFromVerifier(r.PostForm.Get("code_verifier")) != challenge {
			oauthFail(w, "invalid_grant", "bad code or verifier")
			return
		}
	case "refresh_token":
		if !f.refresh[r.PostForm.Get("refresh_token")] {
			oauthFail(w, "invalid_grant", "refresh token expired or revoked")
			return
		}
		delete(f.refresh, r.PostForm.Get("refresh_token"))
		if s := r.PostForm.Get("scope"); s != "" {
			scope = s
		}
	default:
		oauthFail(w, "unsupported_grant_type", "")
		return
	}
	at, rt := f.next("tfg_access"), f.next("refresh")
	f.access[at], f.refresh[rt] = strings.TrimSpace(scope), true
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"access_token": at, "token_type": "Bearer", "expires_in": f.expiresIn, "refresh_token": rt, "scope": strings.TrimSpace(scope),
	})
}

func oauthFail(w http.ResponseWriter, code, desc string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusBadRequest)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": desc})
}

func (f *fakeAuthServer) revoke(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	_ = r.ParseForm()
	tok := r.PostForm.Get("token")
	f.revoked = append(f.revoked, tok)
	delete(f.refresh, tok)
	delete(f.access, tok)
}

func (f *fakeAuthServer) whoami(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.whoamis++
	if _, ok := f.access[strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")]; !ok {
		http.Error(w, "{}", http.StatusUnauthorized)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(`{"subject":"alice","groups":["ml-engineers"]}`))
}

// snapshot returns copies of what the server saw.
func (f *fakeAuthServer) snapshot() (requests []url.Values, revoked []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]url.Values(nil), f.requests...), append([]string(nil), f.revoked...)
}

// testClock is a settable clock for Env.now.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// testEnv is a Env on a temporary config directory with clk's time;
// its "browser" follows the sign-in URL with follow, if set.
func testEnv(t *testing.T, clk *testClock, follow func(string) error) Env {
	dir := t.TempDir() + "/cfg"
	env := DefaultEnv()
	env.Now = clk.Now
	env.ConfigDir = func() (string, error) { return dir, nil }
	env.TokenStore = TokenStoreFile // the keyring has its own tests (keyring_test.go)
	env.OpenURL = func(u string) error {
		if follow == nil {
			return fmt.Errorf("no browser here")
		}
		go func() {
			if err := follow(u); err != nil {
				t.Errorf("browser: %v", err)
			}
		}()
		return nil
	}
	return env
}

// followAll is a browser that follows redirects and clicks Allow on the
// confirmation page.
func followAll(u string) error {
	resp, err := http.Get(u)
	if err != nil {
		return err
	}
	page, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return err
	}
	action, form, ok := consentForm(string(page))
	if !ok {
		return nil // not the confirmation page: the CLI's own, say
	}
	target, err := resp.Request.URL.Parse(action)
	if err != nil {
		return err
	}
	form.Set("decision", "allow")
	resp, err = http.PostForm(target.String(), form)
	if err != nil {
		return err
	}
	return resp.Body.Close()
}

// consentForm returns the action and hidden fields of page's form with
// an Allow button, and whether there is one.
func consentForm(page string) (string, url.Values, bool) {
	action, form, ok := devidp.Form(page)
	if !ok || !strings.Contains(page, `name="decision" value="allow"`) {
		return "", nil, false
	}
	return action, form, true
}
