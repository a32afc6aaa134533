package sp

import (
	"errors"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tfgate/tfgate/authz"
	"github.com/tfgate/tfgate/authz/session"
	"github.com/tfgate/tfgate/internal/redistest"
	"github.com/tfgate/tfgate/internal/simplesamlidp"
	"github.com/tfgate/tfgate/samlverify"
)

// sspAttributes are the attribute names cmd/extauthz reads by default
// that SimpleSAMLphp sends: plain names, and their urn:oid: forms after
// its name2oid map.
var sspAttributes = samlverify.AttributeMap{
	Groups:      []string{"groups", "isMemberOf", "urn:oid:1.3.6.1.4.1.5923.1.5.1.1"},
	Email:       []string{"mail", "urn:oid:0.9.2342.19200300.100.1.3"},
	DisplayName: []string{"displayName", "urn:oid:2.16.840.1.113730.3.1.241"},
}

// sspSP is an SP on loopback trusting a SimpleSAMLphp IdP whose metadata it
// fetches from the IdP's (TLS-fronted) metadata URL, as serve does.
func sspSP(t *testing.T, cfg simplesamlidp.Config, signRequests bool, mods ...func(*Config)) (*liveSP, *simplesamlidp.IdP) {
	t.Helper()
	ln, base := listenSP(t)
	key, cert := testKeyPair(t)
	cfg.SPEntityID, cfg.ACSURL, cfg.SLOURL = base+MetadataPath, base+ACSPath, base+LogoutPath
	cfg.SPCert, cfg.SPSignsRequests = cert, signRequests
	idp := simplesamlidp.New(t, cfg)
	src, err := samlverify.NewSource(t.Context(), samlverify.SourceConfig{
		Metadata: []samlverify.MetadataSpec{{URL: idp.HTTPSMetadataURL()}},
		Client:   idp.HTTPSClient(),
	})
	if err != nil {
		t.Fatal(err)
	}
	store := newFakeStore(time.Now)
	logs := &lockedBuffer{}
	spCfg := Config{
		BaseURL: base, Insecure: true, CookieName: "tfgate", IdPs: src, IdPNames: map[string]string{},
		Sessions: store, Tokens: store, Logger: slogTo(logs),
		Key: key, Cert: cert, SignRequests: signRequests,
	}
	v, err := samlverify.New(samlverify.Config{
		SPEntityID: base + MetadataPath, ACSURL: base + ACSPath, Attributes: sspAttributes,
		DecryptionKey: key, DecryptionCert: cert,
	}, src, store)
	if err != nil {
		t.Fatal(err)
	}
	spCfg.Verifier = v
	for _, m := range mods {
		m(&spCfg)
	}
	h, err := New(spCfg)
	if err != nil {
		t.Fatal(err)
	}
	s := &liveSP{base: base, h: h, store: store, logs: logs}
	s.serve(t, ln)
	return s, idp
}

// sspSignIn runs an SP-initiated sign-in as user and returns the ACS's
// response status and page.
func sspSignIn(t *testing.T, sp *liveSP, idp *simplesamlidp.IdP, b *browser, user, password, returnTo string) (*http.Response, string) {
	t.Helper()
	resp, _ := b.get(sp.base + LoginPath + "?return_to=" + url.QueryEscape(returnTo))
	loc := location(t, resp)
	if resp.StatusCode != http.StatusFound || !strings.HasPrefix(loc, idp.SSOURL()+"?SAMLRequest=") {
		t.Fatalf("login: %d %s", resp.StatusCode, loc)
	}
	action, form, err := simplesamlidp.SignIn(t.Context(), b.c, loc, user, password)
	if err != nil {
		t.Fatalf("%v\nIdP log:\n%s", err, idp.Log())
	}
	if action != sp.base+ACSPath {
		t.Fatalf("the IdP posts to %q, want the ACS", action)
	}
	return b.post(action, form, strings.TrimSuffix(idp.BaseURL(), "/"))
}

