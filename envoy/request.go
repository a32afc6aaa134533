package envoy

import (
	"net/http"
	"strings"
	"sync"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"

	"github.com/tfgate/tfgate/authz"
)

// pooledRequest is an authz.Request the server reuses from Check to Check,
// with its header map, the backing array of its header values and its
// codec carrier: building them anew was a third of the bytes a cached
// Check allocated.
type pooledRequest struct {
	r      authz.Request
	values []string
	// in carries the request through the gRPC codec (checkHandler).
	in budgetedRequest
}

var requestPool = sync.Pool{New: func() any { return new(pooledRequest) }}

// maxPooledHeaders bounds the header map kept for reuse: a request with
// thousands of headers gets its map, but it is not kept.
const maxPooledHeaders = 64

// release returns p to the pool. Nothing may use p.r after: the Checker
// must not keep the request (Checker's contract).
func (p *pooledRequest) release() {
	h := p.r.Header
	if len(h) > maxPooledHeaders || cap(p.values) > maxPooledHeaders {
		return
	}
	clear(h)
	clear(p.values[:cap(p.values)]) // keep no header value (a cookie) alive
	p.r = authz.Request{Header: h}
	p.values = p.values[:0]
	p.in = budgetedRequest{}
	requestPool.Put(p)
}

// NewRequest converts a CheckRequest into an authz.Request, using nil-safe
// getters only, so a sparse or hostile CheckRequest cannot panic. The gRPC
// server reads requests with decode.go instead, which is held to this.
func NewRequest(req *authv3.CheckRequest) *authz.Request {
	attrs := req.GetAttributes()
	h := attrs.GetRequest().GetHttp()
	r := &authz.Request{
		ID:       h.GetId(),
		Method:   h.GetMethod(),
		Path:     h.GetPath(),
		Host:     h.GetHost(),
		Scheme:   h.GetScheme(),
		Protocol: h.GetProtocol(),
		Header:   make(http.Header, len(h.GetHeaders())),
	}
	// One backing array for every single-valued header.
	values := make([]string, 0, len(h.GetHeaders()))
	for k, v := range h.GetHeaders() {
		if strings.HasPrefix(k, ":") {
			// :path, :method and :authority are in their own fields.
			continue
		}
		values = append(values, v)
		r.Header[canonicalKey(k)] = values[len(values)-1 : len(values) : len(values)]
	}
	// encode_raw_headers: true sends header_map instead of headers.
	for _, hv := range h.GetHeaderMap().GetHeaders() {
		k, v := hv.GetKey(), string(hv.GetRawValue())
		if v == "" {
			v = hv.GetValue()
		}
		if strings.HasPrefix(k, ":") {
			continue
		}
		ck := canonicalKey(k)
		r.Header[ck] = append(r.Header[ck], v)
	}
	r.GRPC = isGRPC(r.Header.Get("Content-Type"))
	r.Body = h.GetRawBody()
	if r.Body == nil && !r.GRPC && h.GetBody() != "" {
		// REST only: without pack_as_bytes Envoy sends a copy in which every
		// byte that is not valid UTF-8 became '!' (MessageUtil::
		// sanitizeUtf8String). JSON is UTF-8, so that damage can only turn a
		// valid body into an invalid one. A gRPC body is binary protobuf:
		// the '!' substitution can turn one valid message into another (a
		// non-minimal varint read as a different model name), so gRPC reads
		// raw_body only, and no raw_body means no body, which the parser
		// denies (docs/envoy-ext-authz.md §1.4).
		r.Body = []byte(h.GetBody())
	}
	if sa := attrs.GetSource().GetAddress().GetSocketAddress(); sa != nil {
		r.SourceIP = sa.GetAddress()
	}
	r.SourcePrincipal = attrs.GetSource().GetPrincipal()
	return r
}

// knownKeys maps the lowercase header names Envoy sends (HTTP/2 and Envoy
// lowercase every name) that a Check commonly carries to their canonical
// form, so converting them allocates nothing.
var knownKeys = func() map[string]string {
	m := map[string]string{}
	for _, k := range []string{
		"accept", "accept-encoding", "accept-language", "authorization", "cache-control",
		"content-length", "content-type", "cookie", "grpc-accept-encoding", "grpc-encoding",
		"grpc-timeout", "origin", "referer", "sec-fetch-dest", "sec-fetch-mode", "sec-fetch-site",
		"sec-fetch-user", "te", "upgrade-insecure-requests", "user-agent", "x-envoy-auth-partial-body",
		"x-envoy-expected-rq-timeout-ms", "x-envoy-internal", "x-forwarded-for", "x-forwarded-proto",
		"x-request-id",
	} {
		m[k] = http.CanonicalHeaderKey(k)
	}
	return m
}()

// canonicalKey is http.CanonicalHeaderKey, without allocating for the
// names in knownKeys.
func canonicalKey(k string) string {
	if ck, ok := knownKeys[k]; ok {
		return ck
	}
	return http.CanonicalHeaderKey(k)
}

// isGRPC is Envoy's Grpc::Common::hasGrpcContentType, which decides
// whether Envoy treats the request as gRPC (local replies, the grpc route
// match): content-type exactly "application/grpc" or starting with
// "application/grpc+", case-sensitive, so "application/grpc-web" and
// "Application/gRPC" are not gRPC (source/common/grpc/common.cc:32-39 at
// v1.36.2). tfgate must agree, or it would parse as gRPC a request Envoy
// routes and answers as REST.
func isGRPC(contentType string) bool {
	const grpc = "application/grpc"
	return contentType == grpc || strings.HasPrefix(contentType, grpc+"+")
}
