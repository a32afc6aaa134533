package sp

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"

	"github.com/tfgate/tfgate/internal/devidp"
	"github.com/tfgate/tfgate/internal/pysaml2idp"
)

// serveAll serves the SP and its token endpoint on ln, as cmd/extauthz
// mounts them, until the test ends.
func (s *liveSP) serveAll(t *testing.T, ln net.Listener) {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle("/saml/", s.h)
	mux.Handle(TokenPath, s.h.TokenHandler())
	mux.Handle(RevokePath, s.h.TokenHandler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Shutdown(context.Background()) })
}

// postToken posts form to the live token endpoint and returns the status
// and the decoded JSON.
func postToken(t *testing.T, base string, form url.Values) (int, map[string]any) {
	t.Helper()
	resp, err := http.PostForm(base+TokenPath, form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatalf("token endpoint answered %d, not JSON: %v", resp.StatusCode, err)
	}
	return resp.StatusCode, m
}

// bearerGrant is the RFC 7522 form for an assertion's XML text.
func bearerGrant(xmlText string) url.Values {
	return url.Values{"grant_type": {GrantSAML2Bearer}, "assertion": {base64.RawURLEncoding.EncodeToString([]byte(xmlText))}}
}

// expectGrant checks a token endpoint answer: 200 with tokens when want is
// "", else HTTP 400 with error invalid_grant and a description mentioning
// want.
func expectGrant(t *testing.T, name string, status int, m map[string]any, want string) {
	t.Helper()
	if want == "" {
		if status != 200 || !strings.HasPrefix(m["access_token"].(string), "tfg_") {
			t.Errorf("%s: %d %v", name, status, m)
		}
		return
	}
	desc, _ := m["error_description"].(string)
	if status != 400 || m["error"] != errInvalidGrant || !strings.Contains(desc, want) {
		t.Errorf("%s: %d %v, want invalid_grant mentioning %q", name, status, m, want)
	}
}

