package envoyemu

import (
	"net"
	"net/http"
	"regexp"
	"strconv"
	"testing"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
)

var uuidRe = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestCheckRequestAttributes(t *testing.T) {
	h := newHarness(t, reply(&authv3.CheckResponse{}), nil)
	hdr := http.Header{
		"X-A":                       {"1", "2"},
		"Cookie":                    {"a=1", "b=2"},
		"X-Envoy-Auth-Partial-Body": {"true"},
		"Connection":                {"keep-alive, x-hop"},
		"User-Agent":                {"test"},
		"Host":                      {"envoy:8080"},
	}
	if resp, _ := h.do(t, "GET", "/v1/models/m?b=2&a=1", hdr, nil); resp.StatusCode != 200 {
		t.Fatalf("status = %d", resp.StatusCode)
	}
	req := h.authz.requests()[0]
	hr := req.GetAttributes().GetRequest().GetHttp()
	headers := hr.GetHeaders()
	want := map[string]string{
		":authority":        "envoy:8080",
		":method":           "GET",
		":path":             "/v1/models/m?b=2&a=1",
		":scheme":           "http",
		"x-forwarded-proto": "http",
		"x-a":               "1,2",
		"cookie":            "a=1,b=2",
		"user-agent":        "test",
	}
	for k, v := range want {
		if headers[k] != v {
			t.Errorf("headers[%q] = %q, want %q", k, headers[k], v)
		}
	}
	for _, k := range []string{"host", "Host", "x-envoy-auth-partial-body", "connection", "X-A"} {
		if _, ok := headers[k]; ok {
			t.Errorf("headers has %q, want it absent", k)
		}
	}
	if !uuidRe.MatchString(headers["x-request-id"]) {
		t.Errorf("x-request-id = %q, want a generated UUID", headers["x-request-id"])
	}
	if id, err := strconv.ParseUint(hr.GetId(), 10, 64); err != nil || hr.GetId() == headers["x-request-id"] {
		t.Errorf("id = %q (%v), want a decimal uint64 distinct from x-request-id", hr.GetId(), err)
		_ = id
	}
	got := map[string]string{"method": hr.GetMethod(), "path": hr.GetPath(), "host": hr.GetHost(), "scheme": hr.GetScheme(),
		"protocol": hr.GetProtocol(), "query": hr.GetQuery(), "fragment": hr.GetFragment(), "body": hr.GetBody()}
	wantAttrs := map[string]string{"method": "GET", "path": "/v1/models/m?b=2&a=1", "host": "envoy:8080", "scheme": "http",
		"protocol": "HTTP/1.1", "query": "", "fragment": "", "body": ""}
	for k, v := range wantAttrs {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	if hr.GetSize() != 0 || hr.GetRawBody() != nil {
		t.Errorf("size = %d raw_body = %q, want 0 and none", hr.GetSize(), hr.GetRawBody())
	}
	if !req.GetAttributes().GetRequest().GetTime().AsTime().Equal(fixedNow) {
		t.Errorf("time = %v, want %v", req.GetAttributes().GetRequest().GetTime().AsTime(), fixedNow)
	}
	src := req.GetAttributes().GetSource().GetAddress().GetSocketAddress()
	dst := req.GetAttributes().GetDestination().GetAddress().GetSocketAddress()
	_, port, _ := net.SplitHostPort(h.addr)
	if src.GetAddress() != "127.0.0.1" || src.GetPortValue() == 0 || dst.GetAddress() != "127.0.0.1" || strconv.Itoa(int(dst.GetPortValue())) != port {
		t.Errorf("source = %v, destination = %v; want loopback peers, destination port %s", src, dst, port)
	}
	if !proxyLastMatches(h.proxy, req) {
		t.Error("LastCheck does not match the request the server saw")
	}
}

// proxyLastMatches compares LastCheck with what the server received.
func proxyLastMatches(p *Proxy, req *authv3.CheckRequest) bool {
	last := p.LastCheck()
	return last != nil && last.GetAttributes().GetRequest().GetHttp().GetId() == req.GetAttributes().GetRequest().GetHttp().GetId()
}

func TestCheckRequestKeepsClientRequestID(t *testing.T) {
	h := newHarness(t, reply(&authv3.CheckResponse{}), nil)
	h.do(t, "GET", "/", http.Header{"X-Request-Id": {"abc"}}, nil)
	if got := h.authz.requests()[0].GetAttributes().GetRequest().GetHttp().GetHeaders()["x-request-id"]; got != "abc" {
		t.Fatalf("x-request-id = %q, want the client's", got)
	}
	if got := h.upstream.last(t).Header.Get("X-Request-Id"); got != "abc" {
		t.Fatalf("upstream x-request-id = %q", got)
	}
}

func TestCheckRequestHTTP2(t *testing.T) {
	h := newHarness(t, reply(&authv3.CheckResponse{}), nil)
	req, _ := http.NewRequest("GET", "http://"+h.addr+"/x", nil)
	req.Header["Cookie"] = []string{"a=1", "b=2"}
	resp, err := h2Client(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	hr := h.authz.requests()[0].GetAttributes().GetRequest().GetHttp()
	if hr.GetProtocol() != "HTTP/2" || hr.GetHeaders()["cookie"] != "a=1; b=2" {
		t.Fatalf("protocol = %q, cookie = %q; want HTTP/2 and crumbs joined with \"; \"", hr.GetProtocol(), hr.GetHeaders()["cookie"])
	}
}

func TestCheckRequestHeaderFilters(t *testing.T) {
	tests := map[string]struct {
		allowed, disallowed []HeaderMatcher
		present, absent     []string
	}{
		"all by default": {present: []string{"x-a", "x-b", ":path"}},
		"allowed exact": {allowed: []HeaderMatcher{{Exact: "x-a"}},
			present: []string{"x-a"}, absent: []string{"x-b", ":path", ":authority"}},
		"allowed prefix ignore case": {allowed: []HeaderMatcher{{Prefix: "X-", IgnoreCase: true}},
			present: []string{"x-a", "x-b", "x-request-id"}, absent: []string{":method"}},
		"pseudo by regex": {allowed: []HeaderMatcher{{Regex: regexp.MustCompile(`:.*`)}},
			present: []string{":path", ":method"}, absent: []string{"x-a"}},
		"disallowed wins": {allowed: []HeaderMatcher{{Prefix: "x-"}}, disallowed: []HeaderMatcher{{Suffix: "-b"}},
			present: []string{"x-a"}, absent: []string{"x-b"}},
		"disallowed contains": {disallowed: []HeaderMatcher{{Contains: "ques"}},
			present: []string{"x-a"}, absent: []string{"x-request-id"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, reply(&authv3.CheckResponse{}), func(c *Config) {
				c.AllowedHeaders, c.DisallowedHeaders = tc.allowed, tc.disallowed
			})
			h.do(t, "GET", "/p", http.Header{"X-A": {"1"}, "X-B": {"2"}}, nil)
			hr := h.authz.requests()[0].GetAttributes().GetRequest().GetHttp()
			for _, k := range tc.present {
				if _, ok := hr.GetHeaders()[k]; !ok {
					t.Errorf("%q missing", k)
				}
			}
			for _, k := range tc.absent {
				if _, ok := hr.GetHeaders()[k]; ok {
					t.Errorf("%q present", k)
				}
			}
			if hr.GetPath() != "/p" || hr.GetMethod() != "GET" {
				t.Errorf("path/method = %q %q; must be filled even when filtered", hr.GetPath(), hr.GetMethod())
			}
		})
	}
}

func TestFragmentRejected(t *testing.T) {
	h := newHarness(t, reply(&authv3.CheckResponse{}), nil)
	resp := h.rawRequest(t, "GET /a#b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	if resp.StatusCode != 400 || len(h.authz.requests()) != 0 || h.upstream.count() != 0 {
		t.Fatalf("status = %d, checks = %d, upstream = %d; want 400 and nothing sent", resp.StatusCode, len(h.authz.requests()), h.upstream.count())
	}
}

func TestInvalidUTF8Sanitised(t *testing.T) {
	h := newHarness(t, reply(&authv3.CheckResponse{}), nil)
	resp := h.rawRequest(t, "GET /caf\xe9?q=\xff HTTP/1.1\r\nHost: h\r\nX-Bin: a\xffb\xe2\x82\r\nUser-Agent: \xc3\xc7\r\nConnection: close\r\n\r\n")
	if resp.StatusCode != 200 {
		t.Fatalf("status = %d", resp.StatusCode)
	}
	hr := h.authz.requests()[0].GetAttributes().GetRequest().GetHttp()
	tests := map[string][2]string{
		"path":         {hr.GetPath(), "/caf!?q=!"},
		":path":        {hr.GetHeaders()[":path"], "/caf!?q=!"},
		"user-agent":   {hr.GetHeaders()["user-agent"], "!!"},
		"x-bin header": {hr.GetHeaders()["x-bin"], "a!b!!"},
	}
	for name, tc := range tests {
		if tc[0] != tc[1] {
			t.Errorf("%s = %q, want %q", name, tc[0], tc[1])
		}
	}
	if up := h.upstream.last(t); up.URI != "/caf\xe9?q=\xff" {
		t.Errorf("upstream target = %q, want the raw bytes", up.URI)
	}
}

func TestSanitizeUTF8(t *testing.T) {
	tests := map[string][2]string{
		"valid":          {"héllo", "héllo"},
		"envoy test":     {"valid_prefix\xc3\xc7valid_middle\xc4valid_suffix", "valid_prefix!!valid_middle!valid_suffix"},
		"truncated tail": {"a\xe2\x82", "a!!"},
		"surrogate":      {"\xed\xa0\x80", "!!!"},
		"replacement ok": {"\uFFFD", "\uFFFD"},
	}
	for name, tc := range tests {
		if got := sanitizeUTF8(tc[0]); got != tc[1] || len(got) != len(tc[0]) {
			t.Errorf("%s: sanitizeUTF8(%q) = %q, want %q (same length)", name, tc[0], got, tc[1])
		}
	}
}
