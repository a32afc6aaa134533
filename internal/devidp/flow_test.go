package devidp

import (
	"bytes"
	"encoding/base64"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"
)

// signIn runs the browser part of the flow: GET sso with query, then press
// the button of user. It returns the sign-in page and the auto-post page.
func signIn(t *testing.T, idp *IdP, c *http.Client, query, user string) (loginPage, postPage string) {
	t.Helper()
	resp, loginPage := get(t, c, idp.SSOURL()+"?"+query)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET sso: %d\n%s", resp.StatusCode, loginPage)
	}
	token := FormValue(loginPage, "token")
	if token == "" {
		t.Fatalf("sign-in page has no form token:\n%s", loginPage)
	}
	resp, postPage = postForm(t, c, idp.BaseURL()+LoginPath, url.Values{"token": {token}, "user": {user}})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST login: %d\n%s", resp.StatusCode, postPage)
	}
	return loginPage, postPage
}

func TestHTTPFlow(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	cfg := testConfig(t)
	cfg.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	idp := Start(t, cfg)
	c := browser(t)

	req := authnReq{ID: "_req-1", Destination: idp.SSOURL(), ACS: spACS, Issuer: spEntityID,
		Binding: "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"}
	before := time.Now().Add(-time.Second)
	login, post := signIn(t, idp, c, redirectQuery(t, req.xml(), "state-42", nil), "carol")

	t.Run("sign-in page", func(t *testing.T) {
		for _, want := range []string{
			"Development IdP — not for production", spEntityID,
			"Alice Engineer", "alice@example.com", "ml-engineers",
			"Bob Scientist", "data-scientists", "Carol Vision", "resnet-users", "no groups",
			`name="user" value="alice"`, `name="user" value="dave"`,
		} {
			if !strings.Contains(login, want) {
				t.Errorf("sign-in page lacks %q", want)
			}
		}
	})
	t.Run("auto-post page", func(t *testing.T) {
		for _, want := range []string{`action="` + spACS + `"`, `method="post"`, "<noscript>", ".submit()", "not for production"} {
			if !strings.Contains(post, want) {
				t.Errorf("post page lacks %q", want)
			}
		}
		mustEqual(t, "RelayState", FormValue(post, "RelayState"), "state-42")
	})
	t.Run("response", func(t *testing.T) {
		checkFlowResponse(t, idp, FormValue(post, "SAMLResponse"), before)
	})
	t.Run("logs hold no SAML", func(t *testing.T) {
		b64 := FormValue(post, "SAMLResponse")
		for _, secret := range []string{b64[:40], "Assertion", "SAMLRequest", FormValue(login, "token")} {
			if strings.Contains(logs.String(), secret) {
				t.Errorf("log contains %q:\n%s", secret, logs.String())
			}
		}
	})
}

// checkFlowResponse verifies both signatures of a flow response and checks
// every field an SP checks.
func checkFlowResponse(t *testing.T, idp *IdP, b64 string, before time.Time) {
	t.Helper()
	now := time.Now()
	orig := parseB64(t, b64)
	checkSignaturePlacement(t, orig)
	resp := validate(t, idp.Certificate(), now, orig)
	mustEqual(t, "Response Destination", resp.SelectAttrValue("Destination", ""), spACS)
	mustEqual(t, "Response InResponseTo", resp.SelectAttrValue("InResponseTo", ""), "_req-1")
	mustEqual(t, "Response Issuer", text(t, resp, "./Issuer"), idp.EntityID())
	mustEqual(t, "StatusCode", attr(t, resp, "./Status/StatusCode", "Value"), StatusSuccess)

	a := validate(t, idp.Certificate(), now, resp.FindElement("./Assertion"))
	mustEqual(t, "Assertion Issuer", text(t, a, "./Issuer"), idp.EntityID())
	mustEqual(t, "NameID", text(t, a, "./Subject/NameID"), "carol")
	mustEqual(t, "NameID Format", attr(t, a, "./Subject/NameID", "Format"), NameIDFormatUnspecified)
	mustEqual(t, "Method", attr(t, a, "./Subject/SubjectConfirmation", "Method"), bearerMethod)
	scd := "./Subject/SubjectConfirmation/SubjectConfirmationData"
	mustEqual(t, "Recipient", attr(t, a, scd, "Recipient"), spACS)
	mustEqual(t, "SCD InResponseTo", attr(t, a, scd, "InResponseTo"), "_req-1")
	mustEqual(t, "Audience", text(t, a, "./Conditions/AudienceRestriction/Audience"), spEntityID)

	notBefore := mustTime(t, attr(t, a, "./Conditions", "NotBefore"))
	notAfter := mustTime(t, attr(t, a, "./Conditions", "NotOnOrAfter"))
	if notBefore.Before(before.Truncate(time.Second)) || notBefore.After(now) {
		t.Errorf("NotBefore %v not within the test", notBefore)
	}
	mustEqual(t, "assertion lifetime", notAfter.Sub(notBefore), DefaultAssertionLifetime)
	mustEqual(t, "SCD NotOnOrAfter", attr(t, a, scd, "NotOnOrAfter"), attr(t, a, "./Conditions", "NotOnOrAfter"))
	session := mustTime(t, attr(t, a, "./AuthnStatement", "SessionNotOnOrAfter"))
	mustEqual(t, "session lifetime", session.Sub(notBefore), DefaultSessionLifetime)
	if attr(t, a, "./AuthnStatement", "SessionIndex") == "" {
		t.Error("empty SessionIndex")
	}

	got := attributeValues(a)
	mustEqual(t, "email", strings.Join(got[AttrEmail], ","), "carol@example.com")
	mustEqual(t, "displayName", strings.Join(got[AttrDisplayName], ","), "Carol Vision")
	mustEqual(t, "groups", strings.Join(got[AttrGroups], ","), "resnet-users,ml-engineers")
	friendly := a.FindElement("./AttributeStatement/Attribute[@Name='"+AttrEmail+"']").SelectAttrValue("FriendlyName", "")
	mustEqual(t, "email FriendlyName", friendly, "mail")
}

