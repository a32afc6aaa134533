package envoyemu

import (
	"encoding/hex"
	"io"
	"net/http"
	"net/textproto"
	"slices"
	"strings"
	"unicode/utf8"
)

// Header names the emulator reads or writes.
const (
	hdrAuthority         = ":authority"
	hdrMethod            = ":method"
	hdrPath              = ":path"
	hdrScheme            = ":scheme"
	hdrForwardedProto    = "x-forwarded-proto"
	hdrRequestID         = "x-request-id"
	hdrPartialBody       = "x-envoy-auth-partial-body"
	hdrFailureModeAllow  = "x-envoy-auth-failure-mode-allowed"
	hdrDownstreamService = "x-envoy-downstream-service-cluster"
)

// headerMap is Envoy's request header map reduced to what matters here:
// lowercase keys (pseudo-headers included), each with its entries in
// arrival order.
type headerMap map[string][]string

// get returns the first entry of key, or "".
func (h headerMap) get(key string) string {
	if vs := h[key]; len(vs) > 0 {
		return vs[0]
	}
	return ""
}

// setCopy removes every entry of key and adds one.
func (h headerMap) setCopy(key, value string) { h[key] = []string{value} }

// addCopy adds a new entry, even if key exists.
func (h headerMap) addCopy(key, value string) { h[key] = append(h[key], value) }

// appendCopy appends ","+value to the first entry of key (adding one when
// absent), as HeaderMapImpl::appendCopy does.
func (h headerMap) appendCopy(key, value string) {
	if vs := h[key]; len(vs) > 0 {
		vs[0] += "," + value
		return
	}
	h.addCopy(key, value)
}

// clone deep-copies h.
func (h headerMap) clone() headerMap {
	c := make(headerMap, len(h))
	for k, vs := range h {
		c[k] = slices.Clone(vs)
	}
	return c
}

// httpHeader converts h to an http.Header for the upstream request,
// dropping pseudo-headers (they become the request line) and "host"
// (net/http sends :authority as Host).
func (h headerMap) httpHeader() http.Header {
	out := make(http.Header, len(h))
	for k, vs := range h {
		if strings.HasPrefix(k, ":") || k == "host" {
			continue
		}
		out[textproto.CanonicalMIMEHeaderKey(k)] = slices.Clone(vs)
	}
	return out
}

// hopByHop are the connection-specific headers the HCM strips before any
// filter runs; te is handled separately.
var hopByHop = []string{"connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade"}

// hcmHeaders builds the request header map the ext_authz filter sees:
// lowercase keys, pseudo-headers, hop-by-hop headers removed, te reduced
// to "trailers", and the HCM's x-forwarded-proto (overwritten, as for an
// untrusted downstream with xff_num_trusted_hops 0) and x-request-id
// (generated when absent).
func hcmHeaders(r *http.Request, path string, rnd io.Reader) headerMap {
	h := make(headerMap, len(r.Header)+6)
	for k, vs := range r.Header {
		lk := strings.ToLower(k)
		h[lk] = append(h[lk], vs...)
	}
	for _, k := range hopByHop {
		delete(h, k)
	}
	if te, ok := h["te"]; ok {
		delete(h, "te")
		if containsToken(te, "trailers") {
			h.setCopy("te", "trailers")
		}
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	h.setCopy(hdrAuthority, r.Host)
	h.setCopy(hdrMethod, r.Method)
	h.setCopy(hdrPath, path)
	h.setCopy(hdrScheme, scheme)
	h.setCopy(hdrForwardedProto, scheme)
	if h.get(hdrRequestID) == "" {
		h.setCopy(hdrRequestID, newUUID(rnd))
	}
	return h
}

// rawPath returns the request target as Envoy's :path: the raw
// origin-form target with its query, not decoded.
func rawPath(r *http.Request) string {
	if strings.HasPrefix(r.RequestURI, "/") {
		return r.RequestURI
	}
	return r.URL.RequestURI() // absolute-form or a handler called directly
}

// containsToken reports whether a comma-separated header contains tok.
func containsToken(values []string, tok string) bool {
	for _, v := range values {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), tok) {
				return true
			}
		}
	}
	return false
}

// isGRPC is Grpc::Common::hasGrpcContentType: content-type is exactly
// application/grpc or starts with application/grpc+ (so grpc-web is not).
func isGRPC(h headerMap) bool {
	ct := h.get("content-type")
	return ct == "application/grpc" || strings.HasPrefix(ct, "application/grpc+")
}

// sanitizeUTF8 is MessageUtil::sanitizeUtf8String: every byte that is not
// part of a valid UTF-8 sequence becomes '!', so the length is kept.
func sanitizeUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			b = append(b, '!')
		} else {
			b = append(b, s[i:i+n]...)
		}
		i += n
	}
	return string(b)
}

// newUUID returns a random (version 4) UUID string.
func newUUID(rnd io.Reader) string {
	var u [16]byte
	_, _ = io.ReadFull(rnd, u[:])
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	var b [36]byte
	hex.Encode(b[0:8], u[0:4])
	hex.Encode(b[9:13], u[4:6])
	hex.Encode(b[14:18], u[6:8])
	hex.Encode(b[19:23], u[8:10])
	hex.Encode(b[24:], u[10:])
	b[8], b[13], b[18], b[23] = '-', '-', '-', '-'
	return string(b[:])
}
