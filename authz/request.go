package authz

import (
	"net/http"
	"strings"
)

// Request is what Envoy asked about, as plain Go values. The envoy package
// builds it from a CheckRequest; nothing below it sees Envoy's protos.
type Request struct {
	// ID is Envoy's stream id (not x-request-id); may be empty.
	ID string
	// Method is the HTTP method (":method").
	Method string
	// Path is the raw request target including the query (":path"), not decoded.
	Path string
	// Host is ":authority".
	Host string
	// Scheme is ":scheme".
	Scheme string
	// Protocol is "HTTP/1.1", "HTTP/2", ...
	Protocol string
	// Header holds the request headers with canonical keys; pseudo-headers
	// are not in it. Repeated headers arrive joined by Envoy with ",".
	Header http.Header
	// Body is the buffered request body (raw_body), nil when Envoy sent none.
	Body []byte
	// GRPC is true when the content-type says application/grpc.
	GRPC bool
	// SourceIP is the downstream peer address, for the decision log.
	SourceIP string
	// SourcePrincipal is the peer identity Envoy verified
	// (attributes.source.principal: the URI SAN of an mTLS client
	// certificate, a SPIFFE ID in a mesh); empty without mTLS. Never
	// taken from a header.
	SourcePrincipal string
}

// IsBrowserNavigation reports whether the request looks like a top-level
// browser navigation, the only kind of request that should be redirected to
// the IdP rather than answered 401.
func (r *Request) IsBrowserNavigation() bool {
	if r.GRPC || (r.Method != http.MethodGet && r.Method != http.MethodHead) {
		return false
	}
	if mode := r.Header.Get("Sec-Fetch-Mode"); mode != "" {
		return mode == "navigate"
	}
	// Older browsers send no Fetch metadata; fall back to Accept.
	return containsToken(r.Header.Get("Accept"), "text/html")
}

func containsToken(list, token string) bool {
	for item := range strings.SplitSeq(list, ",") {
		item, _, _ = strings.Cut(item, ";")
		if strings.EqualFold(strings.TrimSpace(item), token) {
			return true
		}
	}
	return false
}
