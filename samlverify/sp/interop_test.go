package sp

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tfgate/tfgate/authz"
	"github.com/tfgate/tfgate/authz/session"
	"github.com/tfgate/tfgate/internal/devidp"
	"github.com/tfgate/tfgate/internal/pysaml2idp"
	"github.com/tfgate/tfgate/internal/redistest"
	"github.com/tfgate/tfgate/samlverify"
)

// liveSP is an SP on a loopback port in development mode, with real time.
type liveSP struct {
	base  string
	h     *Handler
	store *fakeStore
	logs  *lockedBuffer
}

// listenSP reserves the SP's port; start it with serve once its IdPs are
// known (an IdP needs the SP's ACS URL first).
func listenSP(t *testing.T) (net.Listener, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln, "http://" + ln.Addr().String()
}

// newLiveSP builds the SP for base trusting idps, with the default
// attribute names of cmd/extauthz (the ones devidp and pysaml2 send).
func newLiveSP(t *testing.T, base string, idps *samlverify.IdPSet, mod func(*Config)) *liveSP {
	t.Helper()
	store := newFakeStore(time.Now)
	logs := &lockedBuffer{}
	cfg := Config{
		BaseURL: base, Insecure: true, CookieName: "tfgate", IdPs: idps, IdPNames: map[string]string{},
		Sessions: store, Tokens: store, Logger: slogTo(logs),
	}
	if mod != nil {
		mod(&cfg)
	}
	cfg.Verifier = newVerifier(t, cfg, idps, nil, store)
	h, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &liveSP{base: base, h: h, store: store, logs: logs}
}

// serve serves the SP on ln until the test ends.
func (s *liveSP) serve(t *testing.T, ln net.Listener) {
	t.Helper()
	srv := &http.Server{Handler: s.h, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Shutdown(context.Background()) })
}

// browser is an http.Client with a cookie jar that does not follow
// redirects, so each step of the flow is visible.
type browser struct {
	t *testing.T
	c *http.Client
}

