package sp

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/tfgate/tfgate/samlverify"
	"github.com/tfgate/tfgate/samlverify/internal/fixture"
)

// TestLoginGolden pins the AuthnRequest and its redirect URL (clock at
// fixture.T0, a seeded Rand), unsigned and signed.
func TestLoginGolden(t *testing.T) {
	t.Parallel()
	for name, mods := range map[string][]func(*Config, *[]*samlverify.IdP){
		"login_redirect":        nil,
		"login_redirect_signed": {withKey(t), func(c *Config, _ *[]*samlverify.IdP) { c.SignRequests = true }},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, mods...)
			l := e.login(t, "return_to="+url.QueryEscape("/v1/models/half_plus_two/versions/1"))
			golden(t, name, []byte(l.location.String()+"\n"))
			if name == "login_redirect" {
				golden(t, "authn_request", xmlDoc(t, l.xml))
			}
		})
	}
}

// TestAuthnRequest checks each field an IdP reads.
func TestAuthnRequest(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	l := e.login(t, "return_to=/x")
	a := l.xml
	mustEqual(t, "root", a.Tag, "AuthnRequest")
	mustEqual(t, "namespace", a.NamespaceURI(), nsProtocol)
	if id := a.SelectAttrValue("ID", ""); !isRequestID(id) {
		t.Errorf("ID %q is not _ + 32 hex", id)
	}
	mustEqual(t, "Version", a.SelectAttrValue("Version", ""), "2.0")
	mustEqual(t, "IssueInstant", a.SelectAttrValue("IssueInstant", ""), "2026-03-01T12:00:00Z")
	mustEqual(t, "Destination", a.SelectAttrValue("Destination", ""), idpSSO)
	mustEqual(t, "ACS", a.SelectAttrValue("AssertionConsumerServiceURL", ""), fixture.ACSURL)
	mustEqual(t, "ProtocolBinding", a.SelectAttrValue("ProtocolBinding", ""), bindingPOST)
	mustEqual(t, "Issuer", a.SelectElement("Issuer").Text(), fixture.SPEntityID)
	p := a.SelectElement("NameIDPolicy")
	mustEqual(t, "NameIDPolicy Format", p.SelectAttrValue("Format", ""), NameIDFormatUnspecified)
	mustEqual(t, "AllowCreate", p.SelectAttrValue("AllowCreate", ""), "true")
	mustEqual(t, "destination host", l.location.Host, "idp.example.test")
	mustEqual(t, "RelayState", l.relayState, "/x")
	if n := e.store.writes(); n != 0 {
		t.Errorf("login wrote %d entries to the store; it must write none", n)
	}
	b, err := e.h.bindings.open(l.binding.Name, l.binding.Value)
	if err != nil || b.RequestID != l.requestID || b.IdP != fixture.IdPEntityID || b.ReturnTo != "" || !b.Issued.Equal(fixture.T0) {
		t.Errorf("binding cookie %+v (%v)", b, err)
	}
	mustEqual(t, "binding cookie name", l.binding.Name, e.h.bindingCookieName(l.requestID))
	if l.location.Query().Has("Signature") {
		t.Error("signed without a key")
	}
}

// TestBindingCookie pins the binding cookie's attributes in production
// (__Host-, Secure, SameSite=None: the IdP's POST is cross-site) and in
// development over http (no prefix, no Secure, SameSite=Lax).
func TestBindingCookie(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		mods     []func(*Config, *[]*samlverify.IdP)
		name     string
		secure   bool
		sameSite http.SameSite
	}{
		"secure": {nil, "__Host-tfgate-req-", true, http.SameSiteNoneMode},
		"dev":    {[]func(*Config, *[]*samlverify.IdP){insecure}, "tfgate-req-", false, http.SameSiteLaxMode},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, tc.mods...)
			l := e.login(t, "")
			c := l.binding
			mustEqual(t, "name", c.Name, tc.name+strings.TrimPrefix(l.requestID, "_")[:12])
			mustEqual(t, "Secure", c.Secure, tc.secure)
			mustEqual(t, "SameSite", c.SameSite, tc.sameSite)
			mustEqual(t, "HttpOnly", c.HttpOnly, true)
			mustEqual(t, "Path", c.Path, "/")
			mustEqual(t, "Domain", c.Domain, "")
			mustEqual(t, "MaxAge", c.MaxAge, 300)
		})
	}
}

// TestLoginReturnTo covers where return_to travels: RelayState up to 80
// bytes, the binding cookie beyond; refused values never reach the IdP.
func TestLoginReturnTo(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	short := "/v1/models/" + strings.Repeat("m", maxRelayState-len("/v1/models/"))
	long := short + "x"
	l := e.login(t, "return_to="+url.QueryEscape(short))
	mustEqual(t, "80-byte RelayState", l.relayState, short)
	l = e.login(t, "return_to="+url.QueryEscape(long))
	if l.location.Query().Has("RelayState") {
		t.Error("RelayState over 80 bytes sent")
	}
	b, _ := e.h.bindings.open(l.binding.Name, l.binding.Value)
	mustEqual(t, "cookie return_to", b.ReturnTo, long)
	l = e.login(t, "")
	mustEqual(t, "default RelayState", l.relayState, "/")

	for _, bad := range []string{"//evil.example", "https://evil.example/", "/\\evil", "/saml/login", "javascript:alert(1)"} {
		rec := e.do(httptest.NewRequest("GET", LoginPath+"?return_to="+url.QueryEscape(bad), nil))
		if rec.Code != http.StatusBadRequest || rec.Header().Get("Location") != "" || len(rec.Result().Cookies()) != 0 {
			t.Errorf("return_to %q: %d %v", bad, rec.Code, rec.Header())
		}
		if strings.Contains(rec.Body.String(), "evil") {
			t.Errorf("error page echoes return_to %q", bad)
		}
	}
}

