package main

import (
	"encoding/json"
	"encoding/pem"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tfgate/tfgate/internal/devidp"
)

func TestSAMLConfigErrors(t *testing.T) {
	dir := t.TempDir()
	md := filepath.Join(dir, "idp.xml")
	if err := os.WriteFile(md, []byte("<x/>"), 0o600); err != nil {
		t.Fatal(err)
	}
	key, cert := writeKeyPair(t, dir)
	ok := "saml:\n  base_url: https://serving.example.com\n  idps:\n    - name: corp\n      metadata_file: " + md + "\n"
	tests := map[string]struct {
		yaml string
		want []string
	}{
		"idps without base_url": {"saml:\n  idps:\n    - name: corp\n      metadata_file: " + md + "\n",
			[]string{"saml.base_url", "required when idps are set"}},
		"unknown field in an idp": {"saml:\n  base_url: https://a.example\n  idps:\n    - name: corp\n      metdata_url: https://x\n",
			[]string{`line 5: unknown field "metdata_url" in saml.idps[0]`, "known: name, metadata_file, metadata_url"}},
		"both sources": {"saml:\n  base_url: https://a.example\n  idps:\n    - name: corp\n      metadata_file: " + md + "\n      metadata_url: https://idp.example/md\n",
			[]string{"line 4: saml.idps[0]: needs exactly one of metadata_file and metadata_url"}},
		"no source": {"saml:\n  base_url: https://a.example\n  idps:\n    - name: corp\n",
			[]string{"line 4: saml.idps[0]: needs exactly one"}},
		"http metadata URL": {"saml:\n  base_url: https://a.example\n  idps:\n    - name: corp\n      metadata_url: http://idp.example/md\n",
			[]string{"line 5: saml.idps[0].metadata_url", "must be an https URL"}},
		"missing metadata file": {"saml:\n  base_url: https://a.example\n  idps:\n    - name: corp\n      metadata_file: /nonexistent/idp.xml\n",
			[]string{"line 5: saml.idps[0].metadata_file"}},
		"bad name and duplicate": {ok + "    - name: corp\n      metadata_file: " + md + "\n    - name: Bad Name\n      metadata_file: " + md + "\n",
			[]string{`line 6: saml.idps[1].name: "corp" is used twice`, `line 8: saml.idps[2].name: "Bad Name"`}},
		"two defaults": {ok + "      default: true\n    - name: b\n      metadata_file: " + md + "\n      default: true\n",
			[]string{"saml.idps: only one IdP can be the default"}},
		"bad pin": {ok + "      metadata_pins: [\"abcd\"]\n",
			[]string{"line 6: saml.idps[0].metadata_pins", "not a SHA-256 fingerprint"}},
		"short refresh": {ok + "      refresh_interval: 10s\n",
			[]string{"line 6: saml.idps[0].refresh_interval"}},
		"idp-initiated max age too long": {ok + "      idp_initiated: true\n      idp_initiated_max_age: 1h\n",
			[]string{"line 7: saml.idps[0].idp_initiated_max_age: must be between 30s and 10m"}},
		"form cap under 3 x response cap": {"saml:\n  max_response_bytes: 262144\n  max_form_bytes: 300000\n",
			[]string{"line 3: saml.max_form_bytes: must be at least 3 × max_response_bytes"}},
		"tiny response cap":       {"saml:\n  max_response_bytes: 100\n", []string{"line 2: saml.max_response_bytes"}},
		"token lifetime zero":     {"saml:\n  token_lifetime: 0s\n", []string{"line 2: saml.token_lifetime: must be between 1m and 24h"}},
		"token lifetime too long": {"saml:\n  token_lifetime: 48h\n", []string{"line 2: saml.token_lifetime"}},
		"refresh shorter than access": {"saml:\n  token_lifetime: 1h\n  refresh_lifetime: 30m\n",
			[]string{"line 3: saml.refresh_lifetime: must be 0 (until the sign-in ends) or at least token_lifetime"}},
		"negative refresh":   {"saml:\n  refresh_lifetime: -1h\n", []string{"line 2: saml.refresh_lifetime"}},
		"no rotations":       {"saml:\n  max_rotations_per_minute: 0\n", []string{"line 2: saml.max_rotations_per_minute: must be between 1 and 600"}},
		"too many rotations": {"saml:\n  max_rotations_per_minute: 601\n", []string{"line 2: saml.max_rotations_per_minute: must be between 1 and 600"}},
		"http base_url off loopback": {"sessions:\n  cookie_name: tfgate\nsaml:\n  base_url: http://serving.example.com\n",
			[]string{"line 4: saml.base_url: http is only for development on a loopback host"}},
		"http base_url with __Host- cookie": {"saml:\n  base_url: http://127.0.0.1:8080\n",
			[]string{"sessions.cookie_name", "needs Secure cookies"}},
		"https base_url with a plain cookie": {"sessions:\n  cookie_name: tfgate\nsaml:\n  base_url: https://a.example\n",
			[]string{"line 2: sessions.cookie_name", "must start with __Host-"}},
		"base_url with a path": {"saml:\n  base_url: https://a.example/tfgate\n",
			[]string{"line 2: saml.base_url"}},
		"key without cert": {"saml:\n  key_file: " + key + "\n", []string{"line 2: saml.key_file: key_file and cert_file go together"}},
		"cert of another key": {"saml:\n  key_file: " + key + "\n  cert_file: " + writeOtherCert(t, dir) + "\n",
			[]string{"line 2: saml.key_file", "is not the certificate of"}},
		"sign without key": {"saml:\n  sign_requests: true\n", []string{"line 2: saml.sign_requests: needs key_file"}},
		"return host with scheme": {"saml:\n  return_to_hosts: [\"https://a.example\"]\n",
			[]string{"line 2: saml.return_to_hosts", "not host or host:port"}},
		"zero request_ttl": {"saml:\n  request_ttl: 0s\n", []string{"line 2: saml.request_ttl: must be positive"}},
		"huge skew":        {"saml:\n  skew: 1h\n", []string{"line 2: saml.skew"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := ParseConfig("c.yaml", []byte(tc.yaml), noEnv)
			if err == nil {
				t.Fatal("want an error, got none")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
	t.Run("valid", func(t *testing.T) {
		y := "sessions:\n  cookie_name: __Host-sso\nsaml:\n  base_url: https://serving.example.com/\n  key_file: " + key + "\n  cert_file: " + cert +
			"\n  sign_requests: true\n  return_to_hosts: [notebooks.example.com, \"apps.example.com:8443\"]\n  idps:\n    - name: corp\n      metadata_url: https://idp.example.com/md\n" +
			"      metadata_pins: [\"" + strings.Repeat("AB:", 31) + "AB\"]\n      cache_file: " + filepath.Join(dir, "cache.xml") + "\n      refresh_interval: 30m\n" +
			"    - name: dev\n      metadata_file: " + md + "\n      default: true\n"
		cfg, err := ParseConfig("c.yaml", []byte(y), noEnv)
		if err != nil {
			t.Fatal(err)
		}
		if !cfg.SAML.Enabled() || len(cfg.SAML.IdPs) != 2 || !cfg.SAML.IdPs[1].Default || cfg.SAML.IdPs[0].RefreshInterval != 30*time.Minute {
			t.Errorf("parsed %+v", cfg.SAML)
		}
	})
}

// writeKeyPair writes an RSA key (PKCS#1) and certificate for the SP.
func writeKeyPair(t *testing.T, dir string) (keyFile, certFile string) {
	t.Helper()
	keyFile, certFile = filepath.Join(dir, "sp-key.pem"), filepath.Join(dir, "sp-cert.pem")
	copyFile(t, "../../samlverify/sp/testdata/sp-key.pem", keyFile)
	copyFile(t, "../../samlverify/sp/testdata/sp-cert.pem", certFile)
	return keyFile, certFile
}

// writeOtherCert writes a certificate of some other key.
func writeOtherCert(t *testing.T, dir string) string {
	t.Helper()
	idp, err := devidp.New(devidp.Config{BaseURL: "http://127.0.0.1:1", SPs: []devidp.SP{{EntityID: "x", ACSURLs: []string{"http://127.0.0.1:1/a"}}}})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "other.pem")
	pemCert := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: idp.Certificate().Raw})
	if err := os.WriteFile(path, pemCert, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestServeSAML runs the real serve command with the development IdP's
// metadata in a file and signs a browser in through it.
func TestServeSAML(t *testing.T) {
	f := newSAMLServe(t)
	port, base, idp := f.port, f.base, f.idp
	_, addr, _ := startServe(t, f.config(port, "  token_lifetime: 10m\n", ""))
	if addr != "127.0.0.1:"+port {
		t.Fatalf("listening on %s", addr)
	}

	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp := mustDo(t, c, "GET", base+"/saml/login?idp=dev&return_to=%2Fv1%2Fmodels%2Fm", nil)
	loc := resp.Header.Get("Location")
	if resp.StatusCode != 302 || !strings.HasPrefix(loc, idp.SSOURL()+"?SAMLRequest=") {
		t.Fatalf("login: %d %q", resp.StatusCode, loc)
	}
	page := body(t, mustDo(t, c, "GET", loc, nil))
	form := hiddenInputs(page)
	form.Set("user", "alice")
	page = body(t, mustDo(t, c, "POST", idp.BaseURL()+devidp.LoginPath, form))
	resp = mustDo(t, c, "POST", base+"/saml/acs", hiddenInputs(page))
	if resp.StatusCode != 303 || resp.Header.Get("Location") != "/v1/models/m" {
		t.Fatalf("ACS: %d %q\n%s", resp.StatusCode, resp.Header.Get("Location"), body(t, resp))
	}
	var who struct{ Subject, Auth string }
	if err := json.Unmarshal([]byte(body(t, mustDo(t, c, "GET", base+"/saml/whoami", nil))), &who); err != nil || who.Subject != "alice" || who.Auth != "cookie" {
		t.Errorf("whoami: %+v %v", who, err)
	}
	resp = mustDo(t, c, "GET", base+"/saml/metadata", nil)
	if resp.StatusCode != 200 || !strings.Contains(body(t, resp), `entityID="`+base+`/saml/metadata"`) {
		t.Errorf("metadata: %d", resp.StatusCode)
	}

	// The token endpoint is mounted and configured: an RFC 7522 assertion
	// for base/token gets a token of saml.token_lifetime, and revoking it
	// works.
	_, assertion, err := idp.NewAssertion(devidp.ResponseOptions{User: devidp.DefaultUsers()[0], ACSURL: base + "/token"})
	if err != nil {
		t.Fatal(err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int64  `json:"expires_in"`
	}
	resp = mustDo(t, c, "POST", base+"/token", url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:saml2-bearer"}, "assertion": {assertion}})
	if err := json.Unmarshal([]byte(body(t, resp)), &tok); err != nil || resp.StatusCode != 200 || tok.ExpiresIn != 600 {
		t.Fatalf("token: %d %+v %v", resp.StatusCode, tok, err)
	}
	req, _ := http.NewRequest("GET", base+"/saml/whoami", nil)
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 {
		t.Fatalf("whoami with the token: %v %v", resp, err)
	}
	if resp := mustDo(t, c, "POST", base+"/token/revoke", url.Values{"token": {tok.AccessToken}}); resp.StatusCode != 200 {
		t.Errorf("revoke: %d", resp.StatusCode)
	}
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 401 {
		t.Errorf("whoami with the revoked token: %v %v", resp, err)
	}

	// IdP-initiated single logout reaches the store serve wired
	// (sp.Config.SingleLogout): the IdP's signed LogoutRequest ends the
	// browser session, and the browser goes back to the IdP.
	baseURL, _ := url.Parse(base)
	var session string
	for _, ck := range jar.Cookies(baseURL) {
		if ck.Name == "tfgate" {
			session = ck.Value
		}
	}
	logout, err := idp.LogoutRedirectURL(devidp.LogoutOptions{Destination: base + "/saml/logout", NameID: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	resp = mustDo(t, c, "GET", logout, nil)
	if loc := resp.Header.Get("Location"); resp.StatusCode != 302 || !strings.HasPrefix(loc, idp.SLOURL()+"?SAMLResponse=") {
		t.Fatalf("IdP-initiated logout: %d %q\n%s", resp.StatusCode, loc, body(t, resp))
	}
	req, _ = http.NewRequest("GET", base+"/saml/whoami", nil)
	req.AddCookie(&http.Cookie{Name: "tfgate", Value: session})
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 401 {
		t.Errorf("whoami with the session the IdP ended: %v %v", resp, err)
	}
}

// TestServeSAMLUnconfigured: without idps the SP says so with a 503.
func TestServeSAMLUnconfigured(t *testing.T) {
	_, addr, _ := startServe(t, "listen:\n  grpc: 127.0.0.1:0\n  http: 127.0.0.1:0\n  shutdown_timeout: 2s\ndecision_log:\n  path: off\n")
	resp, err := http.Get("http://" + addr + "/saml/login?return_to=%2F")
	if err != nil {
		t.Fatal(err)
	}
	if b := body(t, resp); resp.StatusCode != 503 || !strings.Contains(b, "No identity provider is configured") {
		t.Errorf("%d\n%s", resp.StatusCode, b)
	}
	// /token says why there are no tokens, in RFC 6749 terms.
	resp, err = http.PostForm("http://"+addr+"/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"tfr_x"}})
	if err != nil {
		t.Fatal(err)
	}
	var oe struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	if err := json.Unmarshal([]byte(body(t, resp)), &oe); err != nil || resp.StatusCode != 400 ||
		oe.Error != "unsupported_grant_type" || !strings.Contains(oe.Description, "saml.idps") {
		t.Errorf("token without an IdP: %d %+v %v", resp.StatusCode, oe, err)
	}
}

// TestServeSAMLBadMetadata: metadata that does not load stops the server
// at start, with an error naming the IdP.
func TestServeSAMLBadMetadata(t *testing.T) {
	dir := t.TempDir()
	mdFile := filepath.Join(dir, "bad.xml")
	if err := os.WriteFile(mdFile, []byte("<EntityDescriptor/>"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfgFile := filepath.Join(dir, "c.yaml")
	y := "listen:\n  grpc: 127.0.0.1:0\n  http: 127.0.0.1:0\ndecision_log:\n  path: off\nsaml:\n  base_url: https://serving.example.com\n  idps:\n    - name: corp\n      metadata_file: " + mdFile + "\n"
	if err := os.WriteFile(cfgFile, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errOut strings.Builder
	code := run(t.Context(), []string{"serve", "--config", cfgFile}, &out, &errOut)
	if code != 1 || !strings.Contains(errOut.String(), `saml.idps "corp"`) || !strings.Contains(errOut.String(), "bad.xml") {
		t.Errorf("exit %d, stderr: %s", code, errOut.String())
	}
}

// samlServe is the development IdP for an SP whose base URL is on a free
// loopback port, with the IdP's metadata in a file: what every test that
// runs serve with SAML starts from.
type samlServe struct {
	port, base, mdFile string
	idp                *devidp.IdP
}

// newSAMLServe starts the IdP; extraACS are more ACS paths (such as
// "/token") the IdP may answer to besides /saml/acs.
func newSAMLServe(t *testing.T, extraACS ...string) samlServe {
	t.Helper()
	f := samlServe{port: freePort(t)}
	f.base = "http://127.0.0.1:" + f.port
	acs := []string{f.base + "/saml/acs"}
	for _, p := range extraACS {
		acs = append(acs, f.base+p)
	}
	f.idp = devidp.Start(t, devidp.Config{SPs: []devidp.SP{{EntityID: f.base + "/saml/metadata", ACSURLs: acs}}})
	md, err := f.idp.Metadata()
	if err != nil {
		t.Fatal(err)
	}
	f.mdFile = filepath.Join(t.TempDir(), "devidp.xml")
	if err := os.WriteFile(f.mdFile, md, 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// config is a serve config listening for HTTP on port with the IdP as
// "dev"; samlExtra lines go under saml: and idpExtra under the IdP (each
// indented to its place and ending in a newline).
func (f samlServe) config(port, samlExtra, idpExtra string) string {
	return fmt.Sprintf("listen:\n  grpc: 127.0.0.1:0\n  http: 127.0.0.1:%s\n  shutdown_timeout: 2s\ndecision_log:\n  path: off\n"+
		"sessions:\n  cookie_name: tfgate\nsaml:\n  base_url: %s\n%s  idps:\n    - name: dev\n      metadata_file: %s\n%s", port, f.base, samlExtra, f.mdFile, idpExtra)
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port
}

func mustDo(t *testing.T, c *http.Client, method, u string, form url.Values) *http.Response {
	t.Helper()
	var r io.Reader
	if form != nil {
		r = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, u, r)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func body(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

var hiddenRE = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)

// hiddenInputs returns a page's hidden form fields.
func hiddenInputs(page string) url.Values {
	v := url.Values{}
	for _, m := range hiddenRE.FindAllStringSubmatch(page, -1) {
		v.Add(html.UnescapeString(m[1]), html.UnescapeString(m[2]))
	}
	return v
}

// TestServeSAMLIdPInitiatedAndCaps: idp_initiated and the size caps of
// the YAML reach the SP: the dev IdP's unsolicited Response signs alice in
// and lands on its RelayState path, while the caps refuse larger forms and
// responses, naming the setting to change.
func TestServeSAMLIdPInitiatedAndCaps(t *testing.T) {
	f := newSAMLServe(t)
	base, idp := f.base, f.idp
	startServe(t, f.config(f.port, "  max_response_bytes: 16384\n  max_form_bytes: 49152\n",
		"      idp_initiated: true\n      idp_initiated_max_age: 1m\n"))
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	_, samlResponse, err := idp.NewResponse(devidp.ResponseOptions{User: devidp.DefaultUsers()[0]})
	if err != nil {
		t.Fatal(err)
	}
	resp := mustDo(t, c, "POST", base+"/saml/acs", url.Values{"SAMLResponse": {samlResponse}, "RelayState": {"/v1/models/m"}})
	if resp.StatusCode != 303 || resp.Header.Get("Location") != "/v1/models/m" {
		t.Fatalf("unsolicited ACS: %d %q\n%s", resp.StatusCode, resp.Header.Get("Location"), body(t, resp))
	}
	var who struct{ Subject string }
	if err := json.Unmarshal([]byte(body(t, mustDo(t, c, "GET", base+"/saml/whoami", nil))), &who); err != nil || who.Subject != "alice" {
		t.Errorf("whoami: %+v %v", who, err)
	}

	resp = mustDo(t, c, "POST", base+"/saml/acs", url.Values{"SAMLResponse": {strings.Repeat("A", 20000)}})
	if page := body(t, resp); resp.StatusCode != 400 || !strings.Contains(page, "saml.max_response_bytes") {
		t.Errorf("a 20000-byte SAMLResponse over a 16384 cap: %d\n%s", resp.StatusCode, page)
	}
	resp = mustDo(t, c, "POST", base+"/saml/acs", url.Values{"SAMLResponse": {strings.Repeat("A", 50000)}})
	if page := body(t, resp); resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(page, "saml.max_form_bytes") {
		t.Errorf("a 50000-byte form over a 49152 cap: %d\n%s", resp.StatusCode, page)
	}
}