// TestSimpleSAMLphpInterop signs in through Debian's SimpleSAMLphp, a
// second IdP implementation nobody here wrote, in each way an enterprise
// configures it, and checks the identity tfgate takes from it.
func TestSimpleSAMLphpInterop(t *testing.T) {
	t.Parallel()
	if err := simplesamlidp.Available(); err != nil {
		t.Fatal(err) // the error says what to install
	}
	cases := []struct {
		name         string
		cfg          simplesamlidp.Config
		signRequests bool
	}{
		{name: "signed response and assertion, basic names", cfg: simplesamlidp.Config{}},
		{name: "urn:oid attribute names", cfg: simplesamlidp.Config{AttributeNameFormat: "uri"}},
		{name: "only the response signed", cfg: simplesamlidp.Config{UnsignedAssertion: true}},
		{name: "only the assertion signed", cfg: simplesamlidp.Config{UnsignedResponse: true}},
		{name: "encrypted assertion in a signed response", cfg: simplesamlidp.Config{EncryptAssertion: true}},
		{name: "signed AuthnRequests", cfg: simplesamlidp.Config{}, signRequests: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sp, idp := sspSP(t, tc.cfg, tc.signRequests)
			b := newBrowser(t)
			resp, page := sspSignIn(t, sp, idp, b, "alice", "alice-password", "/v1/models/half_plus_two:predict")
			if resp.StatusCode != http.StatusSeeOther {
				t.Fatalf("ACS: %d\n%s\nSP log: %s\nIdP log:\n%s", resp.StatusCode, page, sp.logs, idp.Log())
			}
			mustEqual(t, "return_to", location(t, resp), sp.base+"/v1/models/half_plus_two:predict")
			mustBeAlice(t, b, sp.base, idp.EntityID())
		})
	}
}

// TestSimpleSAMLphpRefusals: what tfgate must refuse from a real IdP is
// refused, with a reason that names the cause.
func TestSimpleSAMLphpRefusals(t *testing.T) {
	t.Parallel()
	if err := simplesamlidp.Available(); err != nil {
		t.Fatal(err)
	}
	t.Run("AES-CBC encrypted assertion in an unsigned response", func(t *testing.T) {
		t.Parallel()
		sp, idp := sspSP(t, simplesamlidp.Config{EncryptAssertion: true, UnsignedResponse: true}, false)
		b := newBrowser(t)
		resp, page := sspSignIn(t, sp, idp, b, "alice", "alice-password", "/")
		mustEqual(t, "ACS status", resp.StatusCode, http.StatusForbidden)
		if !strings.Contains(sp.logs.String(), "cbc") && !strings.Contains(sp.logs.String(), "CBC") {
			t.Errorf("the log does not say the cause is AES-CBC in an unsigned Response:\n%s\npage:\n%s", sp.logs, page)
		}
		// The administrator reads the cause and the IdP-side fix on the
		// page, and the same text in the log line of its reference.
		mustAdvise(t, page, sp.logs.String(), "AES-CBC inside an unsigned Response", "encrypt with AES-GCM", "sign the whole Response")
		code, _ := whoamiOf(t, b, sp.base)
		mustEqual(t, "whoami", code, 401)
	})
	t.Run("unsigned response and assertion", func(t *testing.T) {
		t.Parallel()
		sp, idp := sspSP(t, simplesamlidp.Config{UnsignedResponse: true, UnsignedAssertion: true}, false)
		b := newBrowser(t)
		resp, page := sspSignIn(t, sp, idp, b, "alice", "alice-password", "/")
		mustEqual(t, "ACS status", resp.StatusCode, http.StatusForbidden)
		mustAdvise(t, page, sp.logs.String(), "Neither the Response nor the assertion is signed", "sign the assertion, the Response, or both")
		code, _ := whoamiOf(t, b, sp.base)
		mustEqual(t, "whoami", code, 401)
	})
}

