package envoyemu

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"time"
)

// upstreamRequest is the request as the router will send it.
type upstreamRequest struct {
	route   *Route
	headers headerMap
	body    io.Reader
	// responseAdds are the OK response's response_headers_to_add.
	responseAdds []mutation
}

// Envoy's local-reply bodies for upstream failures.
const (
	bodyUpstreamTimeout = "upstream request timeout"
	bodyUpstreamReset   = "upstream connect error or disconnect/reset before headers. reset reason: connection failure"
)

// newTransport returns an upstream transport speaking HTTP/1.1, or h2c
// with prior knowledge when http2 is set.
func newTransport(http2 bool) *http.Transport {
	var protos http.Protocols
	if http2 {
		protos.SetUnencryptedHTTP2(true)
	} else {
		protos.SetHTTP1(true)
	}
	return &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		Protocols:           &protos,
		MaxIdleConnsPerHost: 32,
		IdleConnTimeout:     90 * time.Second,
	}
}

// forward proxies up to the route's cluster. httputil.ReverseProxy copies
// the response and passes trailers, including gRPC's. FlushInterval stays
// 0: ReverseProxy then flushes every write of streamed (unknown-length)
// responses, as Envoy does, but never flushes the headers of an empty
// response early. That matters for gRPC trailers-only responses (an
// upstream error): flushed early, their HEADERS frame would lose
// END_STREAM and grpc-go would report "server closed the stream without
// sending trailers" instead of the upstream's status.
func (p *Proxy) forward(w http.ResponseWriter, r *http.Request, up upstreamRequest, grpc bool) {
	ctx := r.Context()
	if up.route.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, up.route.Timeout)
		defer cancel()
	}
	transport := p.h1
	if up.route.HTTP2 {
		transport = p.h2
	}
	rp := &httputil.ReverseProxy{
		Rewrite:   func(pr *httputil.ProxyRequest) { rewrite(pr, up) },
		Transport: transport,
		ModifyResponse: func(res *http.Response) error {
			p.applyResponseHeaders(res.Header, up.responseAdds)
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, out *http.Request, err error) {
			p.upstreamFailure(w, out, err, up, grpc)
		},
		ErrorLog: slog.NewLogLogger(p.cfg.Logger.Handler(), slog.LevelWarn),
	}
	rp.ServeHTTP(w, r.WithContext(ctx))
}

// rewrite turns the mutated header map into the outgoing request: the
// pseudo-headers become method, target and Host, everything else is sent
// as is (no X-Forwarded-For: use_remote_address is off by default).
func rewrite(pr *httputil.ProxyRequest, up upstreamRequest) {
	out, h := pr.Out, up.headers
	out.Method = h.get(hdrMethod)
	out.Host = h.get(hdrAuthority)
	out.URL = upstreamURL(up.route.Upstream, h.get(hdrPath))
	out.Header = h.httpHeader()
	if out.Body != nil {
		out.Body = io.NopCloser(up.body)
	}
}

// upstreamURL addresses cluster with the raw :path, sent byte for byte.
func upstreamURL(cluster *url.URL, path string) *url.URL {
	u := &url.URL{Scheme: cluster.Scheme, Host: cluster.Host}
	p, q, hasQuery := strings.Cut(path, "?")
	if strings.HasPrefix(p, "/") && !strings.HasPrefix(p, "//") {
		u.Opaque = p // RequestURI() uses Opaque verbatim, so nothing is re-escaped
	} else {
		u.Path = p
	}
	u.RawQuery, u.ForceQuery = q, hasQuery && q == ""
	return u
}

// upstreamFailure is the router's local reply when the upstream cannot be
// reached or times out before the response starts.
func (p *Proxy) upstreamFailure(w http.ResponseWriter, out *http.Request, err error, up upstreamRequest, grpc bool) {
	if errors.Is(out.Context().Err(), context.Canceled) {
		return // the downstream went away
	}
	rep := localReply{status: http.StatusServiceUnavailable, body: bodyUpstreamReset, responseAdds: up.responseAdds}
	if errors.Is(out.Context().Err(), context.DeadlineExceeded) {
		rep.status, rep.body = http.StatusGatewayTimeout, bodyUpstreamTimeout
	}
	p.cfg.Logger.Debug("envoyemu: upstream failure", "route", up.route.Prefix, "error", err)
	p.sendLocalReply(w, grpc, rep)
}
