package envoyemu

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
)

func TestRequestBodyBuffering(t *testing.T) {
	tests := map[string]struct {
		settings *BufferSettings
		route    func(*Route)
		method   string
		body     string
		// expectations; status 200 means the check ran and allowed
		status         int
		checked        bool
		wantBody       string
		wantRaw        string
		wantPartial    string // "" means header absent
		wantSize       int64
		upstreamGetsIt bool
	}{
		"no buffering configured": {method: "POST", body: "hello", status: 200, checked: true, upstreamGetsIt: true},
		"sanitised body": {settings: &BufferSettings{MaxRequestBytes: 64}, method: "POST", body: "h\xffi",
			status: 200, checked: true, wantBody: "h!i", wantPartial: "false", wantSize: 3, upstreamGetsIt: true},
		"raw body": {settings: &BufferSettings{MaxRequestBytes: 64, PackAsBytes: true}, method: "POST", body: "h\xffi",
			status: 200, checked: true, wantRaw: "h\xffi", wantPartial: "false", wantSize: 3, upstreamGetsIt: true},
		"exactly the limit": {settings: &BufferSettings{MaxRequestBytes: 5, PackAsBytes: true}, method: "POST", body: "12345",
			status: 200, checked: true, wantRaw: "12345", wantPartial: "false", wantSize: 5, upstreamGetsIt: true},
		"too large": {settings: &BufferSettings{MaxRequestBytes: 4}, method: "POST", body: "12345", status: 413},
		"partial cut": {settings: &BufferSettings{MaxRequestBytes: 4, AllowPartialMessage: true, PackAsBytes: true},
			method: "POST", body: "123456789", status: 200, checked: true, wantRaw: "1234", wantPartial: "true", wantSize: 9, upstreamGetsIt: true},
		"partial small": {settings: &BufferSettings{MaxRequestBytes: 40, AllowPartialMessage: true}, method: "POST", body: "abc",
			status: 200, checked: true, wantBody: "abc", wantPartial: "false", wantSize: 3, upstreamGetsIt: true},
		"no body": {settings: &BufferSettings{MaxRequestBytes: 4}, method: "GET", status: 200, checked: true},
		"route disables buffering": {settings: &BufferSettings{MaxRequestBytes: 4}, route: func(r *Route) { r.DisableRequestBodyBuffering = true },
			method: "POST", body: "123456789", status: 200, checked: true, upstreamGetsIt: true},
		"route overrides limit, not packing": {settings: &BufferSettings{MaxRequestBytes: 4, PackAsBytes: true},
			route:  func(r *Route) { r.WithRequestBody = &BufferSettings{MaxRequestBytes: 64} },
			method: "POST", body: "123456789", status: 200, checked: true, wantRaw: "123456789", wantPartial: "false", wantSize: 9, upstreamGetsIt: true},
		"route turns buffering on": {route: func(r *Route) { r.WithRequestBody = &BufferSettings{MaxRequestBytes: 64, PackAsBytes: true} },
			method: "POST", body: "abc", status: 200, checked: true, wantBody: "abc", wantPartial: "false", wantSize: 3, upstreamGetsIt: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, reply(&authv3.CheckResponse{}), func(c *Config) {
				c.WithRequestBody = tc.settings
				c.FailureModeAllow = true // 413 must not depend on it
				if tc.route != nil {
					tc.route(&c.Routes[0])
				}
			})
			var body io.Reader
			if tc.body != "" {
				body = strings.NewReader(tc.body)
			}
			resp, got := h.do(t, tc.method, "/", nil, body)
			if resp.StatusCode != tc.status {
				t.Fatalf("status = %d (%q), want %d", resp.StatusCode, got, tc.status)
			}
			reqs := h.authz.requests()
			if tc.checked != (len(reqs) == 1) {
				t.Fatalf("checks = %d, want checked=%v", len(reqs), tc.checked)
			}
			if tc.status == 413 {
				if got != "Payload Too Large" || h.upstream.count() != 0 {
					t.Fatalf("413 body = %q, upstream = %d", got, h.upstream.count())
				}
				return
			}
			hr := reqs[0].GetAttributes().GetRequest().GetHttp()
			partial, hasPartial := hr.GetHeaders()[hdrPartialBody]
			if hr.GetBody() != tc.wantBody || string(hr.GetRawBody()) != tc.wantRaw || partial != tc.wantPartial ||
				hasPartial != (tc.wantPartial != "") || hr.GetSize() != tc.wantSize {
				t.Fatalf("body=%q raw=%q partial=%q(%v) size=%d; want body=%q raw=%q partial=%q size=%d",
					hr.GetBody(), hr.GetRawBody(), partial, hasPartial, hr.GetSize(), tc.wantBody, tc.wantRaw, tc.wantPartial, tc.wantSize)
			}
			if tc.upstreamGetsIt && h.upstream.last(t).Body != tc.body {
				t.Fatalf("upstream body = %q, want the whole %q", h.upstream.last(t).Body, tc.body)
			}
		})
	}
}

// TestPartialBodyCaveat pins §1.4's caveat: when the buffer fills exactly
// to the limit before the end of the stream, the header says "false"
// although the body goes on.
func TestPartialBodyCaveat(t *testing.T) {
	pr, pw := io.Pipe()
	checked := make(chan struct{})
	h := newHarness(t, func(*authv3.CheckRequest) (*authv3.CheckResponse, error) {
		close(checked)
		return &authv3.CheckResponse{}, nil
	}, func(c *Config) {
		c.WithRequestBody = &BufferSettings{MaxRequestBytes: 4, AllowPartialMessage: true, PackAsBytes: true}
	})
	go func() {
		_, _ = io.WriteString(pw, "1234") // exactly the limit, then wait for the check
		select {
		case <-checked:
		case <-time.After(5 * time.Second):
		}
		_, _ = io.WriteString(pw, "5678")
		pw.Close()
	}()
	req, _ := http.NewRequest("POST", "http://"+h.addr+"/", pr)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	hr := h.authz.requests()[0].GetAttributes().GetRequest().GetHttp()
	if string(hr.GetRawBody()) != "1234" || hr.GetHeaders()[hdrPartialBody] != "false" {
		t.Fatalf("raw=%q partial=%q; want the cut body with \"false\"", hr.GetRawBody(), hr.GetHeaders()[hdrPartialBody])
	}
	if got := h.upstream.last(t).Body; got != "12345678" {
		t.Fatalf("upstream body = %q", got)
	}
}
