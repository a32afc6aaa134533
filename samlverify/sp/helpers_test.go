package sp

import (
	"bytes"
	"compress/flate"
	"context"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/beevik/etree"
	"github.com/jonboulle/clockwork"
	dsig "github.com/russellhaering/goxmldsig"

	"github.com/tfgate/tfgate/authz"
	"github.com/tfgate/tfgate/samlverify"
	"github.com/tfgate/tfgate/samlverify/internal/fixture"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// Names of the unit-test SP. BaseURL makes the ACS and entity ID the
// fixture's defaults, so fixture.Default() Responses are addressed to it.
const (
	testBaseURL = "https://sp.example.test"
	idpSSO      = "https://idp.example.test/sso"
	idpSLO      = "https://idp.example.test/slo"
)

// fakeStore is an in-memory Sessions, Requests and samlverify.ReplayCache
// with a clock and switchable failures. (authz/session is another adapter;
// the SP's tests do not depend on it.)
type fakeStore struct {
	mu       sync.Mutex
	now      func() time.Time
	sessions map[string]authz.Session
	requests map[string]time.Time
	seen     map[string]time.Time
	revoked  map[string]bool  // families
	fail     map[string]error // by method name
}

var (
	_ samlverify.ReplayCache = (*fakeStore)(nil)
	_ TokenStore             = (*fakeStore)(nil)
)

func newFakeStore(now func() time.Time) *fakeStore {
	return &fakeStore{now: now, sessions: map[string]authz.Session{}, requests: map[string]time.Time{},
		seen: map[string]time.Time{}, revoked: map[string]bool{}, fail: map[string]error{}}
}

// RevokeFamily deletes the sessions of family and below it, and refuses
// new ones, as authz/session's stores do.
func (f *fakeStore) RevokeFamily(_ context.Context, family string) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.fail["RevokeFamily"]; err != nil {
		return 0, err
	}
	return f.revokeLocked(family), nil
}

// Discard deletes the sessions whose TokenRef is in refs.
func (f *fakeStore) Discard(_ context.Context, _ authz.Session, refs ...string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.fail["Discard"]; err != nil {
		return err
	}
	for tok := range f.sessions {
		if slices.Contains(refs, authz.TokenRef(tok)) {
			delete(f.sessions, tok)
		}
	}
	return nil
}

func (f *fakeStore) Forget(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.fail["Forget"]; err != nil {
		return err
	}
	delete(f.seen, id)
	return nil
}

func (f *fakeStore) revokeLocked(family string) int {
	f.revoked[family] = true
	n := 0
	for tok, s := range f.sessions {
		if s.Family == family || strings.HasPrefix(s.Family, family+"/") {
			delete(f.sessions, tok)
			n++
		}
	}
	return n
}

// familyRevoked reports whether family or one it extends was revoked.
func (f *fakeStore) familyRevoked(family string) bool {
	for i := range len(family) {
		if family[i] == '/' && f.revoked[family[:i]] {
			return true
		}
	}
	return f.revoked[family]
}

// count returns how many sessions the store holds.
func (f *fakeStore) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.sessions)
}

func (f *fakeStore) failing(method string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail[method] = err
}

func (f *fakeStore) Create(_ context.Context, token string, s authz.Session) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.fail["Create"]; err != nil {
		return err
	}
	if s.Family != "" && f.familyRevoked(s.Family) {
		return fmt.Errorf("fake: family revoked: %w", authz.ErrNoSession)
	}
	f.sessions[token] = s
	return nil
}

func (f *fakeStore) Lookup(_ context.Context, token string) (authz.Session, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.fail["Lookup"]; err != nil {
		return authz.Session{}, err
	}
	s, ok := f.sessions[token]
	if !ok || !f.now().Before(s.ExpiresAt) {
		return authz.Session{}, authz.ErrNoSession
	}
	return s, nil
}

func (f *fakeStore) Delete(_ context.Context, token string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.fail["Delete"]; err != nil {
		return err
	}
	delete(f.sessions, token)
	f.revokeLocked(authz.SessionHandle(token))
	return nil
}

