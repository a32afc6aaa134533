package envoyemu

import (
	"encoding/binary"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Outcome is how the filter classified a Check answer (§2).
type Outcome int

// Outcomes.
const (
	OutcomeOK Outcome = iota
	OutcomeDenied
	OutcomeError
)

// String names the outcome.
func (o Outcome) String() string {
	return [...]string{"ok", "denied", "error"}[o]
}

// Exchange is one Check call as the filter saw it, passed to
// Config.OnCheck.
type Exchange struct {
	Request  *authv3.CheckRequest
	Response *authv3.CheckResponse
	Err      error
	Outcome  Outcome
	// Trace is what the Zipkin tracer propagated (Config.ZipkinTracing).
	Trace Trace
}

// checkInput is everything the CheckRequest is built from.
type checkInput struct {
	r        *http.Request
	headers  headerMap
	route    *Route
	received time.Time
	buffer   *bodyBuffer
	settings *BufferSettings
}

// buildCheckRequest fills a CheckRequest the way createHttpCheck does
// (§1.1–§1.5). Every string is UTF-8-sanitised.
func (p *Proxy) buildCheckRequest(in checkInput) *authv3.CheckRequest {
	h := in.headers
	httpReq := &authv3.AttributeContext_HttpRequest{
		Id:       strconv.FormatUint(p.streamID(), 10),
		Method:   sanitizeUTF8(h.get(hdrMethod)),
		Headers:  p.checkHeaders(h, in.r.ProtoMajor == 2),
		Path:     sanitizeUTF8(h.get(hdrPath)),
		Host:     sanitizeUTF8(h.get(hdrAuthority)),
		Scheme:   sanitizeUTF8(h.get(hdrScheme)),
		Protocol: protocolName(in.r),
	}
	if b := in.buffer; b != nil {
		n := min(len(b.data), int(in.settings.MaxRequestBytes))
		httpReq.Size = int64(len(b.data))
		if in.settings.PackAsBytes {
			httpReq.RawBody = b.data[:n:n]
		} else {
			httpReq.Body = sanitizeUTF8(string(b.data[:n]))
		}
		// §1.4 caveat: a buffer that filled exactly to the limit before the
		// end of the stream still says "false".
		httpReq.Headers[hdrPartialBody] = strconv.FormatBool(n != len(b.data))
	}
	local, _ := in.r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	attrs := &authv3.AttributeContext{
		Source: &authv3.AttributeContext_Peer{
			Address: socketAddress(in.r.RemoteAddr),
			Service: sanitizeUTF8(h.get(hdrDownstreamService)),
		},
		Destination: &authv3.AttributeContext_Peer{Address: socketAddress(addrString(local))},
		Request: &authv3.AttributeContext_Request{
			Time: timestamppb.New(in.received),
			Http: httpReq,
		},
	}
	if p.cfg.SourcePrincipal != nil {
		attrs.Source.Principal = sanitizeUTF8(p.cfg.SourcePrincipal(in.r))
	}
	if len(in.route.ContextExtensions) > 0 {
		attrs.ContextExtensions = make(map[string]string, len(in.route.ContextExtensions))
		for k, v := range in.route.ContextExtensions {
			attrs.ContextExtensions[sanitizeUTF8(k)] = sanitizeUTF8(v)
		}
	}
	return &authv3.CheckRequest{Attributes: attrs}
}

// checkHeaders flattens h into the CheckRequest headers map (§1.3):
// entries joined with "," (cookie crumbs with "; " on HTTP/2), the
// client's x-envoy-auth-partial-body dropped, allowed/disallowed matchers
// applied to the lowercase key.
func (p *Proxy) checkHeaders(h headerMap, http2 bool) map[string]string {
	out := make(map[string]string, len(h))
	for k, vs := range h {
		if k == hdrPartialBody || !p.headerAllowed(k) {
			continue
		}
		sep := ","
		if http2 && k == "cookie" {
			sep = "; "
		}
		out[sanitizeUTF8(k)] = sanitizeUTF8(strings.Join(vs, sep))
	}
	return out
}

// headerAllowed applies allowed_headers and disallowed_headers.
func (p *Proxy) headerAllowed(key string) bool {
	for _, m := range p.cfg.DisallowedHeaders {
		if m.Match(key) {
			return false
		}
	}
	if p.cfg.AllowedHeaders == nil {
		return true
	}
	for _, m := range p.cfg.AllowedHeaders {
		if m.Match(key) {
			return true
		}
	}
	return false
}

// streamID returns a random uint64, like Envoy's stream id.
func (p *Proxy) streamID() uint64 {
	var b [8]byte
	_, _ = io.ReadFull(p.rand, b[:])
	return binary.BigEndian.Uint64(b[:])
}

// protocolName is the request's protocol as Envoy names it.
func protocolName(r *http.Request) string {
	switch {
	case r.ProtoMajor == 2:
		return "HTTP/2"
	case r.ProtoMajor == 1 && r.ProtoMinor == 0:
		return "HTTP/1.0"
	}
	return "HTTP/1.1"
}

// socketAddress converts "host:port" to a core.v3 Address (TCP).
func socketAddress(hostport string) *corev3.Address {
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		return nil
	}
	p, _ := strconv.ParseUint(port, 10, 32)
	return &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
		Address:       host,
		PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: uint32(p)},
	}}}
}

// addrString is a.String(), or "" for nil.
func addrString(a net.Addr) string {
	if a == nil {
		return ""
	}
	return a.String()
}