// TestSimpleSAMLphpLogout: SP-initiated single logout through
// SimpleSAMLphp, which answers with a signed LogoutResponse.
func TestSimpleSAMLphpLogout(t *testing.T) {
	t.Parallel()
	if err := simplesamlidp.Available(); err != nil {
		t.Fatal(err)
	}
	sp, idp := sspSP(t, simplesamlidp.Config{}, true)
	b := newBrowser(t)
	if resp, page := sspSignIn(t, sp, idp, b, "alice", "alice-password", "/"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("ACS: %d\n%s\n%s", resp.StatusCode, page, sp.logs)
	}
	_, page := b.get(sp.base + LogoutPath)
	_, form := formOf(t, page)
	resp, _ := b.post(sp.base+LogoutPath, form, sp.base)
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(location(t, resp), idp.SLOURL()+"?SAMLRequest=") {
		t.Fatalf("logout: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, _, err := simplesamlidp.Follow(t.Context(), b.c, location(t, resp))
	if err != nil {
		t.Fatal(err)
	}
	back := location(t, resp)
	if !strings.HasPrefix(back, sp.base+LogoutPath+"?SAMLResponse=") {
		t.Fatalf("the IdP sent the browser to %q, want the SP's logout endpoint with a LogoutResponse\nIdP log:\n%s", back, idp.Log())
	}
	resp, page = b.get(back)
	if resp.StatusCode == http.StatusSeeOther || resp.StatusCode == http.StatusFound {
		_, page = b.get(location(t, resp))
	}
	if !strings.Contains(page, "You are signed out") {
		t.Errorf("signed-out page:\n%s\nSP log: %s", page, sp.logs)
	}
	code, _ := whoamiOf(t, b, sp.base)
	mustEqual(t, "whoami after logout", code, 401)
}

// mustAdvise checks that the error page shows each of want as advice for
// the administrator, and that the log line with the page's support
// reference carries the same advice.
func mustAdvise(t *testing.T, page, logs string, want ...string) {
	t.Helper()
	text := html.UnescapeString(page)
	_, advice, ok := strings.Cut(text, "For the administrator: ")
	if !ok {
		t.Fatalf("no advice for the administrator on the page:\n%s", page)
	}
	advice, _, _ = strings.Cut(advice, "</p>")
	for _, w := range want {
		if !strings.Contains(advice, w) {
			t.Errorf("the advice %q does not say %q", advice, w)
		}
	}
	m := regexp.MustCompile(`Support reference: <code>([0-9a-f]+)</code>`).FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("no support reference on the page:\n%s", page)
	}
	for line := range strings.SplitSeq(logs, "\n") {
		if strings.Contains(line, "ref="+m[1]) {
			if !strings.Contains(line, strconv.Quote(advice)) && !strings.Contains(line, "advice="+advice) {
				t.Errorf("the log line of reference %s lacks the page's advice:\n%s", m[1], line)
			}
			return
		}
	}
	t.Errorf("no log line with reference %s:\n%s", m[1], logs)
}

// TestSimpleSAMLphpIdPInitiated: SimpleSAMLphp starts sign-in itself
// (SSOService.php?spentityid=...&RelayState=..., as a portal link does)
// and posts an unsolicited Response. With idp_initiated on for it the user
// is signed in and lands on the RelayState path; an absolute RelayState
// off the allowed hosts lands on "/"; with it off (the default) nobody is
// signed in and the page says how to allow it.
func TestSimpleSAMLphpIdPInitiated(t *testing.T) {
	t.Parallel()
	if err := simplesamlidp.Available(); err != nil {
		t.Fatal(err)
	}
	start := func(sp *liveSP, idp *simplesamlidp.IdP, b *browser, relayState string) (*http.Response, string) {
		t.Helper()
		u := idp.SSOURL() + "?spentityid=" + url.QueryEscape(sp.base+MetadataPath) + "&RelayState=" + url.QueryEscape(relayState)
		action, form, err := simplesamlidp.SignIn(t.Context(), b.c, u, "alice", "alice-password")
		if err != nil {
			t.Fatalf("%v\nIdP log:\n%s", err, idp.Log())
		}
		if action != sp.base+ACSPath {
			t.Fatalf("the IdP posts to %q, want the ACS", action)
		}
		if form.Get("SAMLResponse") == "" {
			t.Fatal("no SAMLResponse")
		}
		return b.post(action, form, strings.TrimSuffix(idp.BaseURL(), "/"))
	}
	t.Run("allowed", func(t *testing.T) {
		t.Parallel()
		sp, idp := sspSP(t, simplesamlidp.Config{}, false, func(c *Config) {
			c.IdPInitiated = func(string) (time.Duration, bool) { return time.Minute, true }
		})
		b := newBrowser(t)
		resp, page := start(sp, idp, b, "/v1/models/half_plus_two:predict")
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("ACS: %d\n%s\nSP log: %s", resp.StatusCode, page, sp.logs)
		}
		mustEqual(t, "RelayState", location(t, resp), sp.base+"/v1/models/half_plus_two:predict")
		code, who := whoamiOf(t, b, sp.base)
		mustEqual(t, "whoami", code, 200)
		mustEqual(t, "email", who.Email, "alice@example.com")
		if !strings.Contains(sp.logs.String(), "idp_initiated=true") {
			t.Errorf("not logged as IdP-initiated: %s", sp.logs)
		}
		b2 := newBrowser(t)
		resp, page = start(sp, idp, b2, "https://evil.example/phish")
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("ACS: %d\n%s\nSP log: %s", resp.StatusCode, page, sp.logs)
		}
		mustEqual(t, "off-site RelayState", location(t, resp), sp.base+"/")
	})
	t.Run("off by default", func(t *testing.T) {
		t.Parallel()
		sp, idp := sspSP(t, simplesamlidp.Config{}, false)
		b := newBrowser(t)
		resp, page := start(sp, idp, b, "/")
		mustEqual(t, "ACS status", resp.StatusCode, http.StatusForbidden)
		mustAdvise(t, page, sp.logs.String(), "IdP-initiated", "idp_initiated: true")
		code, _ := whoamiOf(t, b, sp.base)
		mustEqual(t, "whoami", code, 401)
	})
}

