package sp

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tfgate/tfgate/internal/webpage"
	"github.com/tfgate/tfgate/samlverify/internal/fixture"
)

func TestConfigValidation(t *testing.T) {
	t.Parallel()
	key, cert := testKeyPair(t)
	other := fixture.OtherKey(t)
	tests := map[string]struct {
		mod  func(*Config)
		want string // substring of the error; "" means valid
	}{
		"defaults":                       {func(*Config) {}, ""},
		"secure needs https":             {func(c *Config) { c.BaseURL = "http://sp.example.test" }, "needs Insecure"},
		"insecure needs http":            {func(c *Config) { c.Insecure, c.CookieName = true, "tfgate" }, "only for an http BaseURL"},
		"insecure with __Host- cookie":   {func(c *Config) { c.BaseURL, c.Insecure = "http://127.0.0.1:8080", true }, "needs Secure"},
		"insecure with __Secure- cookie": {func(c *Config) { c.BaseURL, c.Insecure, c.CookieName = "http://127.0.0.1:8080", true, "__Secure-x" }, "needs Secure"},
		"insecure with plain cookie":     {func(c *Config) { c.BaseURL, c.Insecure, c.CookieName = "http://127.0.0.1:8080", true, "tfgate" }, ""},
		"secure with plain cookie":       {func(c *Config) { c.CookieName = "tfgate" }, "must start with __Host-"},
		"secure with __Secure- cookie":   {func(c *Config) { c.CookieName = "__Secure-tfgate" }, "must start with __Host-"},
		"secure with other __Host- name": {func(c *Config) { c.CookieName = "__Host-sso" }, ""},
		"bad cookie name":                {func(c *Config) { c.CookieName = "__Host-a;b" }, "not a valid cookie name"},
		"base URL with path":             {func(c *Config) { c.BaseURL = "https://sp.example.test/tfgate" }, "without a path"},
		"base URL trailing slash":        {func(c *Config) { c.BaseURL = "https://sp.example.test/" }, ""},
		"base URL relative":              {func(c *Config) { c.BaseURL = "/saml" }, "scheme://host"},
		"base URL ftp":                   {func(c *Config) { c.BaseURL = "ftp://sp.example.test" }, "http or https"},
		"no verifier":                    {func(c *Config) { c.Verifier = nil }, "needs Verifier"},
		"no sessions":                    {func(c *Config) { c.Sessions = nil }, "needs Verifier"},
		"negative lifetime":              {func(c *Config) { c.SessionLifetime = -1 }, "negative"},
		"key without cert":               {func(c *Config) { c.Key = key }, "together"},
		"cert of another key":            {func(c *Config) { c.Key, c.Cert = key, other.Cert }, "not the certificate"},
		"key pair":                       {func(c *Config) { c.Key, c.Cert = key, cert }, ""},
		"sign without key":               {func(c *Config) { c.SignRequests = true }, "needs Key"},
		"return host with scheme":        {func(c *Config) { c.ReturnToHosts = []string{"https://a.example"} }, "not host or host:port"},
		"return host with path":          {func(c *Config) { c.ReturnToHosts = []string{"a.example/x"} }, "not host or host:port"},
		"return host with port":          {func(c *Config) { c.ReturnToHosts = []string{"a.example:8443"} }, ""},
		"return host empty":              {func(c *Config) { c.ReturnToHosts = []string{""} }, "not host or host:port"},
	}
	e := newEnv(t)
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			cfg := e.cfg
			tc.mod(&cfg)
			_, err := New(cfg)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("New: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("New: %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.h.cfg
	mustEqual(t, "EntityID", c.EntityID, fixture.SPEntityID)
	mustEqual(t, "ACS", e.h.ACSURL(), fixture.ACSURL)
	mustEqual(t, "CookieName", c.CookieName, "__Host-tfgate")
	mustEqual(t, "SessionLifetime", c.SessionLifetime, DefaultSessionLifetime)
	mustEqual(t, "RequestTTL", c.RequestTTL, DefaultRequestTTL)
	mustEqual(t, "NameIDFormat", c.NameIDFormat, NameIDFormatUnspecified)
	mustEqual(t, "binding cookie", e.h.bindingCookieName("_0123456789abcdef0123456789abcdef"), "__Host-tfgate-req-0123456789ab")
	mustEqual(t, "binding key", len(c.BindingKey), BindingKeySize)
}

// TestEveryResponseIsUncacheable checks the headers every endpoint sends,
// and that pages carry the strict CSP.
func TestEveryResponseIsUncacheable(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, req := range []*http.Request{
		httptest.NewRequest("GET", LoginPath, nil),
		httptest.NewRequest("GET", LoginPath+"?return_to=//evil", nil),
		httptest.NewRequest("GET", MetadataPath, nil),
		httptest.NewRequest("GET", LogoutPath, nil),
		httptest.NewRequest("GET", WhoamiPath, nil),
		acsRequest(nil),
		httptest.NewRequest("PUT", ACSPath, nil),
		httptest.NewRequest("GET", "/saml/nope", nil),
	} {
		rec := e.do(req)
		if got := rec.Header().Get("Cache-Control"); got != "no-store" {
			t.Errorf("%s %s: Cache-Control %q", req.Method, req.URL, got)
		}
		if strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") {
			csp := rec.Header().Get("Content-Security-Policy")
			if !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "frame-ancestors 'none'") {
				t.Errorf("%s %s: CSP %q", req.Method, req.URL, csp)
			}
		}
	}
	if rec := e.do(httptest.NewRequest("PUT", ACSPath, nil)); rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("PUT acs: %d", rec.Code)
	}
}

func TestUnconfigured(t *testing.T) {
	t.Parallel()
	for _, path := range []string{LoginPath + "?return_to=/", ACSPath, MetadataPath, WhoamiPath} {
		rec := httptest.NewRecorder()
		Unconfigured().ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), "No identity provider is configured") ||
			rec.Header().Get("Cache-Control") != "no-store" || rec.Header().Get("Content-Security-Policy") == "" {
			t.Errorf("%s: %d %v\n%s", path, rec.Code, rec.Header(), rec.Body)
		}
	}
}

// TestPageCSPAllowsItsStyle checks the CSP hash matches the style served.
func TestPageCSPAllowsItsStyle(t *testing.T) {
	t.Parallel()
	rec := newEnv(t).do(httptest.NewRequest("GET", LogoutPath, nil))
	if !strings.Contains(rec.Body.String(), "<style>"+webpage.CSS+"</style>") {
		t.Errorf("page does not carry webpage.CSS verbatim:\n%s", rec.Body)
	}
}