func (f *fakeStore) Remember(_ context.Context, id string, ttl time.Duration) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.fail["Remember"]; err != nil {
		return err
	}
	f.requests[id] = f.now().Add(ttl)
	return nil
}

func (f *fakeStore) Consume(_ context.Context, id string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.fail["Consume"]; err != nil {
		return false, err
	}
	exp, ok := f.requests[id]
	delete(f.requests, id)
	return ok && f.now().Before(exp), nil
}

func (f *fakeStore) SeenBefore(_ context.Context, id string, until time.Time) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.fail["SeenBefore"]; err != nil {
		return false, err
	}
	if exp, ok := f.seen[id]; ok && f.now().Before(exp) {
		return true, nil
	}
	f.seen[id] = until
	return false, nil
}

// answered reports whether the ACS recorded request ID id as answered.
func (f *fakeStore) answered(id string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, ok := f.seen["tfgate answered request\x00"+id]
	return ok
}

// writes counts what the store holds: sessions, one-time IDs, replay
// entries and revoked families.
func (f *fakeStore) writes() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.sessions) + len(f.requests) + len(f.seen) + len(f.revoked)
}

func (f *fakeStore) session(token string) (authz.Session, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.sessions[token]
	return s, ok
}

// lockedBuffer collects log output written from handlers.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// env is a Handler at fixture.T0 (a fake clock the test can move), with
// the fixture IdP as the default IdP and a second one named "other".
type env struct {
	h     *Handler
	cfg   Config
	store *fakeStore
	clock *dsig.Clock
	fake  *clockwork.FakeClock
	logs  *lockedBuffer
}

// testIdP is the fixture IdP as metadata would describe it.
func testIdP(tb testing.TB) *samlverify.IdP {
	return &samlverify.IdP{
		EntityID: fixture.IdPEntityID, SigningCerts: []*x509.Certificate{fixture.IdPKey(tb).Cert},
		SSORedirectURL: idpSSO, SLORedirectURL: idpSLO,
	}
}

// otherIdP is a second trusted IdP, without single logout.
func otherIdP(tb testing.TB) *samlverify.IdP {
	return &samlverify.IdP{
		EntityID: "https://other-idp.example.test", SigningCerts: []*x509.Certificate{fixture.NextIdPKey(tb).Cert},
		SSORedirectURL: "https://other-idp.example.test/sso?tenant=7",
	}
}

// newEnv builds an env; mods adjust the Config (after the required fields
// are set) and the IdPs (before the set is built).
func newEnv(tb testing.TB, mods ...func(*Config, *[]*samlverify.IdP)) *env {
	tb.Helper()
	fake := clockwork.NewFakeClockAt(fixture.T0)
	clock := dsig.NewFakeClock(fake)
	store := newFakeStore(clock.Now)
	logs := &lockedBuffer{}
	cfg := Config{
		BaseURL:  testBaseURL,
		Sessions: store, Tokens: store,
		IdPNames: map[string]string{"corp": fixture.IdPEntityID, "other": "https://other-idp.example.test"},
		Now:      clock.Now,
		Rand:     mrand.NewChaCha8([32]byte{1}),
		Logger:   slogTo(logs),
	}
	idps := []*samlverify.IdP{testIdP(tb), otherIdP(tb)}
	for _, m := range mods {
		m(&cfg, &idps)
	}
	set, err := samlverify.NewIdPSet(idps, "")
	if err != nil {
		tb.Fatal(err)
	}
	cfg.IdPs = set
	if cfg.Verifier == nil {
		cfg.Verifier = newVerifier(tb, cfg, set, clock, store)
	}
	h, err := New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return &env{h: h, cfg: cfg, store: store, clock: clock, fake: fake, logs: logs}
}

