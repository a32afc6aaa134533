package envoyemu

import (
	"net/http"
	"strings"
	"testing"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
)

// shippedHCM is envoy/envoy.yaml's connection-manager hardening.
func shippedHCM(c *Config) {
	c.NormalizePath, c.MergeSlashes, c.EscapedSlashes = true, true, RejectRequest
	c.Underscores = DropUnderscores
	c.RemoveHeaders = []string{"x-tfgate-user"}
	c.UseRemoteAddress = true
	up := c.Routes[0].Upstream
	c.Routes = []Route{{Prefix: "/saml/", Upstream: up, DisableAuthz: true}, {Prefix: "/", Upstream: up}}
}

// TestConnectionManagerPath: the path ext_authz checks is the path the
// upstream gets, normalised once before any filter, so "/saml/../v1" is
// checked (the /saml/ route without authz is not taken).
func TestConnectionManagerPath(t *testing.T) {
	tests := map[string]struct {
		target, want string
		status       int
	}{
		"dot-dot out of /saml/":      {target: "/saml/../v1/models/m", want: "/v1/models/m"},
		"encoded dots":               {target: "/saml/%2e%2E/v1/models/m", want: "/v1/models/m"},
		"dot segment":                {target: "/v1/./models/m/.", want: "/v1/models/m/"},
		"above the root":             {target: "/../../v1/m", want: "/v1/m"},
		"backslash":                  {target: `/saml\..\v1/m`, want: "/v1/m"},
		"unreserved decoded":         {target: "/v1/models/%6D%2d1", want: "/v1/models/m-1"},
		"reserved kept":              {target: "/v1/models/m%3Apredict", want: "/v1/models/m%3Apredict"},
		"merge slashes":              {target: "//v1///models//m/", want: "/v1/models/m/"},
		"query untouched":            {target: "/v1/./m?a=/../b//c&d=%2F", want: "/v1/m?a=/../b//c&d=%2F"},
		"escaped slash rejected":     {target: "/v1/models/a%2Fb", status: 400},
		"escaped backslash rejected": {target: "/v1/models/a%5cb", status: 400},
		"fragment rejected":          {target: "/v1/m#x", status: 400},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, reply(&authv3.CheckResponse{}), shippedHCM)
			resp := h.rawRequest(t, "GET "+tc.target+" HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
			checks := h.authz.requests()
			if tc.status != 0 {
				if resp.StatusCode != tc.status || len(checks) != 0 || h.upstream.count() != 0 {
					t.Fatalf("status %d, %d checks, %d upstream; want %d and nothing else", resp.StatusCode, len(checks), h.upstream.count(), tc.status)
				}
				return
			}
			if resp.StatusCode != 200 || len(checks) != 1 {
				t.Fatalf("status %d, %d checks; want 200 after one check", resp.StatusCode, len(checks))
			}
			if got := checks[0].GetAttributes().GetRequest().GetHttp().GetPath(); got != tc.want {
				t.Errorf("checked path %q, want %q", got, tc.want)
			}
			if got := h.upstream.last(t).URI; got != tc.want {
				t.Errorf("upstream path %q, want %q", got, tc.want)
			}
		})
	}
}

// TestConnectionManagerHeaders: headers with underscores are dropped, the
// header_mutation filter strips x-tfgate-user before ext_authz, the peer
// is appended to x-forwarded-for, and too many headers are a 431.
func TestConnectionManagerHeaders(t *testing.T) {
	h := newHarness(t, reply(&authv3.CheckResponse{}), shippedHCM)
	resp, _ := h.do(t, "GET", "/v1/m", http.Header{"X_tfgate_user": {"root"}, "X-Tfgate-User": {"mallory"}, "X-Forwarded-For": {"10.9.9.9"}}, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	got := h.authz.requests()[0].GetAttributes().GetRequest().GetHttp().GetHeaders()
	for _, k := range []string{"x_tfgate_user", "x-tfgate-user"} {
		if _, ok := got[k]; ok {
			t.Errorf("%s reached the CheckRequest", k)
		}
	}
	if got["x-forwarded-for"] != "10.9.9.9,127.0.0.1" {
		t.Errorf("x-forwarded-for %q", got["x-forwarded-for"])
	}
	up := h.upstream.last(t).Header
	if up.Get("X-Tfgate-User") != "" || len(up.Values("X_tfgate_user")) != 0 {
		t.Errorf("upstream got %v", up)
	}

	many := http.Header{}
	for i := range DefaultMaxHeadersCount {
		many.Set("X-H"+strings.Repeat("a", i), "v")
	}
	if resp, _ := h.do(t, "GET", "/v1/m", many, nil); resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("%d headers: status %d, want 431", len(many)+2, resp.StatusCode)
	}
}

// TestGRPCRoute: a route with match.grpc takes only gRPC content-types;
// anything else is the router's 404 without a Check.
func TestGRPCRoute(t *testing.T) {
	h := newHarness(t, reply(&authv3.CheckResponse{}), func(c *Config) { c.Routes[0].GRPC = true })
	for ct, want := range map[string]int{"application/grpc-web": 404, "Application/gRPC": 404, "application/json": 404, "": 404} {
		resp, _ := h.do(t, "POST", "/tensorflow.serving.PredictionService/Predict", http.Header{"Content-Type": {ct}}, strings.NewReader("x"))
		if resp.StatusCode != want {
			t.Errorf("content-type %q: status %d, want %d", ct, resp.StatusCode, want)
		}
	}
	if n := len(h.authz.requests()); n != 0 {
		t.Fatalf("%d checks for non-gRPC requests", n)
	}
	resp, _ := h.do(t, "POST", "/x", http.Header{"Content-Type": {"application/grpc+proto"}}, strings.NewReader("x"))
	if resp.StatusCode != 200 || len(h.authz.requests()) != 1 {
		t.Fatalf("gRPC request: status %d", resp.StatusCode)
	}
}