func newBrowser(t *testing.T) *browser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &browser{t: t, c: &http.Client{
		Jar:           jar,
		Timeout:       10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// get fetches u and returns the response and its body.
func (b *browser) get(u string) (*http.Response, string) {
	b.t.Helper()
	req, err := http.NewRequest("GET", u, nil)
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Accept", "text/html")
	return b.do(req)
}

// post submits form to u like a browser form from origin would.
func (b *browser) post(u string, form url.Values, origin string) (*http.Response, string) {
	b.t.Helper()
	req, err := http.NewRequest("POST", u, strings.NewReader(form.Encode()))
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	return b.do(req)
}

func (b *browser) do(req *http.Request) (*http.Response, string) {
	b.t.Helper()
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		b.t.Fatal(err)
	}
	return resp, string(body)
}

// location returns resp's Location, resolved against its request URL.
func location(t *testing.T, resp *http.Response) string {
	t.Helper()
	loc, err := resp.Location()
	if err != nil {
		t.Fatalf("%s: %d, no Location: %v", resp.Request.URL, resp.StatusCode, err)
	}
	return loc.String()
}

// formOf returns a page's form action and hidden inputs.
func formOf(t *testing.T, page string) (string, url.Values) {
	t.Helper()
	action, v, ok := devidp.Form(page)
	if !ok {
		t.Fatalf("no form in:\n%s", page)
	}
	return action, v
}

// whoamiOf returns the JSON of GET /saml/whoami with b's cookies.
// mustBeAlice checks that b is signed in at base as the interop tests'
// alice (name, email and groups as the IdPs assert them) through idp.
func mustBeAlice(t *testing.T, b *browser, base, idp string) {
	t.Helper()
	code, who := whoamiOf(t, b, base)
	mustEqual(t, "whoami", code, 200)
	mustEqual(t, "subject", who.Subject, "alice")
	mustEqual(t, "email", who.Email, "alice@example.com")
	mustEqual(t, "name", who.Name, "Alice Engineer")
	mustEqual(t, "groups", strings.Join(who.Groups, ","), "ml-engineers,resnet-users")
	mustEqual(t, "idp", who.IdP, idp)
}

func whoamiOf(t *testing.T, b *browser, base string) (int, whoami) {
	t.Helper()
	resp, body := b.get(base + WhoamiPath)
	var w whoami
	if resp.StatusCode == 200 {
		if err := json.Unmarshal([]byte(body), &w); err != nil {
			t.Fatal(err)
		}
	}
	return resp.StatusCode, w
}

// TestDevIdPInterop drives the whole browser flow against the development
// IdP over HTTP: login, the IdP's sign-in page, its auto-submitting form,
// the ACS, the return, whoami, then single logout through the IdP.
func TestDevIdPInterop(t *testing.T) {
	t.Parallel()
	ln, base := listenSP(t)
	idp := devidp.Start(t, devidp.Config{SPs: []devidp.SP{{EntityID: base + MetadataPath, ACSURLs: []string{base + ACSPath}}}})
	md, err := idp.Metadata()
	if err != nil {
		t.Fatal(err)
	}
	set := idpSetFrom(t, md)
	sp := newLiveSP(t, base, set, func(c *Config) { c.IdPNames["dev"] = idp.EntityID() })
	sp.serve(t, ln)
	b := newBrowser(t)

	resp, _ := b.get(base + LoginPath + "?idp=dev&return_to=" + url.QueryEscape("/v1/models/half_plus_two/versions/1"))
	if resp.StatusCode != http.StatusFound || !strings.HasPrefix(location(t, resp), idp.SSOURL()+"?SAMLRequest=") {
		t.Fatalf("login: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	action, form, err := devidp.SignIn(t.Context(), b.c, location(t, resp), "carol")
	if err != nil {
		t.Fatal(err)
	}
	if action != base+ACSPath || form.Get("SAMLResponse") == "" {
		t.Fatalf("auto-submit form to %q with %v", action, form)
	}
	resp, page := b.post(action, form, idp.BaseURL())
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("ACS: %d\n%s\nlog: %s", resp.StatusCode, page, sp.logs)
	}
	mustEqual(t, "return_to", location(t, resp), base+"/v1/models/half_plus_two/versions/1")

	code, who := whoamiOf(t, b, base)
	mustEqual(t, "whoami status", code, 200)
	mustEqual(t, "subject", who.Subject, "carol")
	mustEqual(t, "email", who.Email, "carol@example.com")
	mustEqual(t, "name", who.Name, "Carol Vision")
	mustEqual(t, "groups", strings.Join(who.Groups, ","), "resnet-users,ml-engineers")
	mustEqual(t, "idp", who.IdP, idp.EntityID())
	mustEqual(t, "auth", who.Auth, "cookie")
	if d := time.Until(who.ExpiresAt); d < 7*time.Hour || d > 8*time.Hour {
		t.Errorf("expires in %v, want about 8h", d)
	}

	// Single logout: the confirmation page's form, then through devidp's
	// SLO endpoint and back to the signed-out page.
	_, page = b.get(base + LogoutPath)
	_, form = formOf(t, page)
	resp, _ = b.post(base+LogoutPath, form, base)
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(location(t, resp), idp.SLOURL()+"?SAMLRequest=") {
		t.Fatalf("logout: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, _ = b.get(location(t, resp))
	mustEqual(t, "back from the IdP", location(t, resp), base+LogoutPath)
	_, page = b.get(location(t, resp))
	if !strings.Contains(page, "You are signed out") {
		t.Errorf("signed-out page:\n%s", page)
	}
	code, _ = whoamiOf(t, b, base)
	mustEqual(t, "whoami after logout", code, 401)
}

// TestPysaml2Interop has Debian's pysaml2 answer the SP's real
// AuthnRequests (unsigned, and signed with the SP key that pysaml2 checks
// against the SP metadata), and posts its Responses to the ACS.
func TestPysaml2Interop(t *testing.T) {
	t.Parallel()
	if err := pysaml2idp.Available(); err != nil {
		t.Fatal(err) // the error says: apt-get install -y python3-pysaml2 xmlsec1
	}
	key, cert := testKeyPair(t)
	for name, signed := range map[string]bool{"unsigned requests": false, "signed requests": true} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ln, base := listenSP(t)
			withSigning := func(c *Config) {
				if signed {
					c.Key, c.Cert, c.SignRequests = key, cert, true
				}
			}
			// pysaml2 needs the SP's metadata, and the SP the IdP's: build
			// the SP once for its metadata, then again trusting pysaml2.
			placeholder := newLiveSP(t, base, idpSetFrom(t, mustDevMetadata(t)), withSigning)
			idp := pysaml2idp.New(t, pysaml2idp.Config{SPMetadata: placeholder.h.Metadata()})
			sp := newLiveSP(t, base, idpSetFrom(t, idp.Metadata()), withSigning)
			sp.serve(t, ln)
			b := newBrowser(t)

			resp, _ := b.get(base + LoginPath + "?return_to=" + url.QueryEscape("/v1/models/half_plus_two:predict"))
			loc := location(t, resp)
			if !strings.HasPrefix(loc, idp.SSOURL()+"?") || strings.Contains(loc, "Signature=") != signed {
				t.Fatalf("login redirect %q", loc)
			}
			user := pysaml2idp.User{ID: "alice", Name: "Alice Engineer", Email: "alice@example.com", Groups: []string{"ml-engineers", "resnet-users"}}
			if signed {
				// pysaml2 really checks the signature: another RelayState
				// under the same signature is refused.
				forged := strings.Replace(loc, "RelayState=", "RelayState=%2Fx", 1)
				if _, err := idp.Respond(forged, user, pysaml2idp.ResponseOptions{}); err == nil {
					t.Fatal("pysaml2 accepted a request whose signature does not cover it")
				}
			}
			samlResponse, err := idp.Respond(loc, user, pysaml2idp.ResponseOptions{})
			if err != nil {
				t.Fatal(err)
			}
			u, _ := url.Parse(loc)
			resp, page := b.post(base+ACSPath, url.Values{"SAMLResponse": {samlResponse}, "RelayState": {u.Query().Get("RelayState")}}, "")
			if resp.StatusCode != http.StatusSeeOther {
				t.Fatalf("ACS: %d\n%s\nlog: %s", resp.StatusCode, page, sp.logs)
			}
			mustEqual(t, "return_to", location(t, resp), base+"/v1/models/half_plus_two:predict")
			mustBeAlice(t, b, base, idp.EntityID())

			// The same Response again, in a fresh sign-in: a replay.
			b.get(base + LoginPath)
			resp, _ = b.post(base+ACSPath, url.Values{"SAMLResponse": {samlResponse}}, "")
			mustEqual(t, "replayed Response", resp.StatusCode, http.StatusForbidden)
		})
	}
}

// idpSetFrom parses IdP metadata into a set.
func idpSetFrom(t *testing.T, md []byte) *samlverify.IdPSet {
	t.Helper()
	m, err := samlverify.ParseMetadata(md, samlverify.MetadataOptions{})
	if err != nil {
		t.Fatal(err)
	}
	set, err := samlverify.NewIdPSet(m.IdPs, "")
	if err != nil {
		t.Fatal(err)
	}
	return set
}

// mustDevMetadata returns some valid IdP metadata (a devidp's), for an SP
// built only to produce its own metadata.
func mustDevMetadata(t *testing.T) []byte {
	t.Helper()
	idp, err := devidp.New(devidp.Config{BaseURL: "http://127.0.0.1:1", SPs: []devidp.SP{{EntityID: "x", ACSURLs: []string{"http://127.0.0.1:1/acs"}}}})
	if err != nil {
		t.Fatal(err)
	}
	md, err := idp.Metadata()
	if err != nil {
		t.Fatal(err)
	}
	return md
}

// TestPysaml2IdPLogout: pysaml2's IdP ends a user's session with a
// LogoutRequest it makes and signs itself (create_logout_request), in the
// HTTP-Redirect binding (query signature, apply_binding) and in HTTP-POST
// (enveloped signature). The session and a token minted from it are gone
// from a real Redis store, and tfgate answers at pysaml2's
// SingleLogoutService with a signed LogoutResponse.
func TestPysaml2IdPLogout(t *testing.T) {
	t.Parallel()
	if err := pysaml2idp.Available(); err != nil {
		t.Fatal(err)
	}
	store, err := session.NewRedis(redistest.Start(t).Client(), session.RedisConfig{Prefix: "tfgate:"})
	if err != nil {
		t.Fatal(err)
	}
	key, cert := testKeyPair(t)
	ln, base := listenSP(t)
	withStore := func(c *Config) { c.Key, c.Cert, c.Sessions, c.Tokens = key, cert, store, store }
	placeholder := newLiveSP(t, base, idpSetFrom(t, mustDevMetadata(t)), withStore)
	idp := pysaml2idp.New(t, pysaml2idp.Config{SPMetadata: placeholder.h.Metadata()})
	sp := newLiveSP(t, base, idpSetFrom(t, idp.Metadata()), withStore)
	sp.serve(t, ln)
	user := pysaml2idp.User{ID: "alice", Email: "alice@example.com", Groups: []string{"ml-engineers"}}
	// signIn signs a browser in and mints a token from its session.
	minted := 0
	signIn := func(t *testing.T) (*browser, []string) {
		t.Helper()
		b := newBrowser(t)
		resp, _ := b.get(base + LoginPath)
		loc := location(t, resp)
		samlResponse, err := idp.Respond(loc, user, pysaml2idp.ResponseOptions{})
		if err != nil {
			t.Fatal(err)
		}
		u, _ := url.Parse(loc)
		resp, page := b.post(base+ACSPath, url.Values{"SAMLResponse": {samlResponse}, "RelayState": {u.Query().Get("RelayState")}}, "")
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("ACS: %d\n%s\nlog: %s", resp.StatusCode, page, sp.logs)
		}
		c := cookieNamed(resp.Cookies(), "tfgate")
		s, err := store.Lookup(t.Context(), c.Value)
		if err != nil {
			t.Fatal(err)
		}
		minted++
		child, cs := "tfg_"+strings.Repeat("c", 42)+strconv.Itoa(minted), s
		cs.Family = authz.SessionHandle(c.Value)
		if err := store.Create(t.Context(), child, cs); err != nil {
			t.Fatal(err)
		}
		return b, []string{c.Value, child}
	}
	ended := func(t *testing.T, b *browser, resp *http.Response, tokens []string, requestID string) {
		t.Helper()
		answer := location(t, resp)
		if resp.StatusCode != http.StatusFound || !strings.HasPrefix(answer, idp.SLOURL()+"?SAMLResponse=") || !strings.Contains(answer, "&Signature=") {
			t.Fatalf("tfgate answered %d %q\nlog: %s", resp.StatusCode, answer, sp.logs)
		}
		// pysaml2 takes the answer: signature, issuer, destination, status.
		status, irt, err := idp.LogoutResponse(answer)
		if err != nil || status != statusSuccess || irt != requestID {
			t.Errorf("pysaml2 on tfgate's LogoutResponse: status %q, InResponseTo %q (want %q), %v", status, irt, requestID, err)
		}
		for _, tok := range tokens {
			if _, err := store.Lookup(t.Context(), tok); !errors.Is(err, authz.ErrNoSession) {
				t.Errorf("after pysaml2's LogoutRequest the store still has a session or token: %v", err)
			}
		}
		code, _ := whoamiOf(t, b, base)
		mustEqual(t, "whoami after the IdP's logout", code, 401)
	}
	t.Run("redirect", func(t *testing.T) {
		b, tokens := signIn(t)
		u, id, err := idp.Logout(user, pysaml2idp.LogoutOptions{Destination: base + LogoutPath, SPEntityID: base + MetadataPath, RelayState: "py"})
		if err != nil {
			t.Fatal(err)
		}
		resp, _ := b.get(u)
		ended(t, b, resp, tokens, id)
	})
	t.Run("post", func(t *testing.T) {
		b, tokens := signIn(t)
		v, id, err := idp.Logout(user, pysaml2idp.LogoutOptions{Destination: base + LogoutPath, SPEntityID: base + MetadataPath, POST: true})
		if err != nil {
			t.Fatal(err)
		}
		resp, _ := b.post(base+LogoutPath, url.Values{"SAMLRequest": {v}}, "http://127.0.0.1:1")
		ended(t, b, resp, tokens, id)
	})
}