// TestTokenSAMLBearerPysaml2 exchanges bare assertions signed by Debian's
// pysaml2 (built by pysaml2, signed by libxmlsec1) at the live token
// endpoint, and refuses the ones RFC 7522 says to refuse.
func TestTokenSAMLBearerPysaml2(t *testing.T) {
	t.Parallel()
	if err := pysaml2idp.Available(); err != nil {
		t.Fatal(err) // the error says: apt-get install -y python3-pysaml2 xmlsec1
	}
	ln, base := listenSP(t)
	placeholder := newLiveSP(t, base, idpSetFrom(t, mustDevMetadata(t)), nil)
	idp := pysaml2idp.New(t, pysaml2idp.Config{SPMetadata: placeholder.h.Metadata(), SessionLifetime: 2 * time.Hour})
	sp := newLiveSP(t, base, idpSetFrom(t, idp.Metadata()), nil)
	sp.serveAll(t, ln)
	tokenURL := base + TokenPath
	alice := pysaml2idp.User{ID: "alice", Name: "Alice Engineer", Email: "alice@example.com", Groups: []string{"ml-engineers"}}

	good, err := idp.Assertion(alice, pysaml2idp.AssertionOptions{Audience: tokenURL})
	if err != nil {
		t.Fatal(err)
	}
	status, m := postToken(t, base, bearerGrant(good))
	expectGrant(t, "pysaml2 assertion", status, m, "")
	if status == 200 {
		s, ok := sp.store.session(m["access_token"].(string))
		if !ok || s.Subject != "alice" || strings.Join(s.Groups, ",") != "ml-engineers" || s.Email != "alice@example.com" || s.IdP != idp.EntityID() {
			t.Errorf("token session %+v", s)
		}
		if d := time.Until(s.ExpiresAt); d < 59*time.Minute || d > time.Hour {
			t.Errorf("access token lasts %v, want 1h", d)
		}
		rec, _ := sp.store.session(refreshRecordKey(m["refresh_token"].(string)))
		if d := time.Until(rec.ExpiresAt); d < 119*time.Minute || d > 2*time.Hour {
			t.Errorf("refresh token lasts %v, want the assertion's SessionNotOnOrAfter (2h)", d)
		}
	}
	status, m = postToken(t, base, bearerGrant(good))
	expectGrant(t, "replayed", status, m, "used before")

	// The SP's entity ID is an audience too.
	spAudience, err := idp.Assertion(alice, pysaml2idp.AssertionOptions{Audience: base + MetadataPath, Recipient: tokenURL})
	if err != nil {
		t.Fatal(err)
	}
	status, m = postToken(t, base, bearerGrant(spAudience))
	expectGrant(t, "SP entity ID as audience", status, m, "")

	wrongAudience, err := idp.Assertion(alice, pysaml2idp.AssertionOptions{Audience: "https://other.example/token", Recipient: tokenURL})
	if err != nil {
		t.Fatal(err)
	}
	status, m = postToken(t, base, bearerGrant(wrongAudience))
	expectGrant(t, "wrong audience", status, m, "Audience must name this server")

	wrongRecipient, err := idp.Assertion(alice, pysaml2idp.AssertionOptions{Audience: tokenURL, Recipient: base + ACSPath})
	if err != nil {
		t.Fatal(err)
	}
	status, m = postToken(t, base, bearerGrant(wrongRecipient))
	expectGrant(t, "wrong recipient", status, m, tokenURL)

	sha1, err := idp.Assertion(alice, pysaml2idp.AssertionOptions{Audience: tokenURL, SigAlg: pysaml2idp.SigRSASHA1, DigestAlg: pysaml2idp.DigestSHA1})
	if err != nil {
		t.Fatal(err)
	}
	status, m = postToken(t, base, bearerGrant(sha1))
	expectGrant(t, "SHA-1 signature", status, m, "SHA-1")

	// A Response signed only at its own level: the Assertion inside is not
	// signed, so neither it alone nor the Response is a bearer assertion.
	respLoc := loginRedirect(t, base)
	samlResponse, err := idp.Respond(respLoc, alice, pysaml2idp.ResponseOptions{UnsignedAssertion: true})
	if err != nil {
		t.Fatal(err)
	}
	respXML, err := base64.StdEncoding.DecodeString(samlResponse)
	if err != nil {
		t.Fatal(err)
	}
	status, m = postToken(t, base, bearerGrant(string(respXML)))
	expectGrant(t, "a whole Response", status, m, "not a Response")
	status, m = postToken(t, base, bearerGrant(assertionOf(t, respXML)))
	expectGrant(t, "assertion of a Response-signed Response", status, m, "must be signed")

	// Tampered after signing.
	status, m = postToken(t, base, bearerGrant(strings.Replace(mustAssertion(t, idp, alice, tokenURL), ">alice<", ">mallory<", 1)))
	expectGrant(t, "tampered", status, m, "signature")
	if strings.Contains(sp.logs.String(), "alice") {
		t.Error("the log names the subject")
	}
}

