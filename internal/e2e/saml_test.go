package e2e

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/health"

	"github.com/tfgate/tfgate/authz"
	"github.com/tfgate/tfgate/authz/session"
	"github.com/tfgate/tfgate/envoy"
	"github.com/tfgate/tfgate/internal/devidp"
	"github.com/tfgate/tfgate/internal/pysaml2idp"
	"github.com/tfgate/tfgate/internal/redistest"
	"github.com/tfgate/tfgate/internal/tfservingstandin"
	"github.com/tfgate/tfgate/rego"
	"github.com/tfgate/tfgate/samlverify"
	"github.com/tfgate/tfgate/samlverify/sp"
)

// samlCookie is the session cookie of the SAML stack: development mode
// over http, so without the __Host- prefix.
const samlCookie = "tfgate"

// samlStack is the product with browser sign-in and the token endpoints,
// as cmd/extauthz wires it: the Envoy emulator routes /saml/ and /token to
// tfgate's HTTP listener with ext_authz off (as envoy/envoy.yaml does) and
// everything else, through ext_authz, to TF Serving. The Check path looks
// sessions up in a local cache (TTL one hour, so only Redis pub/sub
// invalidations can make a revocation show) in front of a real Redis; the
// IdPs are the development IdP (the default) and Debian's pysaml2
// (?idp=pysaml2).
type samlStack struct {
	tfs   *tfservingstandin.Server
	base  string // the emulated Envoy REST listener, as browsers see it
	dev   *devidp.IdP
	py    *pysaml2idp.IdP
	cache *session.Cached
	logs  *lockedBuffer
}

func startSAMLStack(t *testing.T) *samlStack {
	t.Helper()
	if err := pysaml2idp.Available(); err != nil {
		t.Fatal(err) // says: apt-get install -y python3-pysaml2 xmlsec1
	}
	s := &samlStack{tfs: tfservingstandin.Start(t), logs: &lockedBuffer{}}
	store, err := session.NewRedis(redistest.Start(t).Client(), session.RedisConfig{Prefix: "tfgate:"})
	if err != nil {
		t.Fatal(err)
	}
	s.cache = session.NewCached(store, session.CacheConfig{TTL: time.Hour, Invalidations: store})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = s.cache.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	policy, err := rego.New(context.Background(), rego.Config{Dir: policyDir(t)})
	if err != nil {
		t.Fatal(err)
	}
	authorizer, err := authz.New(authz.Config{Sessions: s.cache, Policy: policy, CookieName: samlCookie})
	if err != nil {
		t.Fatal(err)
	}
	checkSrv, err := envoy.NewServer(envoy.Config{Checker: authorizer})
	if err != nil {
		t.Fatal(err)
	}
	client := serveGRPC(t, envoy.NewGRPCServer(checkSrv, health.NewServer()))

	// tfgate's HTTP listener exists before Envoy (its /saml/ route points
	// there) and the SP after (its URLs are Envoy's).
	httpLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	restAddr := startShippedEnvoy(t, "rest", map[string]*url.URL{
		"tfserving_rest": s.tfs.RESTURL(),
		"tfserving_grpc": s.tfs.GRPCURL(),
		"extauthz_http":  {Scheme: "http", Host: httpLn.Addr().String()},
	}, client)
	s.base = "http://" + restAddr
	s.dev = devidp.Start(t, devidp.Config{SPs: []devidp.SP{{EntityID: s.base + sp.MetadataPath, ACSURLs: []string{s.base + sp.ACSPath}}}})
	devMD, err := s.dev.Metadata()
	if err != nil {
		t.Fatal(err)
	}
	// pysaml2 must read the SP's metadata before it starts, and the SP must
	// trust pysaml2's: an SP built first for its metadata breaks the cycle.
	first := s.newSP(t, store, idpSet(t, devMD))
	s.py = pysaml2idp.New(t, pysaml2idp.Config{SPMetadata: first.Metadata()})
	h := s.newSP(t, store, idpSet(t, devMD, s.py.Metadata()))

	srv := &http.Server{
		Handler: envoy.NewHTTPHandler(envoy.HTTPConfig{Mount: map[string]http.Handler{
			"/saml/": h, sp.TokenPath: h.TokenHandler(), sp.RevokePath: h.TokenHandler(),
		}}),
		ReadHeaderTimeout: 5 * time.Second,
	}
	go func() { _ = srv.Serve(httpLn) }()
	t.Cleanup(func() { _ = srv.Close() })
	return s
}

