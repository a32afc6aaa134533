package devidp

import (
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// clock is a settable Config.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// TestLoginForm checks the CSRF protection of the sign-in form: the token
// is required, single-use, short-lived and bound to the browser's cookie.
func TestLoginForm(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		// tamper gets a browser that has loaded the sign-in page, and the
		// page's token; it returns the client and form to submit.
		tamper func(t *testing.T, c *http.Client, token string, clk *clock) (*http.Client, url.Values)
		status int
	}{
		"valid": {
			tamper: func(_ *testing.T, c *http.Client, token string, _ *clock) (*http.Client, url.Values) {
				return c, url.Values{"token": {token}, "user": {"alice"}}
			},
			status: http.StatusOK,
		},
		"no token": {
			tamper: func(_ *testing.T, c *http.Client, _ string, _ *clock) (*http.Client, url.Values) {
				return c, url.Values{"user": {"alice"}}
			},
			status: http.StatusForbidden,
		},
		"forged token": {
			tamper: func(_ *testing.T, c *http.Client, token string, _ *clock) (*http.Client, url.Values) {
				return c, url.Values{"token": {token[:len(token)-2] + "AA"}, "user": {"alice"}}
			},
			status: http.StatusForbidden,
		},
		"another browser": {
			tamper: func(t *testing.T, _ *http.Client, token string, _ *clock) (*http.Client, url.Values) {
				return browser(t), url.Values{"token": {token}, "user": {"alice"}}
			},
			status: http.StatusForbidden,
		},
		"expired": {
			tamper: func(_ *testing.T, c *http.Client, token string, clk *clock) (*http.Client, url.Values) {
				clk.Add(pendingLifetime)
				return c, url.Values{"token": {token}, "user": {"alice"}}
			},
			status: http.StatusForbidden,
		},
		"unknown user": {
			tamper: func(_ *testing.T, c *http.Client, token string, _ *clock) (*http.Client, url.Values) {
				return c, url.Values{"token": {token}, "user": {"mallory"}}
			},
			status: http.StatusBadRequest,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			clk := &clock{t: time.Now()}
			cfg := testConfig(t)
			cfg.Now = clk.Now
			idp := Start(t, cfg)
			c, token := loadSignInPage(t, idp)
			c, form := tc.tamper(t, c, token, clk)
			resp, body := postForm(t, c, idp.BaseURL()+LoginPath, form)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d\n%s", resp.StatusCode, tc.status, body)
			}
			if tc.status == http.StatusOK && FormValue(body, "SAMLResponse") == "" {
				t.Errorf("no SAMLResponse in\n%s", body)
			}
		})
	}
}

func TestLoginTokenSingleUse(t *testing.T) {
	t.Parallel()
	idp := Start(t, testConfig(t))
	c, token := loadSignInPage(t, idp)
	form := url.Values{"token": {token}, "user": {"bob"}}
	if resp, body := postForm(t, c, idp.BaseURL()+LoginPath, form); resp.StatusCode != http.StatusOK {
		t.Fatalf("first use: %d\n%s", resp.StatusCode, body)
	}
	resp, body := postForm(t, c, idp.BaseURL()+LoginPath, form)
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "expired or invalid") {
		t.Errorf("second use: %d, want 403\n%s", resp.StatusCode, body)
	}
}

// TestTwoTabs signs in twice at once from one browser: each page's token
// still works after the other page was loaded.
func TestTwoTabs(t *testing.T) {
	t.Parallel()
	idp := Start(t, testConfig(t))
	c, first := loadSignInPage(t, idp)
	_, second := loadSignInPageWith(t, idp, c, "_req-tab2")
	for _, token := range []string{second, first} {
		if resp, body := postForm(t, c, idp.BaseURL()+LoginPath, url.Values{"token": {token}, "user": {"alice"}}); resp.StatusCode != http.StatusOK {
			t.Fatalf("%d\n%s", resp.StatusCode, body)
		}
	}
}

func loadSignInPage(t *testing.T, idp *IdP) (*http.Client, string) {
	t.Helper()
	return loadSignInPageWith(t, idp, browser(t), "_req-form")
}

func loadSignInPageWith(t *testing.T, idp *IdP, c *http.Client, id string) (*http.Client, string) {
	t.Helper()
	req := authnReq{ID: id, Destination: idp.SSOURL(), Issuer: spEntityID}
	resp, page := get(t, c, idp.SSOURL()+"?"+redirectQuery(t, req.xml(), "", nil))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET sso: %d\n%s", resp.StatusCode, page)
	}
	return c, FormValue(page, "token")
}

func TestSLO(t *testing.T) {
	t.Parallel()
	idp := Start(t, testConfig(t))
	tests := map[string]struct {
		query    string
		status   int
		location string
		want     string
	}{
		"no return":          {status: http.StatusOK, want: "You are signed out"},
		"return_to on SP":    {query: "return_to=" + url.QueryEscape("http://127.0.0.1:8080/models?x=1"), status: http.StatusSeeOther, location: "http://127.0.0.1:8080/models?x=1"},
		"RelayState on SP":   {query: "RelayState=" + url.QueryEscape("http://127.0.0.1:8080/"), status: http.StatusSeeOther, location: "http://127.0.0.1:8080/"},
		"other origin":       {query: "return_to=" + url.QueryEscape("http://127.0.0.1:9999/"), status: http.StatusBadRequest, want: "not sent back"},
		"other scheme":       {query: "return_to=" + url.QueryEscape("https://127.0.0.1:8080/"), status: http.StatusBadRequest},
		"relative":           {query: "return_to=" + url.QueryEscape("//evil.example/"), status: http.StatusBadRequest},
		"userinfo smuggling": {query: "return_to=" + url.QueryEscape("http://127.0.0.1:8080@evil.example/"), status: http.StatusBadRequest},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			resp, body := get(t, browser(t), idp.SLOURL()+"?"+tc.query)
			mustEqual(t, "status", resp.StatusCode, tc.status)
			mustEqual(t, "Location", resp.Header.Get("Location"), tc.location)
			if !strings.Contains(body, tc.want) {
				t.Errorf("page lacks %q:\n%s", tc.want, body)
			}
		})
	}
}