func mustAssertion(t *testing.T, idp *pysaml2idp.IdP, u pysaml2idp.User, audience string) string {
	t.Helper()
	a, err := idp.Assertion(u, pysaml2idp.AssertionOptions{Audience: audience})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// loginRedirect starts a sign-in at the live SP and returns the redirect
// to the IdP.
func loginRedirect(t *testing.T, base string) string {
	t.Helper()
	b := newBrowser(t)
	resp, _ := b.get(base + LoginPath)
	return location(t, resp)
}

// assertionOf returns the Assertion of a Response document as a document
// of its own, carrying the namespace declarations it inherited (pysaml2's
// Assertion declares none itself).
func assertionOf(t *testing.T, respXML []byte) string {
	t.Helper()
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(respXML); err != nil {
		t.Fatal(err)
	}
	root := doc.Root()
	var a *etree.Element
	for _, c := range root.ChildElements() {
		if c.Tag == "Assertion" {
			a = c.Copy()
		}
	}
	if a == nil {
		t.Fatal("no Assertion in the Response")
	}
	for _, at := range root.Attr {
		if at.Space == "xmlns" || at.Key == "xmlns" {
			a.CreateAttr(at.FullKey(), at.Value)
		}
	}
	out := etree.NewDocument()
	out.SetRoot(a)
	s, err := out.WriteToString()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestTokenSAMLBearerDevIdP exchanges the development IdP's bare
// assertions, with its refusals, then refreshes and revokes over HTTP.
func TestTokenSAMLBearerDevIdP(t *testing.T) {
	t.Parallel()
	ln, base := listenSP(t)
	tokenURL := base + TokenPath
	idp := devidp.Start(t, devidp.Config{SPs: []devidp.SP{{EntityID: base + MetadataPath, ACSURLs: []string{base + ACSPath}}}})
	md, err := idp.Metadata()
	if err != nil {
		t.Fatal(err)
	}
	sp := newLiveSP(t, base, idpSetFrom(t, md), nil)
	sp.serveAll(t, ln)
	carol := devidp.DefaultUsers()[2]
	bare := func(mod func(*devidp.ResponseOptions)) string {
		t.Helper()
		opts := devidp.ResponseOptions{User: carol, ACSURL: tokenURL}
		if mod != nil {
			mod(&opts)
		}
		x, _, err := idp.NewAssertion(opts)
		if err != nil {
			t.Fatal(err)
		}
		return x
	}
	good := bare(nil)
	status, m := postToken(t, base, bearerGrant(good))
	expectGrant(t, "devidp assertion (audience: the SP)", status, m, "")
	refresh, _ := m["refresh_token"].(string)
	status, m = postToken(t, base, bearerGrant(bare(func(o *devidp.ResponseOptions) { o.Audience = tokenURL })))
	expectGrant(t, "devidp assertion (audience: the token URL)", status, m, "")

	now := time.Now()
	for name, tc := range map[string]struct {
		assertion, want string
	}{
		"replayed":         {good, "used before"},
		"unsigned":         {bare(func(o *devidp.ResponseOptions) { o.UnsignedAssertion = true }), "must be signed"},
		"wrong audience":   {bare(func(o *devidp.ResponseOptions) { o.Audience = "urn:someone-else" }), "Audience"},
		"wrong recipient":  {bare(func(o *devidp.ResponseOptions) { o.ACSURL = base + ACSPath }), "Recipient"},
		"expired":          {bare(func(o *devidp.ResponseOptions) { o.IssueInstant = now.Add(-time.Hour) }), "expired"},
		"unknown issuer":   {bare(func(o *devidp.ResponseOptions) { o.Issuer = "urn:fake-idp" }), "trusted IdP"},
		"session over":     {bare(func(o *devidp.ResponseOptions) { o.SessionNotOnOrAfter = now.Add(-time.Minute) }), "has ended"},
		"not valid yet":    {bare(func(o *devidp.ResponseOptions) { o.NotBefore = now.Add(time.Hour) }), "not valid yet"},
		"a whole response": {mustResponse(t, idp, carol, tokenURL), "not a Response"},
	} {
		status, m := postToken(t, base, bearerGrant(tc.assertion))
		expectGrant(t, name, status, m, tc.want)
	}

	// Refresh and revoke over HTTP.
	status, m = postToken(t, base, url.Values{"grant_type": {GrantRefreshToken}, "refresh_token": {refresh}, "scope": {"model:half_plus_two:predict"}})
	if status != 200 || m["scope"] != "model:half_plus_two:predict" {
		t.Fatalf("refresh: %d %v", status, m)
	}
	access := m["access_token"].(string)
	resp, err := http.PostForm(base+RevokePath, url.Values{"token": {m["refresh_token"].(string)}, "token_type_hint": {"refresh_token"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("revoke: %d", resp.StatusCode)
	}
	if _, ok := sp.store.session(access); ok {
		t.Error("the access token survived revoking its refresh token")
	}
}

func mustResponse(t *testing.T, idp *devidp.IdP, u devidp.User, tokenURL string) string {
	t.Helper()
	x, _, err := idp.NewResponse(devidp.ResponseOptions{User: u, ACSURL: tokenURL})
	if err != nil {
		t.Fatal(err)
	}
	return x
}
