package envoyemu

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestOutcomes(t *testing.T) {
	errorResp := &authv3.CheckResponse{
		Status: &rpcstatus.Status{Code: int32(codes.Unavailable)},
		HttpResponse: &authv3.CheckResponse_ErrorResponse{ErrorResponse: &authv3.DeniedHttpResponse{
			Status: &typev3.HttpStatus{Code: typev3.StatusCode_ServiceUnavailable}, Body: "authz down",
		}},
	}
	tests := map[string]struct {
		respond  func(*authv3.CheckRequest) (*authv3.CheckResponse, error)
		edit     func(*Config)
		status   int
		body     string
		header   http.Header // must be present in the response
		noHeader []string    // must be absent from the response
		upstream bool
		outcome  Outcome
	}{
		"empty response allows": {respond: reply(&authv3.CheckResponse{}), status: 200, body: "upstream", upstream: true, outcome: OutcomeOK},
		"ok status with denied_response allows": {respond: reply(&authv3.CheckResponse{Status: &rpcstatus.Status{},
			HttpResponse: &authv3.CheckResponse_DeniedResponse{DeniedResponse: &authv3.DeniedHttpResponse{Body: "x"}}}),
			status: 200, upstream: true, outcome: OutcomeOK},
		"non-OK status without denied_response": {respond: reply(&authv3.CheckResponse{Status: &rpcstatus.Status{Code: 7}}),
			status: 403, body: "", noHeader: []string{"Content-Type"}, outcome: OutcomeDenied},
		"UNAVAILABLE inside a successful RPC is a deny": {respond: reply(&authv3.CheckResponse{Status: &rpcstatus.Status{Code: 14}}),
			edit: func(c *Config) { c.FailureModeAllow = true }, status: 403, outcome: OutcomeDenied},
		"denied status and body": {respond: reply(deniedResp(401, "login first")), status: 401, body: "login first",
			header: http.Header{"Content-Type": {"text/plain"}, "Content-Length": {"11"}}, outcome: OutcomeDenied},
		"denied keeps given content-type": {respond: reply(deniedResp(403, "{}", hv("Content-Type", "application/json", nil, 0))),
			status: 403, body: "{}", header: http.Header{"Content-Type": {"application/json"}}, outcome: OutcomeDenied},
		"denied empty body drops content-type": {respond: reply(deniedResp(302, "", hv("location", "/login", no, 0), hv("content-type", "text/html", nil, 0))),
			status: 302, header: http.Header{"Location": {"/login"}}, noHeader: []string{"Content-Type"}, outcome: OutcomeDenied},
		"denied set headers may repeat": {respond: reply(deniedResp(403, "no", hv("set-cookie", "a=1", nil, 0), hv("set-cookie", "b=2", no, 0))),
			status: 403, body: "no", header: http.Header{"Set-Cookie": {"a=1", "b=2"}}, outcome: OutcomeDenied},
		"denied append:true dropped in v1.36": {respond: reply(deniedResp(403, "no", hv("x-extra", "1", yes, 0))),
			status: 403, body: "no", noHeader: []string{"X-Extra"}, outcome: OutcomeDenied},
		"denied append:true dropped in v1.37": {respond: reply(deniedResp(403, "no", hv("x-extra", "1", yes, 0))),
			edit: func(c *Config) { c.Mode = V137 }, status: 403, body: "no", noHeader: []string{"X-Extra"}, outcome: OutcomeDenied},
		"denied append_action ignored": {respond: reply(deniedResp(403, "no", hv("x-extra", "1", nil, corev3.HeaderValueOption_ADD_IF_ABSENT))),
			status: 403, body: "no", header: http.Header{"X-Extra": {"1"}}, outcome: OutcomeDenied},
		"denied odd status sent as is": {respond: reply(deniedResp(418, "teapot")), status: 418, body: "teapot", outcome: OutcomeDenied},
		"rpc error": {respond: func(*authv3.CheckRequest) (*authv3.CheckResponse, error) {
			return nil, status.Error(codes.Unavailable, "down")
		}, status: 403, body: "", outcome: OutcomeError},
		"rpc error with status_on_error": {respond: func(*authv3.CheckRequest) (*authv3.CheckResponse, error) {
			return nil, status.Error(codes.Internal, "boom")
		}, edit: func(c *Config) { c.StatusOnError = 503 }, status: 503, outcome: OutcomeError},
		"status_on_error out of range": {respond: func(*authv3.CheckRequest) (*authv3.CheckResponse, error) {
			return nil, errors.New("boom")
		}, edit: func(c *Config) { c.StatusOnError = 600 }, status: 403, outcome: OutcomeError},
		"timeout": {respond: func(*authv3.CheckRequest) (*authv3.CheckResponse, error) {
			time.Sleep(300 * time.Millisecond)
			return &authv3.CheckResponse{}, nil
		}, edit: func(c *Config) { c.Timeout = 50 * time.Millisecond }, status: 403, outcome: OutcomeError},
		"failure_mode_allow": {respond: func(*authv3.CheckRequest) (*authv3.CheckResponse, error) {
			return nil, status.Error(codes.Unavailable, "down")
		}, edit: func(c *Config) { c.FailureModeAllow = true }, status: 200, upstream: true, outcome: OutcomeError},
		"error_response ignored in v1.36": {respond: reply(errorResp), status: 403, body: "", outcome: OutcomeDenied},
		"error_response in v1.37": {respond: reply(errorResp), edit: func(c *Config) { c.Mode = V137 },
			status: 503, body: "authz down", outcome: OutcomeError},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var mu sync.Mutex
			var got []Exchange
			h := newHarness(t, tc.respond, func(c *Config) {
				c.OnCheck = func(e Exchange) { mu.Lock(); got = append(got, e); mu.Unlock() }
				if tc.edit != nil {
					tc.edit(c)
				}
			})
			resp, body := h.do(t, "GET", "/x", nil, nil)
			if resp.StatusCode != tc.status || (tc.body != "" || tc.status != 200) && body != tc.body {
				t.Fatalf("response = %d %q, want %d %q", resp.StatusCode, body, tc.status, tc.body)
			}
			for k, vs := range tc.header {
				if g := resp.Header.Values(k); len(g) != len(vs) || g[0] != vs[0] || g[len(g)-1] != vs[len(vs)-1] {
					t.Errorf("header %s = %q, want %q", k, g, vs)
				}
			}
			for _, k := range tc.noHeader {
				if _, ok := resp.Header[k]; ok {
					t.Errorf("header %s present: %q", k, resp.Header[k])
				}
			}
			if (h.upstream.count() == 1) != tc.upstream {
				t.Errorf("upstream requests = %d, want reached=%v", h.upstream.count(), tc.upstream)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(got) != 1 || got[0].Outcome != tc.outcome {
				t.Errorf("OnCheck saw %+v, want one %v", got, tc.outcome)
			}
		})
	}
}

