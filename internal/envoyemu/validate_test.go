package envoyemu

import (
	"fmt"
	"net/http"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
)

// TestValidateMutations: with validate_mutations an invalid header name or
// value from the authorization server is a local 500 with an empty body,
// never forwarded and never sanitised; an invalid name to remove is
// ignored.
func TestValidateMutations(t *testing.T) {
	tests := map[string]struct {
		resp     *authv3.CheckResponse
		validate bool
		status   int
	}{
		"CR LF in an OK value": {resp: okResp(&authv3.OkHttpResponse{Headers: []*corev3.HeaderValueOption{hv("x-tfgate-user", "alice\r\nx-admin: 1", no, 0)}}),
			validate: true, status: 500},
		"NUL in an appended value": {resp: okResp(&authv3.OkHttpResponse{Headers: []*corev3.HeaderValueOption{hv("x-exist", "a\x00", yes, 0)}}),
			validate: true, status: 500},
		"DEL in an OK value": {resp: okResp(&authv3.OkHttpResponse{Headers: []*corev3.HeaderValueOption{hv("x-a", "a\x7f", no, 0)}}),
			validate: true, status: 500},
		"space in an OK name": {resp: okResp(&authv3.OkHttpResponse{Headers: []*corev3.HeaderValueOption{hv("x a", "v", no, 0)}}),
			validate: true, status: 500},
		"UTF-8 and HTAB are valid": {resp: okResp(&authv3.OkHttpResponse{Headers: []*corev3.HeaderValueOption{hv("x-a", "zoë\tz", no, 0)}}),
			validate: true, status: 200},
		"invalid name to remove is ignored": {resp: okResp(&authv3.OkHttpResponse{HeadersToRemove: []string{"bad name"}}),
			validate: true, status: 200},
		"invalid response_headers_to_add": {resp: okResp(&authv3.OkHttpResponse{ResponseHeadersToAdd: []*corev3.HeaderValueOption{hv("x-r", "a\nb", no, 0)}}),
			validate: true, status: 500},
		"invalid append_action in response_headers_to_add": {resp: okResp(&authv3.OkHttpResponse{ResponseHeadersToAdd: []*corev3.HeaderValueOption{hv("x-r", "v", nil, 9)}}),
			validate: true, status: 500},
		"invalid append_action ignored without validation": {resp: okResp(&authv3.OkHttpResponse{ResponseHeadersToAdd: []*corev3.HeaderValueOption{hv("x-r", "v", nil, 9)}}),
			status: 200},
		"invalid denied header": {resp: deniedResp(403, "no", hv("x-why", "a\r\nb", no, 0)),
			validate: true, status: 500},
		"invalid denied append:true header is dropped, not checked": {resp: deniedResp(403, "no", hv("x-why", "a\r\nb", yes, 0)),
			validate: true, status: 403},
		// Envoy would forward it; net/http refuses to send it, so the
		// emulator's router fails like a broken upstream connection.
		"invalid value without validation cannot be forwarded": {resp: okResp(&authv3.OkHttpResponse{Headers: []*corev3.HeaderValueOption{hv("x-a", "a\x01b", no, 0)}}),
			status: 503},
	}
	for name, tc := range tests {
		for _, mode := range []Mode{V136, V137} {
			t.Run(name+"/"+mode.String(), func(t *testing.T) {
				h := newHarness(t, reply(tc.resp), func(c *Config) { c.ValidateMutations, c.Mode = tc.validate, mode })
				resp, body := h.do(t, "GET", "/x", http.Header{"X-Exist": {"1"}}, nil)
				if resp.StatusCode != tc.status {
					t.Fatalf("status %d %q, want %d", resp.StatusCode, body, tc.status)
				}
				if tc.status >= 500 && h.upstream.count() != 0 || tc.status == 500 && body != "" {
					t.Fatalf("500 with body %q, %d upstream requests", body, h.upstream.count())
				}
			})
		}
	}
}