// newSP builds the SP on store, wired as cmd/extauthz wires it.
func (s *samlStack) newSP(t *testing.T, store *session.Redis, idps *samlverify.IdPSet) *sp.Handler {
	t.Helper()
	v, err := samlverify.New(samlverify.Config{
		SPEntityID: s.base + sp.MetadataPath, ACSURL: s.base + sp.ACSPath,
		Attributes: samlverify.AttributeMap{
			Groups:      []string{"groups"},
			Email:       []string{"email", "mail", "urn:oid:0.9.2342.19200300.100.1.3"},
			DisplayName: []string{"displayName", "urn:oid:2.16.840.1.113730.3.1.241"},
		},
	}, idps, store)
	if err != nil {
		t.Fatal(err)
	}
	h, err := sp.New(sp.Config{
		BaseURL: s.base, Verifier: v, IdPs: idps, IdPNames: map[string]string{"pysaml2": "http://pysaml2-idp.test/saml/idp"},
		Sessions: store, Requests: store, Tokens: store, CookieName: samlCookie, Insecure: true,
		Logger: slog.New(slog.NewTextHandler(s.logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// idpSet trusts the IdPs of the metadata documents, the first the default.
func idpSet(t *testing.T, docs ...[]byte) *samlverify.IdPSet {
	t.Helper()
	var all []*samlverify.IdP
	for _, d := range docs {
		md, err := samlverify.ParseMetadata(d, samlverify.MetadataOptions{})
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, md.IdPs...)
	}
	set, err := samlverify.NewIdPSet(all, "")
	if err != nil {
		t.Fatal(err)
	}
	return set
}

// samlBrowser is a browser: a cookie jar, navigation headers, and no
// automatic redirects, so each hop can be checked.
type samlBrowser struct {
	t *testing.T
	c *http.Client
}

func newSAMLBrowser(t *testing.T) *samlBrowser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &samlBrowser{t: t, c: &http.Client{Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// navigate GETs u as a top-level navigation.
func (b *samlBrowser) navigate(u string) (*http.Response, string) {
	b.t.Helper()
	req, err := http.NewRequest("GET", u, nil)
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Accept", "text/html,application/xhtml+xml")
	req.Header.Set("Sec-Fetch-Mode", "navigate")
	return b.do(req)
}

// submit POSTs a form.
func (b *samlBrowser) submit(u string, form url.Values) (*http.Response, string) {
	b.t.Helper()
	req, err := http.NewRequest("POST", u, strings.NewReader(form.Encode()))
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

func (b *samlBrowser) do(req *http.Request) (*http.Response, string) {
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

// hop returns resp's Location resolved against its request, failing
// unless resp is the redirect wanted.
func hop(t *testing.T, resp *http.Response, status int) string {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("%s %s: %d, want %d", resp.Request.Method, resp.Request.URL, resp.StatusCode, status)
	}
	loc, err := resp.Location()
	if err != nil {
		t.Fatal(err)
	}
	return loc.String()
}

// form returns a page's form action and hidden fields.
func form(t *testing.T, page string) (string, url.Values) {
	t.Helper()
	action, v, ok := devidp.Form(page)
	if !ok {
		t.Fatalf("no form on the page:\n%s", page)
	}
	return action, v
}

const modelURL = "/v1/models/half_plus_two/versions/1"

// TestSAMLBrowserFlow signs a browser in through the Envoy emulator: the
// anonymous navigation is sent to /saml/login, the IdP signs the user in,
// the ACS sets the cookie, and the original URL is then answered by TF
// Serving with the identity headers set; first with the development IdP,
// then with pysaml2 followed by a predict call on the same cookie.
func TestSAMLBrowserFlow(t *testing.T) {
	s := startSAMLStack(t)
	t.Run("devidp", func(t *testing.T) {
		b := newSAMLBrowser(t)
		login := s.startSignIn(t, b)
		resp, page := b.navigate(hop(t, mustNavigate(t, b, login), http.StatusFound))
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Request.URL.String(), s.dev.SSOURL()) {
			t.Fatalf("devidp sign-in page: %d %s", resp.StatusCode, resp.Request.URL)
		}
		action, fields, err := devidp.SubmitSignIn(t.Context(), b.c, resp, page, "alice")
		if err != nil {
			t.Fatal(err)
		}
		if action != s.base+sp.ACSPath {
			t.Fatalf("devidp posts to %q", action)
		}
		s.finishSignIn(t, b, action, fields)
		s.checkWhoami(t, b, s.dev.EntityID())
	})
	t.Run("pysaml2", func(t *testing.T) {
		b := newSAMLBrowser(t)
		login := s.startSignIn(t, b) + "&idp=pysaml2"
		authnRequest := hop(t, mustNavigate(t, b, login), http.StatusFound)
		if !strings.HasPrefix(authnRequest, s.py.SSOURL()+"?SAMLRequest=") {
			t.Fatalf("login redirects to %q", authnRequest)
		}
		samlResponse, err := s.py.Respond(authnRequest, pysaml2idp.User{ID: "alice", Name: "Alice Engineer",
			Email: "alice@example.com", Groups: []string{"ml-engineers"}}, pysaml2idp.ResponseOptions{})
		if err != nil {
			t.Fatal(err)
		}
		u, _ := url.Parse(authnRequest)
		s.finishSignIn(t, b, s.base+sp.ACSPath, url.Values{"SAMLResponse": {samlResponse}, "RelayState": {u.Query().Get("RelayState")}})
		s.checkWhoami(t, b, s.py.EntityID())

		// A program-style call with the same session cookie: allowed.
		req, _ := http.NewRequest("POST", s.base+modelURL+":predict", strings.NewReader(`{"instances": [1.0, 2.0, 5.0]}`))
		req.Header.Set("Content-Type", "application/json")
		resp, body := b.do(req)
		var out struct{ Predictions []float64 }
		if resp.StatusCode != 200 || json.Unmarshal([]byte(body), &out) != nil || len(out.Predictions) != 3 || out.Predictions[2] != 4.5 {
			t.Fatalf("predict: %d %s", resp.StatusCode, body)
		}
		s.checkReached(t, "POST")
	})
	if strings.Contains(s.logs.String(), "alice") {
		t.Errorf("the SP's log names the user:\n%s", s.logs)
	}
}

// startSignIn makes the anonymous navigation and returns the login URL
// Envoy redirected it to; nothing reaches TF Serving.
func (s *samlStack) startSignIn(t *testing.T, b *samlBrowser) string {
	t.Helper()
	s.tfs.Reset()
	resp, _ := b.navigate(s.base + modelURL)
	login := hop(t, resp, http.StatusFound)
	if want := s.base + "/saml/login?return_to=" + url.QueryEscape(modelURL); login != want {
		t.Fatalf("anonymous navigation redirected to %q, want %q", login, want)
	}
	if n := len(s.tfs.Requests()); n != 0 {
		t.Fatalf("%d anonymous requests reached TF Serving", n)
	}
	return login
}

// finishSignIn posts the IdP's form to the ACS through Envoy, follows the
// redirect back to the model URL and checks what TF Serving saw.
func (s *samlStack) finishSignIn(t *testing.T, b *samlBrowser, acs string, fields url.Values) {
	t.Helper()
	resp, _ := b.submit(acs, fields)
	back := hop(t, resp, http.StatusSeeOther)
	mustEqual(t, "return to", back, s.base+modelURL)
	c := findCookie(resp.Cookies(), samlCookie)
	if c == nil || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" {
		t.Fatalf("session cookie %+v", c)
	}
	resp, body := b.navigate(back)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s after sign-in: %d %s", modelURL, resp.StatusCode, body)
	}
	s.checkReached(t, "GET")
}

// checkReached checks the one request TF Serving saw since the last reset.
func (s *samlStack) checkReached(t *testing.T, method string) {
	t.Helper()
	recs := s.tfs.Requests()
	s.tfs.Reset()
	if len(recs) != 1 || recs[0].Method != method {
		t.Fatalf("TF Serving saw %+v", recs)
	}
	h := recs[0].Header
	mustEqual(t, "x-tfgate-user", h.Get("X-Tfgate-User"), "alice")
	mustEqual(t, "x-tfgate-email", h.Get("X-Tfgate-Email"), "alice@example.com")
	mustEqual(t, "x-tfgate-groups", h.Get("X-Tfgate-Groups"), "ml-engineers")
	if strings.Contains(h.Get("Cookie"), samlCookie+"=") {
		t.Error("the session cookie reached TF Serving")
	}
}

// checkWhoami asks /saml/whoami through Envoy.
func (s *samlStack) checkWhoami(t *testing.T, b *samlBrowser, idp string) {
	t.Helper()
	resp, body := b.navigate(s.base + sp.WhoamiPath)
	var who struct{ Subject, IdP, Auth string }
	if resp.StatusCode != 200 || json.Unmarshal([]byte(body), &who) != nil || who.Subject != "alice" || who.IdP != idp || who.Auth != "cookie" {
		t.Errorf("whoami: %d %s", resp.StatusCode, body)
	}
}

func mustNavigate(t *testing.T, b *samlBrowser, u string) *http.Response {
	t.Helper()
	resp, _ := b.navigate(u)
	return resp
}

func findCookie(cs []*http.Cookie, name string) *http.Cookie {
	for _, c := range cs {
		if c.Name == name {
			return c
		}
	}
	return nil
}

func mustEqual(t *testing.T, what, got, want string) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %q, want %q", what, got, want)
	}
}
