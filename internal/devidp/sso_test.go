package devidp

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha1"
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestSSORequests sends AuthnRequests an SP could send, good and bad, to
// the SSO endpoint. The IdP trusts one SP that signs its requests.
func TestSSORequests(t *testing.T) {
	t.Parallel()
	spKey := loadKey(t, "sp-key.pem")
	otherKey := loadKey(t, "idp-key.pem")
	spCert, err := selfSigned(spKey, time.Now(), seededRand())
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t)
	cfg.SPs = append(cfg.SPs, SP{EntityID: "urn:signing-sp", ACSURLs: []string{"http://127.0.0.1:8090/acs"}, Cert: spCert})
	idp := Start(t, cfg)
	ok := authnReq{ID: "_ok", Destination: idp.SSOURL(), ACS: spACS, Issuer: spEntityID}
	signing := authnReq{ID: "_s", Destination: idp.SSOURL(), Issuer: "urn:signing-sp"}
	with := func(f func(*authnReq)) string {
		r := ok
		f(&r)
		return redirectQuery(t, r.xml(), "", nil)
	}

	tests := map[string]struct {
		query  string
		status int
		want   string // in the page
	}{
		"valid":                 {query: redirectQuery(t, ok.xml(), "rs", nil), status: 200, want: "Choose a user"},
		"no ACS uses default":   {query: with(func(r *authnReq) { r.ACS = "" }), status: 200, want: "Choose a user"},
		"no Destination":        {query: with(func(r *authnReq) { r.Destination = "" }), status: 200},
		"email NameID policy":   {query: with(func(r *authnReq) { r.NameIDFormat = NameIDFormatEmail }), status: 200},
		"signed by its SP":      {query: redirectQuery(t, signing.xml(), "rs", spKey), status: 200},
		"unknown SP":            {query: with(func(r *authnReq) { r.Issuer = "urn:stranger" }), status: 403, want: "unknown service provider"},
		"ACS not allowed":       {query: with(func(r *authnReq) { r.ACS = "http://127.0.0.1:8080/evil" }), status: 403, want: "not allowed"},
		"ACS of another SP":     {query: with(func(r *authnReq) { r.ACS = "http://127.0.0.1:8090/acs" }), status: 403},
		"wrong Destination":     {query: with(func(r *authnReq) { r.Destination = "http://127.0.0.1:1/sso" }), status: 403},
		"artifact binding":      {query: with(func(r *authnReq) { r.Binding = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Artifact" }), status: 400},
		"persistent NameID":     {query: with(func(r *authnReq) { r.NameIDFormat = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent" }), status: 400},
		"no SAMLRequest":        {query: "RelayState=x", status: 400},
		"not base64":            {query: "SAMLRequest=%%%", status: 400},
		"not deflate":           {query: "SAMLRequest=" + url.QueryEscape(base64.StdEncoding.EncodeToString([]byte("<x/>"))), status: 400},
		"not an AuthnRequest":   {query: redirectQuery(t, `<samlp:LogoutRequest xmlns:samlp="`+nsProtocol+`" ID="_x" Version="2.0"/>`, "", nil), status: 400},
		"doctype":               {query: redirectQuery(t, `<!DOCTYPE x [<!ENTITY e "boom">]>`+ok.xml(), "", nil), status: 400},
		"RelayState too long":   {query: redirectQuery(t, ok.xml(), strings.Repeat("r", 81), nil), status: 400, want: "80"},
		"repeated SAMLRequest":  {query: redirectQuery(t, ok.xml(), "", nil) + "&SAMLRequest=x", status: 400},
		"unsigned, SP has cert": {query: redirectQuery(t, signing.xml(), "", nil), status: 403, want: "unsigned"},
		"signed by another key": {query: redirectQuery(t, signing.xml(), "", otherKey), status: 403},
		"signature over other RelayState": {
			query: strings.Replace(redirectQuery(t, signing.xml(), "a", spKey), "RelayState=a", "RelayState=b", 1), status: 403,
		},
		"SHA-1 signature": {query: sha1Query(t, signing.xml(), spKey), status: 403, want: "not accepted"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			resp, body := get(t, browser(t), idp.SSOURL()+"?"+tc.query)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d\n%s", resp.StatusCode, tc.status, body)
			}
			if !strings.Contains(body, tc.want) {
				t.Errorf("page lacks %q:\n%s", tc.want, body)
			}
			if !strings.Contains(body, "not for production") {
				t.Error("page lacks the development banner")
			}
		})
	}
}

// sha1Query signs a redirect query with RSA-SHA1, which the IdP refuses.
func sha1Query(t *testing.T, reqXML string, key *rsa.PrivateKey) string {
	t.Helper()
	q := "SAMLRequest=" + url.QueryEscape(deflate64(t, reqXML)) +
		"&SigAlg=" + url.QueryEscape("http://www.w3.org/2000/09/xmldsig#rsa-sha1")
	sum := sha1.Sum([]byte(q))
	sig, err := rsa.SignPKCS1v15(nil, key, crypto.SHA1, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	return q + "&Signature=" + url.QueryEscape(base64.StdEncoding.EncodeToString(sig))
}

func TestMethodsAndPaths(t *testing.T) {
	t.Parallel()
	idp := Start(t, testConfig(t))
	tests := map[string]struct {
		method, path string
		status       int
	}{
		"POST metadata": {http.MethodPost, MetadataPath, http.StatusMethodNotAllowed},
		"GET login":     {http.MethodGet, LoginPath, http.StatusMethodNotAllowed},
		"unknown path":  {http.MethodGet, "/saml/idp/nope", http.StatusNotFound},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, idp.BaseURL()+tc.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			resp, _ := fetch(t, browser(t), req)
			mustEqual(t, "status", resp.StatusCode, tc.status)
		})
	}
}