// newVerifier returns the Verifier the SP of cfg needs.
func newVerifier(tb testing.TB, cfg Config, idps samlverify.IdPSource, clock *dsig.Clock, replay samlverify.ReplayCache) *samlverify.Verifier {
	tb.Helper()
	entity := cfg.EntityID
	if entity == "" {
		entity = strings.TrimSuffix(cfg.BaseURL, "/") + MetadataPath
	}
	v, err := samlverify.New(samlverify.Config{
		SPEntityID: entity, ACSURL: strings.TrimSuffix(cfg.BaseURL, "/") + ACSPath, Clock: clock,
		Attributes: samlverify.AttributeMap{
			Groups: []string{"groups"}, Email: []string{"mail", "urn:oid:0.9.2342.19200300.100.1.3"},
			DisplayName: []string{"displayName", "urn:oid:2.16.840.1.113730.3.1.241"},
		},
	}, idps, replay)
	if err != nil {
		tb.Fatal(err)
	}
	return v
}

// insecure switches an env to development mode on http://127.0.0.1.
func insecure(cfg *Config, _ *[]*samlverify.IdP) {
	cfg.BaseURL, cfg.Insecure, cfg.CookieName = "http://127.0.0.1:8080", true, "tfgate"
}

// withKey gives the SP the test key pair.
func withKey(tb testing.TB) func(*Config, *[]*samlverify.IdP) {
	key, cert := testKeyPair(tb)
	return func(cfg *Config, _ *[]*samlverify.IdP) { cfg.Key, cfg.Cert = key, cert }
}

// testKeyPair loads testdata/sp-key.pem and sp-cert.pem.
func testKeyPair(tb testing.TB) (*rsa.PrivateKey, *x509.Certificate) {
	tb.Helper()
	kb, err := os.ReadFile(filepath.Join("testdata", "sp-key.pem"))
	if err != nil {
		tb.Fatal(err)
	}
	cb, err := os.ReadFile(filepath.Join("testdata", "sp-cert.pem"))
	if err != nil {
		tb.Fatal(err)
	}
	kblock, _ := pem.Decode(kb)
	cblock, _ := pem.Decode(cb)
	k, err := x509.ParsePKCS8PrivateKey(kblock.Bytes)
	if err != nil {
		tb.Fatal(err)
	}
	cert, err := x509.ParseCertificate(cblock.Bytes)
	if err != nil {
		tb.Fatal(err)
	}
	return k.(*rsa.PrivateKey), cert
}

// do serves req and returns the recorded response.
func (e *env) do(req *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	return rec
}

// login is the outcome of GET /saml/login.
type login struct {
	rec        *httptest.ResponseRecorder
	location   *url.URL
	binding    *http.Cookie
	requestID  string
	relayState string
	xml        *etree.Element
}

// login runs GET /saml/login?query and decodes the AuthnRequest.
func (e *env) login(tb testing.TB, query string) login {
	tb.Helper()
	rec := e.do(httptest.NewRequest("GET", LoginPath+"?"+query, nil))
	if rec.Code != http.StatusFound {
		tb.Fatalf("GET login?%s: %d\n%s", query, rec.Code, rec.Body)
	}
	loc, err := url.Parse(rec.Header().Get("Location"))
	if err != nil {
		tb.Fatal(err)
	}
	l := login{rec: rec, location: loc, relayState: loc.Query().Get("RelayState"),
		binding: bindingCookieIn(rec.Result().Cookies(), e.h.cfg.CookieName)}
	if l.binding == nil {
		tb.Fatalf("no binding cookie: %v", rec.Header()["Set-Cookie"])
	}
	l.xml = inflate(tb, loc.Query().Get("SAMLRequest"))
	l.requestID = l.xml.SelectAttrValue("ID", "")
	return l
}

// bindingCookieIn returns the binding cookie set in cs (its name starts
// with the session cookie's name and "-req"), or nil.
func bindingCookieIn(cs []*http.Cookie, cookieName string) *http.Cookie {
	for _, c := range cs {
		if strings.HasPrefix(c.Name, cookieName+"-req") && c.MaxAge > 0 {
			return c
		}
	}
	return nil
}

