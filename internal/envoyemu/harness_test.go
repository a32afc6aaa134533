package envoyemu

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// fixedNow is the pinned clock of every test proxy.
var fixedNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// fakeAuthz is a scripted Authorization server that records requests.
type fakeAuthz struct {
	authv3.UnimplementedAuthorizationServer
	respond func(*authv3.CheckRequest) (*authv3.CheckResponse, error)

	mu   sync.Mutex
	reqs []*authv3.CheckRequest
}

// Check records req and answers with the script.
func (f *fakeAuthz) Check(_ context.Context, req *authv3.CheckRequest) (*authv3.CheckResponse, error) {
	f.mu.Lock()
	f.reqs = append(f.reqs, req)
	f.mu.Unlock()
	return f.respond(req)
}

// requests returns the CheckRequests received so far.
func (f *fakeAuthz) requests() []*authv3.CheckRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*authv3.CheckRequest(nil), f.reqs...)
}

// startAuthz serves a fakeAuthz over real gRPC on loopback and returns a
// client for it.
func startAuthz(tb testing.TB, respond func(*authv3.CheckRequest) (*authv3.CheckResponse, error)) (*fakeAuthz, authv3.AuthorizationClient) {
	tb.Helper()
	f := &fakeAuthz{respond: respond}
	return f, startAuthzServer(tb, f)
}

// startAuthzServer serves impl over loopback gRPC and returns a client
// whose :authority is the cluster name, as Envoy's would be.
func startAuthzServer(tb testing.TB, impl authv3.AuthorizationServer) authv3.AuthorizationClient {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	srv := grpc.NewServer()
	authv3.RegisterAuthorizationServer(srv, impl)
	go func() { _ = srv.Serve(ln) }()
	conn, err := grpc.NewClient(ln.Addr().String(),
		grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithAuthority("extauthz_grpc"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { conn.Close(); srv.Stop() })
	return authv3.NewAuthorizationClient(conn)
}

// mustURL parses s.
func mustURL(tb testing.TB, s string) *url.URL {
	tb.Helper()
	u, err := url.Parse(s)
	if err != nil {
		tb.Fatal(err)
	}
	return u
}

// reply returns a script that always answers resp.
func reply(resp *authv3.CheckResponse) func(*authv3.CheckRequest) (*authv3.CheckResponse, error) {
	return func(*authv3.CheckRequest) (*authv3.CheckResponse, error) { return resp, nil }
}

// seen is what the echo upstream received.
type seen struct {
	Method, URI, Host string
	Header            http.Header
	Body              string
}

// echoUpstream is an HTTP/1.1 upstream that records each request and
// answers 200 "upstream" with an x-upstream header.
type echoUpstream struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []seen
}

func startEcho(tb testing.TB) *echoUpstream {
	tb.Helper()
	e := &echoUpstream{}
	e.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		e.mu.Lock()
		e.reqs = append(e.reqs, seen{Method: r.Method, URI: r.RequestURI, Host: r.Host, Header: r.Header.Clone(), Body: string(body)})
		e.mu.Unlock()
		w.Header().Set("X-Upstream", "up")
		_, _ = io.WriteString(w, "upstream")
	}))
	tb.Cleanup(e.Close)
	return e
}

// last returns the most recent upstream request (fails if none).
func (e *echoUpstream) last(tb testing.TB) seen {
	tb.Helper()
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.reqs) == 0 {
		tb.Fatal("upstream received no request")
	}
	return e.reqs[len(e.reqs)-1]
}

func (e *echoUpstream) count() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.reqs)
}

// harness is a proxy in front of an echo upstream with a fake authz.
type harness struct {
	proxy    *Proxy
	addr     string
	authz    *fakeAuthz
	upstream *echoUpstream
}

// newHarness starts everything; edit adjusts the config (may be nil).
func newHarness(tb testing.TB, respond func(*authv3.CheckRequest) (*authv3.CheckResponse, error), edit func(*Config)) *harness {
	tb.Helper()
	h := &harness{upstream: startEcho(tb)}
	var client authv3.AuthorizationClient
	h.authz, client = startAuthz(tb, respond)
	up, _ := url.Parse(h.upstream.URL)
	cfg := Config{
		Routes: []Route{{Prefix: "/", Upstream: up}},
		Authz:  client,
		// Generous, so the first call's connection setup under -race on a
		// busy machine cannot turn into a spurious Error; tests of the
		// deadline set their own.
		Timeout: 5 * time.Second,
		Now:     func() time.Time { return fixedNow },
	}
	if edit != nil {
		edit(&cfg)
	}
	h.proxy, h.addr = Start(tb, cfg)
	return h
}

// do sends an HTTP/1.1 request with a raw target and returns the response
// with its body read.
func (h *harness) do(tb testing.TB, method, target string, header http.Header, body io.Reader) (*http.Response, string) {
	tb.Helper()
	req, err := http.NewRequest(method, "http://"+h.addr, body)
	if err != nil {
		tb.Fatal(err)
	}
	req.URL.Opaque, req.URL.RawQuery, _ = strings.Cut(target, "?")
	req.URL.ForceQuery = strings.HasSuffix(target, "?")
	for k, vs := range header {
		req.Header[k] = vs
	}
	if hosts := header["Host"]; len(hosts) > 0 {
		req.Host = hosts[0]
	}
	resp, err := noRedirects.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// noRedirects is an HTTP/1.1 client that returns redirects as they are.
var noRedirects = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// rawRequest writes raw bytes to the proxy and reads one response.
func (h *harness) rawRequest(tb testing.TB, raw string) *http.Response {
	tb.Helper()
	conn, err := net.Dial("tcp", h.addr)
	if err != nil {
		tb.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, raw); err != nil {
		tb.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		tb.Fatal(err)
	}
	_, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp
}

// h2Client returns an HTTP client speaking h2c with prior knowledge. Its
// connections close before the proxy shuts down (cleanups run last-in,
// first-out), so the server need not wait out its GOAWAY grace period.
func h2Client(tb testing.TB) *http.Client {
	var protos http.Protocols
	protos.SetUnencryptedHTTP2(true)
	tr := &http.Transport{Protocols: &protos}
	tb.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// hv builds a HeaderValueOption; appendVal nil leaves append unset.
func hv(key, value string, appendVal *bool, action corev3.HeaderValueOption_HeaderAppendAction) *corev3.HeaderValueOption {
	o := &corev3.HeaderValueOption{Header: &corev3.HeaderValue{Key: key, Value: value}, AppendAction: action}
	if appendVal != nil {
		o.Append = wrapperspb.Bool(*appendVal)
	}
	return o
}

var (
	yes = func() *bool { b := true; return &b }()
	no  = func() *bool { b := false; return &b }()
)

// okResp wraps an OkHttpResponse in an OK CheckResponse.
func okResp(ok *authv3.OkHttpResponse) *authv3.CheckResponse {
	return &authv3.CheckResponse{Status: &rpcstatus.Status{}, HttpResponse: &authv3.CheckResponse_OkResponse{OkResponse: ok}}
}

// deniedResp builds a Denied CheckResponse with gRPC code 7.
func deniedResp(status int, body string, headers ...*corev3.HeaderValueOption) *authv3.CheckResponse {
	return &authv3.CheckResponse{
		Status: &rpcstatus.Status{Code: 7},
		HttpResponse: &authv3.CheckResponse_DeniedResponse{DeniedResponse: &authv3.DeniedHttpResponse{
			Status: &typev3.HttpStatus{Code: typev3.StatusCode(status)}, Body: body, Headers: headers,
		}},
	}
}