func TestLoginChoosesIdP(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tests := map[string]struct {
		query  string
		status int
		host   string
	}{
		"default":            {"", http.StatusFound, "idp.example.test"},
		"short name":         {"idp=other", http.StatusFound, "other-idp.example.test"},
		"entity ID":          {"idp=" + url.QueryEscape("https://other-idp.example.test"), http.StatusFound, "other-idp.example.test"},
		"unknown name":       {"idp=nope", http.StatusBadRequest, ""},
		"name of an unknown": {"idp=" + url.QueryEscape("https://evil.example"), http.StatusBadRequest, ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			rec := e.do(httptest.NewRequest("GET", LoginPath+"?"+tc.query, nil))
			mustEqual(t, "status", rec.Code, tc.status)
			if tc.host == "" {
				return
			}
			loc, _ := url.Parse(rec.Header().Get("Location"))
			mustEqual(t, "host", loc.Host, tc.host)
			c := bindingCookieIn(rec.Result().Cookies(), e.h.cfg.CookieName)
			b, _ := e.h.bindings.open(c.Name, c.Value)
			mustEqual(t, "binding IdP", b.IdP == fixture.IdPEntityID, tc.host == "idp.example.test")
		})
	}
	// An SSO URL with a query keeps it and appends the binding's.
	rec := e.do(httptest.NewRequest("GET", LoginPath+"?idp=other", nil))
	if loc := rec.Header().Get("Location"); !strings.HasPrefix(loc, "https://other-idp.example.test/sso?tenant=7&SAMLRequest=") {
		t.Errorf("Location %q", loc)
	}
}

func TestLoginUnusableIdP(t *testing.T) {
	t.Parallel()
	noRedirect := func(_ *Config, idps *[]*samlverify.IdP) { (*idps)[0].SSORedirectURL = "" }
	wantsSigned := func(_ *Config, idps *[]*samlverify.IdP) { (*idps)[0].WantAuthnRequestsSigned = true }
	for name, mods := range map[string][]func(*Config, *[]*samlverify.IdP){
		"no redirect SSO":             {noRedirect},
		"wants signed, SP has no key": {wantsSigned},
	} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, mods...)
			rec := e.do(httptest.NewRequest("GET", LoginPath, nil))
			if rec.Code != http.StatusInternalServerError || !strings.Contains(rec.Body.String(), "misconfigured") {
				t.Errorf("%d\n%s", rec.Code, rec.Body)
			}
			if !strings.Contains(e.logs.String(), "reason=idp_unusable") {
				t.Errorf("log: %s", e.logs)
			}
		})
	}
	// With a key, an IdP that wants signed requests gets them.
	e := newEnv(t, wantsSigned, withKey(t))
	l := e.login(t, "")
	checkRedirectSignature(t, e, l.location)
}

// TestSignedRequest verifies the redirect-binding signature the way an IdP
// does: over the encoded parameters as they appear in the URL.
func TestSignedRequest(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withKey(t), func(c *Config, _ *[]*samlverify.IdP) { c.SignRequests = true })
	l := e.login(t, "return_to="+url.QueryEscape("/a?b=c%2Fd&e=~"))
	checkRedirectSignature(t, e, l.location)
}

func checkRedirectSignature(t *testing.T, e *env, loc *url.URL) {
	t.Helper()
	q := loc.Query()
	mustEqual(t, "SigAlg", q.Get("SigAlg"), SigAlgRSASHA256)
	raw := loc.RawQuery
	signed, _, _ := strings.Cut(raw, "&Signature=")
	sig, err := base64.StdEncoding.DecodeString(q.Get("Signature"))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(signed))
	if err := rsaVerify(e, sum[:], sig); err != nil {
		t.Errorf("signature over %q does not verify: %v", signed, err)
	}
}

func rsaVerify(e *env, digest, sig []byte) error {
	return rsa.VerifyPKCS1v15(e.cfg.Cert.PublicKey.(*rsa.PublicKey), crypto.SHA256, digest, sig)
}

// TestLoginStoresNothing (issue 8 item 1): /saml/login writes nothing to
// the session store, so an anonymous flood of it can displace nobody's
// state, and it works while the store is down. (Before, each call
// remembered its request ID in the store, in the same bounded table as
// the CLI's authorization codes.)
func TestLoginStoresNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for range 1000 {
		e.login(t, "return_to=/m")
	}
	mustEqual(t, "store entries after 1000 logins", e.store.writes(), 0)
	for _, m := range []string{"Remember", "Create", "SeenBefore", "Consume"} {
		e.store.failing(m, errStore)
	}
	rec := e.do(httptest.NewRequest("GET", LoginPath, nil))
	if rec.Code != http.StatusFound || bindingCookieIn(rec.Result().Cookies(), e.h.cfg.CookieName) == nil {
		t.Errorf("login with the store down: %d %v", rec.Code, rec.Header())
	}
}