func TestFailureModeAllowHeaderAdd(t *testing.T) {
	h := newHarness(t, func(*authv3.CheckRequest) (*authv3.CheckResponse, error) {
		return nil, status.Error(codes.Unavailable, "down")
	}, func(c *Config) { c.FailureModeAllow, c.FailureModeAllowHeaderAdd = true, true })
	hdr := http.Header{"X-Envoy-Auth-Failure-Mode-Allowed": {"client"}, "X-Keep": {"1"}}
	if resp, _ := h.do(t, "GET", "/q?b=1&a=2", hdr, nil); resp.StatusCode != 200 {
		t.Fatalf("status = %d", resp.StatusCode)
	}
	up := h.upstream.last(t)
	if got := up.Header.Values("X-Envoy-Auth-Failure-Mode-Allowed"); len(got) != 2 || got[0] != "client" || got[1] != "true" {
		t.Fatalf("failure-mode header = %q, want the client copy plus an added \"true\"", got)
	}
	if up.URI != "/q?b=1&a=2" || up.Header.Get("X-Keep") != "1" {
		t.Fatalf("upstream request changed: %+v", up)
	}
}

func TestCheckDeadlineSent(t *testing.T) {
	srv := &deadlineAuthz{}
	client := startAuthzServer(t, srv)
	up := startEcho(t)
	p, err := New(Config{Routes: []Route{{Prefix: "/", Upstream: mustURL(t, up.URL)}}, Authz: client, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	p.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if rec.Code != 200 || srv.left <= time.Second || srv.left > 2*time.Second {
		t.Fatalf("status %d; server saw %v left on the deadline, want about 2s", rec.Code, srv.left)
	}
}

// deadlineAuthz records how much time was left on the call's deadline.
type deadlineAuthz struct {
	authv3.UnimplementedAuthorizationServer
	left time.Duration
}

func (d *deadlineAuthz) Check(ctx context.Context, _ *authv3.CheckRequest) (*authv3.CheckResponse, error) {
	if dl, ok := ctx.Deadline(); ok {
		d.left = time.Until(dl)
	}
	return &authv3.CheckResponse{}, nil
}
