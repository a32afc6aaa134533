package envoyemu

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// localReply is a response the proxy generates itself, as Envoy's
// sendLocalReply does.
type localReply struct {
	status int
	body   string
	// headers are applied to the reply before the gRPC/plain rules run.
	headers []mutation
	// responseAdds are the ext_authz response_headers_to_add, applied last.
	responseAdds []mutation
}

// sendLocalReply writes rep downstream (§4.1): plain HTTP clients get the
// status and body; gRPC clients get a trailers-only HTTP 200 response
// whose grpc-status comes from httpToGrpcStatus unless a grpc-status
// header was supplied, with the body percent-encoded into grpc-message.
func (p *Proxy) sendLocalReply(w http.ResponseWriter, grpc bool, rep localReply) {
	h := w.Header()
	for _, m := range rep.headers { // "set" names are removed first, then all entries added
		if m.op == opSet {
			h.Del(m.key)
		}
	}
	for _, m := range rep.headers {
		if m.op == opSet || m.op == opAdd {
			h.Add(m.key, m.value)
		}
	}
	if grpc {
		prepareGRPCLocalReply(h, rep)
		p.applyResponseHeaders(h, rep.responseAdds) // encodeHeaders runs after the local reply is built
		w.WriteHeader(http.StatusOK)
		return
	}
	status := rep.status
	if status < 200 || status > 999 {
		// net/http cannot send these as a final status; make it visible.
		h.Set("X-Envoyemu-Error", fmt.Sprintf("cannot send HTTP status %d", rep.status))
		status = http.StatusInternalServerError
	}
	if rep.body != "" {
		h.Set("Content-Length", strconv.Itoa(len(rep.body)))
		if h.Get("Content-Type") == "" {
			h.Set("Content-Type", "text/plain")
		}
	} else {
		h.Del("Content-Length")
		h.Del("Content-Type")
	}
	p.applyResponseHeaders(h, rep.responseAdds)
	w.WriteHeader(status)
	_, _ = io.WriteString(w, rep.body)
}

// prepareGRPCLocalReply turns h into a trailers-only gRPC reply
// (Utility::encodeLocalReply); the caller then writes HTTP 200.
func prepareGRPCLocalReply(h http.Header, rep localReply) {
	h.Set("Content-Type", "application/grpc")
	if h.Get("Grpc-Status") == "" {
		h.Set("Grpc-Status", strconv.Itoa(httpToGrpcStatus(rep.status)))
	}
	// No trailing-newline trim: Envoy drops one only when a local_reply_config
	// formats the body as JSON (utility.cc:760-765 at v1.36.2), which the
	// emulator does not model, so the body is encoded as it is.
	if rep.body != "" {
		h.Set("Grpc-Message", percentEncode(rep.body))
	}
	// Envoy removes content-length; a present nil entry stops net/http
	// from adding "content-length: 0" to the HEADERS frame.
	h["Content-Length"] = nil
}

// httpToGrpcStatus is Grpc::Utility::httpToGrpcStatus.
func httpToGrpcStatus(status int) int {
	switch status {
	case 400:
		return 13 // INTERNAL
	case 401:
		return 16 // UNAUTHENTICATED
	case 403:
		return 7 // PERMISSION_DENIED
	case 404:
		return 12 // UNIMPLEMENTED
	case 429, 502, 503, 504:
		return 14 // UNAVAILABLE
	}
	return 2 // UNKNOWN
}

// percentEncode is Envoy's PercentEncoding::encode for grpc-message
// (utility.cc:1256-1289 at v1.36.2): bytes below ' ', from '~' up (so '~'
// itself, DEL and every non-ASCII byte) and '%' become %XX (upper-case hex).
func percentEncode(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < ' ' || c >= '~' || c == '%' {
			fmt.Fprintf(&b, "%%%02X", c)
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}
