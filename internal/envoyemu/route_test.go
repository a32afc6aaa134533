package envoyemu

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
)

func TestRouting(t *testing.T) {
	tests := map[string]struct {
		target   string
		status   int
		checked  bool
		upstream bool
	}{
		"no route → 404 without Check": {target: "/other", status: 404},
		"disabled route skips Check":   {target: "/saml/login", status: 200, upstream: true},
		"first match wins":             {target: "/v1/models/m", status: 200, checked: true, upstream: true},
		"query is not matched":         {target: "/v1?/saml/", status: 200, checked: true, upstream: true},
		"exact path":                   {target: "/token?x=1", status: 200, upstream: true},
		"exact path is exact":          {target: "/token/x", status: 404},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, reply(&authv3.CheckResponse{}), func(c *Config) {
				up := c.Routes[0].Upstream
				c.Routes = []Route{
					{Prefix: "/v1", Upstream: up},
					{Prefix: "/saml/", Upstream: up, DisableAuthz: true},
					{Path: "/token", Upstream: up, DisableAuthz: true},
					// Shadowed by /v1 above: Envoy takes the first match.
					{Prefix: "/v1/models/", Upstream: up, ContextExtensions: map[string]string{"api": "rest"}},
				}
			})
			resp, _ := h.do(t, "GET", tc.target, nil, nil)
			checks := h.authz.requests()
			if resp.StatusCode != tc.status || (len(checks) == 1) != tc.checked || (h.upstream.count() == 1) != tc.upstream {
				t.Fatalf("status %d, checks %d, upstream %d; want %d checked=%v upstream=%v",
					resp.StatusCode, len(checks), h.upstream.count(), tc.status, tc.checked, tc.upstream)
			}
			if name == "first match wins" && len(checks[0].GetAttributes().GetContextExtensions()) != 0 {
				t.Fatalf("context_extensions = %v, want the /v1 route's (none)", checks[0].GetAttributes().GetContextExtensions())
			}
		})
	}
}

func TestUpstreamFailures(t *testing.T) {
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(2 * time.Second):
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(slow.Close)
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := mustURL(t, dead.URL)
	dead.Close()
	adds := okResp(&authv3.OkHttpResponse{ResponseHeadersToAdd: []*corev3.HeaderValueOption{hv("x-authz", "1", no, 0)}})
	tests := map[string]struct {
		route  Route
		status int
		body   string
	}{
		"unreachable → 503": {route: Route{Prefix: "/", Upstream: deadURL}, status: 503, body: bodyUpstreamReset},
		"route timeout → 504": {route: Route{Prefix: "/", Upstream: mustURL(t, slow.URL), Timeout: 50 * time.Millisecond},
			status: 504, body: bodyUpstreamTimeout},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, reply(adds), func(c *Config) { c.Routes = []Route{tc.route} })
			resp, body := h.do(t, "GET", "/", nil, nil)
			if resp.StatusCode != tc.status || body != tc.body || resp.Header.Get("X-Authz") != "1" {
				t.Fatalf("got %d %q x-authz=%q; want %d %q with response_headers_to_add applied",
					resp.StatusCode, body, resp.Header.Get("X-Authz"), tc.status, tc.body)
			}
		})
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	up := mustURL(t, "http://127.0.0.1:1")
	client := startAuthzServer(t, &deadlineAuthz{})
	tests := map[string]Config{
		"no routes":           {Authz: client},
		"no authz":            {Routes: []Route{{Prefix: "/", Upstream: up}}},
		"https upstream":      {Routes: []Route{{Prefix: "/", Upstream: mustURL(t, "https://x")}}, Authz: client},
		"zero buffer":         {Routes: []Route{{Prefix: "/", Upstream: up}}, Authz: client, WithRequestBody: &BufferSettings{}},
		"1xx status_on_error": {Routes: []Route{{Prefix: "/", Upstream: up}}, Authz: client, StatusOnError: 101},
		"matcher of two kinds": {Routes: []Route{{Prefix: "/", Upstream: up}}, Authz: client,
			AllowedHeaders: []HeaderMatcher{{Exact: "a", Prefix: "b"}}},
	}
	for name, cfg := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := New(cfg); !errors.Is(err, ErrConfig) {
				t.Fatalf("New err = %v, want ErrConfig", err)
			}
		})
	}
	if _, err := New(Config{Routes: []Route{{Prefix: "/", Upstream: up, DisableAuthz: true}}}); err != nil {
		t.Fatalf("authz-free config rejected: %v", err)
	}
}

func TestConfigDefaults(t *testing.T) {
	cfg := Config{Routes: []Route{{Prefix: "/", Upstream: mustURL(t, "http://127.0.0.1:1")}}, Authz: startAuthzServer(t, &deadlineAuthz{})}
	got, err := cfg.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if got.Timeout != DefaultCheckTimeout || got.Routes[0].Timeout != DefaultRouteTimeout || got.Mode != V136 ||
		got.Now == nil || got.Rand == nil || got.Logger == nil || toErrorCode(got.StatusOnError) != 403 {
		t.Fatalf("defaults = %+v", got)
	}
	if cfg.Routes[0].Timeout != 0 {
		t.Fatal("withDefaults wrote into the caller's routes")
	}
}