// TestPysaml2IdPInitiated: pysaml2 starts sign-in itself and posts an
// unsolicited Response (no InResponseTo) to the ACS. With idp_initiated
// on for it the user is signed in and lands on the RelayState path; off
// (the default) nobody is signed in and the page says how to allow it.
func TestPysaml2IdPInitiated(t *testing.T) {
	t.Parallel()
	if err := pysaml2idp.Available(); err != nil {
		t.Fatal(err)
	}
	user := pysaml2idp.User{ID: "alice", Email: "alice@example.com", Groups: []string{"ml-engineers"}}
	for name, allowed := range map[string]bool{"allowed": true, "off by default": false} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ln, base := listenSP(t)
			mod := func(c *Config) {
				if allowed {
					c.IdPInitiated = func(string) (time.Duration, bool) { return time.Minute, true }
				}
			}
			placeholder := newLiveSP(t, base, idpSetFrom(t, mustDevMetadata(t)), mod)
			idp := pysaml2idp.New(t, pysaml2idp.Config{SPMetadata: placeholder.h.Metadata()})
			sp := newLiveSP(t, base, idpSetFrom(t, idp.Metadata()), mod)
			sp.serve(t, ln)
			samlResponse, acs, err := idp.Unsolicited(user, base+MetadataPath, pysaml2idp.ResponseOptions{})
			if err != nil {
				t.Fatal(err)
			}
			mustEqual(t, "ACS", acs, base+ACSPath)
			b := newBrowser(t)
			resp, page := b.post(acs, url.Values{"SAMLResponse": {samlResponse}, "RelayState": {"/v1/models/half_plus_two"}}, "")
			if !allowed {
				mustEqual(t, "ACS status", resp.StatusCode, http.StatusForbidden)
				mustAdvise(t, page, sp.logs.String(), "IdP-initiated", "idp_initiated: true")
				code, _ := whoamiOf(t, b, base)
				mustEqual(t, "whoami", code, 401)
				return
			}
			if resp.StatusCode != http.StatusSeeOther {
				t.Fatalf("ACS: %d\n%s\nlog: %s", resp.StatusCode, page, sp.logs)
			}
			mustEqual(t, "RelayState", location(t, resp), base+"/v1/models/half_plus_two")
			code, who := whoamiOf(t, b, base)
			mustEqual(t, "whoami", code, 200)
			mustEqual(t, "subject", who.Subject, "alice")
			mustEqual(t, "idp", who.IdP, idp.EntityID())
			// The same unsolicited Response again: a replay.
			resp, _ = b.post(acs, url.Values{"SAMLResponse": {samlResponse}}, "")
			mustEqual(t, "replayed unsolicited Response", resp.StatusCode, http.StatusForbidden)
		})
	}
}
