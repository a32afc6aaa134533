package envoy

import (
	"net/http"
	"strings"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"

	"github.com/tfgate/tfgate/authz"
)

// NewRequest converts a CheckRequest into an authz.Request, using nil-safe
// getters only, so a sparse or hostile CheckRequest cannot panic.
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
		Body:     h.GetRawBody(),
	}
	if r.Body == nil && h.GetBody() != "" {
		// Without pack_as_bytes Envoy sends a UTF-8-sanitised copy; the
		// parser treats it as the body and fails closed on damage.
		r.Body = []byte(h.GetBody())
	}
	for k, v := range h.GetHeaders() {
		if strings.HasPrefix(k, ":") {
			// :path, :method and :authority are in their own fields.
			continue
		}
		r.Header[http.CanonicalHeaderKey(k)] = []string{v}
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
		ck := http.CanonicalHeaderKey(k)
		r.Header[ck] = append(r.Header[ck], v)
	}
	r.GRPC = isGRPC(r.Header.Get("Content-Type"))
	if sa := attrs.GetSource().GetAddress().GetSocketAddress(); sa != nil {
		r.SourceIP = sa.GetAddress()
	}
	r.SourcePrincipal = attrs.GetSource().GetPrincipal()
	return r
}

func isGRPC(contentType string) bool {
	return strings.HasPrefix(strings.ToLower(contentType), "application/grpc")
}