// TestSimpleSAMLphpIdPLogout: IdP-initiated single logout started at
// SimpleSAMLphp (SingleLogoutService.php?ReturnTo=, as its logout link
// does). It sends the browser to tfgate with a signed LogoutRequest
// (HTTP-Redirect); tfgate ends the session and a token minted from it in
// a real Redis store, answers with a signed LogoutResponse, which
// SimpleSAMLphp accepts before sending the browser to ReturnTo.
func TestSimpleSAMLphpIdPLogout(t *testing.T) {
	t.Parallel()
	if err := simplesamlidp.Available(); err != nil {
		t.Fatal(err)
	}
	store, err := session.NewRedis(redistest.Start(t).Client(), session.RedisConfig{Prefix: "tfgate:"})
	if err != nil {
		t.Fatal(err)
	}
	sp, idp := sspSP(t, simplesamlidp.Config{}, true, func(c *Config) { c.Sessions, c.Tokens = store, store })
	b := newBrowser(t)
	if resp, page := sspSignIn(t, sp, idp, b, "alice", "alice-password", "/"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("ACS: %d\n%s\n%s", resp.StatusCode, page, sp.logs)
	}
	u, _ := url.Parse(sp.base)
	var token string
	for _, c := range b.c.Jar.Cookies(u) {
		if c.Name == "tfgate" {
			token = c.Value
		}
	}
	s, err := store.Lookup(t.Context(), token)
	if err != nil {
		t.Fatalf("the session is not in Redis: %v", err)
	}
	if s.SessionIndex == "" {
		t.Error("SimpleSAMLphp's assertion had no SessionIndex")
	}
	// A program's token minted from the session, as the token endpoint
	// mints it (its family is the session's handle).
	child, cs := "tfg_"+strings.Repeat("c", 43), s
	cs.Family = authz.SessionHandle(token)
	if err := store.Create(t.Context(), child, cs); err != nil {
		t.Fatal(err)
	}

	resp, page, err := simplesamlidp.Follow(t.Context(), b.c, idp.SLOURL()+"?ReturnTo="+url.QueryEscape(sp.base+HomePath))
	if err != nil {
		t.Fatal(err)
	}
	loc, _ := resp.Location()
	req := ""
	if loc != nil {
		req = loc.String()
	}
	if !strings.HasPrefix(req, sp.base+LogoutPath+"?SAMLRequest=") {
		t.Fatalf("SimpleSAMLphp sent the browser to %q (%d), want tfgate's logout endpoint with a LogoutRequest\n%s\nIdP log:\n%s", req, resp.StatusCode, page, idp.Log())
	}
	resp, _ = b.get(req)
	answer := location(t, resp)
	if resp.StatusCode != http.StatusFound || !strings.HasPrefix(answer, idp.SLOURL()+"?SAMLResponse=") || !strings.Contains(answer, "&Signature=") {
		t.Fatalf("tfgate answered %d %q\nSP log: %s", resp.StatusCode, answer, sp.logs)
	}
	for _, tok := range []string{token, child} {
		if _, err := store.Lookup(t.Context(), tok); !errors.Is(err, authz.ErrNoSession) {
			t.Errorf("after SimpleSAMLphp's LogoutRequest the store still has a session or token: %v", err)
		}
	}
	code, _ := whoamiOf(t, b, sp.base)
	mustEqual(t, "whoami after the IdP's logout", code, 401)
	// SimpleSAMLphp takes the LogoutResponse and finishes at ReturnTo.
	resp, page, err = simplesamlidp.Follow(t.Context(), b.c, answer)
	if err != nil {
		t.Fatal(err)
	}
	if loc, _ := resp.Location(); loc == nil || loc.String() != sp.base+HomePath {
		t.Errorf("SimpleSAMLphp did not accept the LogoutResponse: %d %v\n%s\nIdP log:\n%s", resp.StatusCode, loc, page, idp.Log())
	}
	if !strings.Contains(sp.logs.String(), "signed out by the IdP") {
		t.Errorf("SP log: %s", sp.logs)
	}
}