// inflate decodes a redirect-binding SAMLRequest.
func inflate(tb testing.TB, v string) *etree.Element {
	tb.Helper()
	raw, err := base64.StdEncoding.DecodeString(v)
	if err != nil {
		tb.Fatal(err)
	}
	xml, err := io.ReadAll(flate.NewReader(bytes.NewReader(raw)))
	if err != nil {
		tb.Fatal(err)
	}
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(xml); err != nil {
		tb.Fatal(err)
	}
	return doc.Root()
}

// cookieNamed returns the cookie called name, or nil.
func cookieNamed(cs []*http.Cookie, name string) *http.Cookie {
	for _, c := range cs {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// assertionSeq numbers assertion IDs, so that responses are not replays
// of each other.
var assertionSeq atomic.Int64

// response returns a Response to requestID signed by the fixture IdP,
// adjusted by mod, base64-encoded for the ACS form.
func response(tb testing.TB, requestID string, mod func(*fixture.Params)) string {
	tb.Helper()
	p := fixture.Default()
	p.InResponseTo, p.SCDInResponseTo = requestID, requestID
	p.AssertionID = fmt.Sprintf("_assert-%d", assertionSeq.Add(1))
	if mod != nil {
		mod(&p)
	}
	return fixture.Encode(tb, fixture.SignAssertionIn(tb, p.Response(), fixture.IdPKey(tb), fixture.SignOptions{}))
}

// acsRequest returns POST /saml/acs with form and cookies.
func acsRequest(form url.Values, cookies ...*http.Cookie) *http.Request {
	req := httptest.NewRequest("POST", ACSPath, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for _, c := range cookies {
		req.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
	}
	return req
}

// signIn runs login and the ACS for the fixture user and returns the ACS
// response and the session cookie.
func (e *env) signIn(tb testing.TB, query string) (*httptest.ResponseRecorder, *http.Cookie) {
	tb.Helper()
	rec, c, _ := e.signInLogin(tb, query)
	return rec, c
}

// signInLogin is signIn that also returns the login.
func (e *env) signInLogin(tb testing.TB, query string) (*httptest.ResponseRecorder, *http.Cookie, login) {
	tb.Helper()
	l := e.login(tb, query)
	form := url.Values{"SAMLResponse": {response(tb, l.requestID, nil)}}
	if l.relayState != "" {
		form.Set("RelayState", l.relayState)
	}
	rec := e.do(acsRequest(form, l.binding))
	if rec.Code != http.StatusSeeOther {
		tb.Fatalf("ACS: %d\n%s\nlog: %s", rec.Code, rec.Body, e.logs)
	}
	c := cookieNamed(rec.Result().Cookies(), e.h.cfg.CookieName)
	if c == nil {
		tb.Fatal("no session cookie")
	}
	return rec, c, l
}

// golden compares got with testdata/name.golden, rewriting it with -update.
func golden(tb testing.TB, name string, got []byte) {
	tb.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			tb.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		tb.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		tb.Errorf("%s differs from the golden file (go test -update rewrites it):\n got: %s\nwant: %s", path, got, want)
	}
}

// mustEqual fails tb when got != want.
func mustEqual[T comparable](tb testing.TB, what string, got, want T) {
	tb.Helper()
	if got != want {
		tb.Errorf("%s = %v, want %v", what, got, want)
	}
}

// errStore is the error of a store that cannot answer.
var errStore = errors.New("store: connection refused")

// fingerprint is a short hash, to look for a value in logs without
// printing it in a failure message.
func fingerprint(s string) string {
	sum := sha256.Sum256([]byte(s))
	return base64.RawURLEncoding.EncodeToString(sum[:6])
}

// xmlDoc serializes el, indented, as a document.
func xmlDoc(tb testing.TB, el *etree.Element) []byte {
	tb.Helper()
	doc := etree.NewDocument()
	doc.SetRoot(el.Copy())
	doc.Indent(2)
	b, err := doc.WriteToBytes()
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// parseXMLBytes parses b as a document.
func parseXMLBytes(tb testing.TB, b []byte) *etree.Document {
	tb.Helper()
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(b); err != nil {
		tb.Fatal(err)
	}
	return doc
}

// slogTo returns a text logger writing everything to w.
func slogTo(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}