func TestFlowEmailNameIDAndSignedRequest(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	spKey := loadKey(t, "sp-key.pem")
	spCert, err := selfSigned(spKey, time.Now(), seededRand())
	if err != nil {
		t.Fatal(err)
	}
	cfg.SPs[0].Cert = spCert
	idp := Start(t, cfg)
	req := authnReq{ID: "_req-2", Destination: idp.SSOURL(), Issuer: spEntityID, NameIDFormat: NameIDFormatEmail}
	_, post := signIn(t, idp, browser(t), redirectQuery(t, req.xml(), "", spKey), "bob")

	if strings.Contains(post, `name="RelayState"`) {
		t.Error("post page carries a RelayState the SP never sent")
	}
	resp := validate(t, idp.Certificate(), time.Now(), parseB64(t, FormValue(post, "SAMLResponse")))
	a := validate(t, idp.Certificate(), time.Now(), resp.FindElement("./Assertion"))
	mustEqual(t, "NameID", text(t, a, "./Subject/NameID"), "bob@example.com")
	mustEqual(t, "NameID Format", attr(t, a, "./Subject/NameID", "Format"), NameIDFormatEmail)
	mustEqual(t, "Destination (default ACS)", resp.SelectAttrValue("Destination", ""), spACS)
}

func TestPageHeaders(t *testing.T) {
	t.Parallel()
	idp := Start(t, testConfig(t))
	req := authnReq{ID: "_req-3", Issuer: spEntityID}
	resp, _ := get(t, browser(t), idp.SSOURL()+"?"+redirectQuery(t, req.xml(), "", nil))
	h := resp.Header
	mustEqual(t, "Cache-Control", h.Get("Cache-Control"), "no-store")
	mustEqual(t, "X-Frame-Options", h.Get("X-Frame-Options"), "DENY")
	mustEqual(t, "Referrer-Policy", h.Get("Referrer-Policy"), "no-referrer")
	csp := h.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "form-action 'self'", "script-src 'nonce-"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	cookies := resp.Cookies()
	i := slices.IndexFunc(cookies, func(c *http.Cookie) bool { return c.Name == browserCookie })
	if i < 0 || !cookies[i].HttpOnly || cookies[i].SameSite != http.SameSiteLaxMode {
		t.Errorf("browser cookie missing or not HttpOnly+Lax: %v", cookies)
	}
}

func TestMetadataEndpoint(t *testing.T) {
	t.Parallel()
	idp := Start(t, testConfig(t))
	resp, body := get(t, browser(t), idp.MetadataURL())
	mustEqual(t, "status", resp.StatusCode, http.StatusOK)
	mustEqual(t, "Content-Type", resp.Header.Get("Content-Type"), "application/samlmetadata+xml")
	if !strings.Contains(body, base64.StdEncoding.EncodeToString(idp.Certificate().Raw)) {
		t.Error("metadata lacks the signing certificate")
	}
	if !strings.Contains(body, `entityID="`+idp.BaseURL()+`/saml/idp"`) {
		t.Errorf("metadata entityID is not the default:\n%s", body)
	}
}

// checkSignaturePlacement checks that the Response's and the Assertion's
// signatures come right after their Issuer, as the schema requires.
func checkSignaturePlacement(t *testing.T, resp *etree.Element) {
	t.Helper()
	for _, el := range []*etree.Element{resp, resp.SelectElement("Assertion")} {
		kids := el.ChildElements()
		if len(kids) < 2 || kids[0].Tag != "Issuer" || kids[1].Tag != "Signature" {
			t.Errorf("%s children start %v, want Issuer then Signature", el.Tag, tags(kids))
		}
	}
}

func tags(els []*etree.Element) []string {
	var out []string
	for _, e := range els {
		out = append(out, e.Tag)
	}
	return out
}