// TestErrorResponseValidation: in v1.37 an error_response with an invalid
// header falls back to the generic error reply (status_on_error, empty
// body) instead of a 500.
func TestErrorResponseValidation(t *testing.T) {
	resp := &authv3.CheckResponse{Status: &rpcstatus.Status{Code: 14}, HttpResponse: &authv3.CheckResponse_ErrorResponse{ErrorResponse: &authv3.DeniedHttpResponse{
		Status: &typev3.HttpStatus{Code: 502}, Body: "custom", Headers: []*corev3.HeaderValueOption{hv("x-e", "a\nb", nil, 0)},
	}}}
	h := newHarness(t, reply(resp), func(c *Config) { c.Mode, c.ValidateMutations, c.StatusOnError = V137, true, 503 })
	r, body := h.do(t, "GET", "/x", nil, nil)
	if r.StatusCode != 503 || body != "" || r.Header.Get("X-E") != "" {
		t.Fatalf("got %d %q %v, want the generic 503", r.StatusCode, body, r.Header)
	}
	// Appended error headers are added in v1.37 (addErrorResponseHeaders).
	resp.GetErrorResponse().Headers = []*corev3.HeaderValueOption{hv("x-e", "1", no, 0), hv("x-e", "2", yes, 0)}
	r, body = h.do(t, "GET", "/x", nil, nil)
	if r.StatusCode != 502 || body != "custom" || len(r.Header.Values("X-E")) != 2 {
		t.Fatalf("got %d %q %v", r.StatusCode, body, r.Header)
	}
}

// TestHeaderLimitsAfterMutations: when the request headers no longer fit
// max_headers_count after ext_authz's mutations, Envoy answers 500. v1.36
// checks once, after removals; v1.37 after every set, so a set that
// overflows before a removal frees room is a 500 only there.
func TestHeaderLimitsAfterMutations(t *testing.T) {
	// The client's headers plus :authority, :method, :path, :scheme,
	// x-forwarded-proto and x-request-id.
	client := http.Header{}
	for i := range 10 {
		client.Set(fmt.Sprintf("X-C%d", i), "v")
	}
	const base = 10 + 2 + 6 // + User-Agent and Accept-Encoding from net/http
	tests := map[string]struct {
		ok     *authv3.OkHttpResponse
		limit  int
		status map[Mode]int
	}{
		"fits": {ok: &authv3.OkHttpResponse{Headers: []*corev3.HeaderValueOption{hv("x-n1", "v", no, 0)}}, limit: base + 1,
			status: map[Mode]int{V136: 200, V137: 200}},
		"one too many": {ok: &authv3.OkHttpResponse{Headers: []*corev3.HeaderValueOption{hv("x-n1", "v", no, 0), hv("x-n2", "v", no, 0)}}, limit: base + 1,
			status: map[Mode]int{V136: 500, V137: 500}},
		"set then remove": {ok: &authv3.OkHttpResponse{Headers: []*corev3.HeaderValueOption{hv("x-n1", "v", no, 0), hv("x-n2", "v", no, 0)}, HeadersToRemove: []string{"x-c0"}}, limit: base + 1,
			status: map[Mode]int{V136: 200, V137: 500}},
		"too many before any mutation (v1.36 checks anyway)": {ok: &authv3.OkHttpResponse{}, limit: base - 1,
			status: map[Mode]int{V136: 500, V137: 200}},
	}
	for name, tc := range tests {
		for mode, want := range tc.status {
			t.Run(name+"/"+mode.String(), func(t *testing.T) {
				h := newHarness(t, reply(okResp(tc.ok)), func(c *Config) { c.Mode, c.MaxHeadersCount = mode, tc.limit })
				if tc.limit < 10+2 {
					t.Fatal("limit below the client's own headers")
				}
				resp, _ := h.do(t, "GET", "/x", client, nil)
				if resp.StatusCode != want {
					t.Fatalf("status %d, want %d", resp.StatusCode, want)
				}
			})
		}
	}
}
