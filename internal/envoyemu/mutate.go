package envoyemu

import (
	"errors"
	"net/http"
	"slices"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
)

// headerOp is one header mutation kind.
type headerOp int

const (
	opSet               headerOp = iota // setCopy
	opAppend                            // appendCopy, only if present
	opAdd                               // addCopy
	opAddIfAbsent                       // addCopy when absent
	opOverwriteIfExists                 // setCopy when present
	opDrop                              // ignored
)

// mutation is one classified HeaderValueOption.
type mutation struct {
	op         headerOp
	key, value string
}

// classify turns HeaderValueOptions into mutations with lowercase keys.
// Only HeaderValue.value is read: raw_value is ignored, as Envoy's gRPC
// client does (§0).
func classify(opts []*corev3.HeaderValueOption, rule func(*corev3.HeaderValueOption) headerOp) []mutation {
	out := make([]mutation, 0, len(opts))
	for _, o := range opts {
		out = append(out, mutation{op: rule(o), key: strings.ToLower(o.GetHeader().GetKey()), value: o.GetHeader().GetValue()})
	}
	return out
}

// okRequestRule is how every release classifies OkHttpResponse.headers
// and DeniedHttpResponse.headers (copyHeaderFieldIntoResponse,
// source/extensions/filters/common/ext_authz/ext_authz_grpc_impl.cc:19-29 at
// v1.36.2 and at v1.37.0): append:true appends, anything else (append false
// or absent) sets; append_action is not read. PR #42878, which read it, was
// merged on main after v1.37.0 and reverted by #43442 (§3.2).
func okRequestRule(o *corev3.HeaderValueOption) headerOp {
	if o.GetAppend().GetValue() {
		return opAppend
	}
	return opSet
}

// responseRule classifies response_headers_to_add (copyOkResponseMutations,
// ext_authz_grpc_impl.cc:35-65 at v1.36.2 and v1.37.0): a present append
// wins (true adds, false sets), else append_action decides; an unknown
// action sets saw_invalid_append_actions (opDrop).
func responseRule(o *corev3.HeaderValueOption) headerOp {
	if a := o.GetAppend(); a != nil {
		if a.GetValue() {
			return opAdd
		}
		return opSet
	}
	switch o.GetAppendAction() {
	case corev3.HeaderValueOption_APPEND_IF_EXISTS_OR_ADD:
		return opAdd
	case corev3.HeaderValueOption_ADD_IF_ABSENT:
		return opAddIfAbsent
	case corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD:
		return opSet
	case corev3.HeaderValueOption_OVERWRITE_IF_EXISTS:
		return opOverwriteIfExists
	}
	return opDrop
}

// deniedRule classifies denied_response headers (§4.1). Both are made by
// copyHeaderFieldIntoResponse, but the Denied local reply uses only
// headers_to_set (ext_authz.cc:945-963 at v1.36.2; unchanged on main as of
// 2026-03-18), so append:true entries are dropped.
func deniedRule(o *corev3.HeaderValueOption) headerOp {
	if o.GetAppend().GetValue() {
		return opDrop
	}
	return opSet
}

// errorRule classifies v1.37+ error_response headers: the Error local reply
// removes the set names, then adds the set entries and then the append
// entries (addErrorResponseHeaders, ext_authz.cc:1198-1225 at v1.37.0).
func errorRule(o *corev3.HeaderValueOption) headerOp {
	if o.GetAppend().GetValue() {
		return opAdd
	}
	return opSet
}

// errInvalidMutation is applyOK's verdict that Envoy would answer 500
// (rejectResponse, ext_authz.cc:999-1010 at v1.36.2).
var errInvalidMutation = errors.New("invalid ext_authz response")

// applyOK applies an OkHttpResponse's request mutations to h in Envoy's
// order (ext_authz.cc:646-895 at v1.36.2): all sets, then all appends
// (dropped when the header is absent), then removals, then query
// parameters (§3.1, §3.4). With validate_mutations an invalid header name
// or value in a set or append, or in response_headers_to_add, is a 500;
// an invalid name to remove is ignored. Then the header limits are checked:
// v1.36 once, after everything (ext_authz.cc:884-888 at v1.36.2); v1.37
// after every single set, add and append and after a query rewrite, but no
// longer at the end (ext_authz.cc:689-693, 713-717, 753-757, 924-928 at
// v1.37.0). Over the limit is a 500 in both.
func (p *Proxy) applyOK(h headerMap, ok *authv3.OkHttpResponse) error {
	muts := classify(ok.GetHeaders(), okRequestRule)
	for _, op := range []headerOp{opSet, opAppend} {
		for _, m := range muts {
			if m.op != op {
				continue
			}
			if p.cfg.ValidateMutations && (!validHeaderName(m.key) || !validHeaderValue(m.value)) {
				return errInvalidMutation
			}
			applyRequestMutation(h, m)
			if p.cfg.Mode == V137 && !p.withinLimits(h) {
				return errInvalidMutation
			}
		}
	}
	for _, name := range ok.GetHeadersToRemove() {
		k := strings.ToLower(name)
		if p.cfg.ValidateMutations && !validHeaderName(k) {
			continue
		}
		if strings.HasPrefix(k, ":") || k == "host" { // isRemovableHeader, header_utility.cc:560-563
			continue
		}
		delete(h, k)
	}
	resp := classify(ok.GetResponseHeadersToAdd(), responseRule)
	for _, m := range resp {
		if m.op == opDrop && p.cfg.ValidateMutations { // saw_invalid_append_actions, ext_authz.cc:610-619
			return errInvalidMutation
		}
		if p.cfg.ValidateMutations && (!validHeaderName(m.key) || !validHeaderValue(m.value)) {
			return errInvalidMutation
		}
	}
	if len(ok.GetQueryParametersToSet()) > 0 || len(ok.GetQueryParametersToRemove()) > 0 {
		h.setCopy(hdrPath, rewriteQuery(h.get(hdrPath), ok.GetQueryParametersToSet(), ok.GetQueryParametersToRemove()))
		if p.cfg.Mode == V137 && !p.withinLimits(h) {
			return errInvalidMutation
		}
	}
	if p.cfg.Mode == V136 && !p.withinLimits(h) {
		return errInvalidMutation
	}
	return nil
}

// withinLimits is headersWithinLimits: the entry count (pseudo-headers
// included) is at most max_headers_count and the byte size (keys plus
// values) at most max_request_headers_kb.
func (p *Proxy) withinLimits(h headerMap) bool {
	n, size := 0, 0
	for k, vs := range h {
		n += len(vs)
		for _, v := range vs {
			size += len(k) + len(v)
		}
	}
	return n <= p.cfg.MaxHeadersCount && size <= p.cfg.MaxRequestHeadersKB*1024
}

// applyRequestMutation applies one mutation to the request headers.
func applyRequestMutation(h headerMap, m mutation) {
	_, present := h[m.key]
	switch {
	case m.op == opSet, m.op == opOverwriteIfExists && present:
		h.setCopy(m.key, m.value)
	case m.op == opAppend && present: // appends to absent headers are dropped
		h.appendCopy(m.key, m.value)
	case m.op == opAdd, m.op == opAddIfAbsent && !present:
		h.addCopy(m.key, m.value)
	}
}

// responseHeaderOrder is encodeHeaders' grouping of response_headers_to_add
// (ext_authz.cc:480-523 at v1.36.2): adds, sets, add-if-absent,
// overwrite-if-exists, each group in list order.
var responseHeaderOrder = []headerOp{opAdd, opSet, opAddIfAbsent, opOverwriteIfExists}

// applyResponseHeaders applies response_headers_to_add to a downstream
// response header (§3.3).
func (p *Proxy) applyResponseHeaders(h http.Header, muts []mutation) {
	for _, op := range responseHeaderOrder {
		for _, m := range muts {
			if m.op == op {
				applyResponseMutation(h, m)
			}
		}
	}
}

// applyResponseMutation applies one mutation to response headers.
func applyResponseMutation(h http.Header, m mutation) {
	if strings.HasPrefix(m.key, ":") {
		return
	}
	present := len(h.Values(m.key)) > 0
	switch {
	case m.op == opSet, m.op == opOverwriteIfExists && present:
		h.Set(m.key, m.value)
	case m.op == opAdd, m.op == opAddIfAbsent && !present:
		h.Add(m.key, m.value)
	}
}

// validHeaderName is HeaderUtility::headerNameIsValid
// (header_utility.cc:132-150 at v1.36.2): an optional leading ':' and then
// RFC 9110 token characters (upper case allowed).
func validHeaderName(k string) bool {
	if strings.HasPrefix(k, ":") {
		k = k[1:]
		if k == "" {
			return false
		}
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// validHeaderValue is HeaderUtility::headerValueIsValid
// (header_utility.cc:127-130 at v1.36.2), quiche's IsValidHeaderValue with
// obs-text allowed: HTAB, ' '..'~' and 0x80..0xFF.
func validHeaderValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c != '\t' && (c < ' ' || c == 0x7f) {
			return false
		}
	}
	return true
}

// rewriteQuery is QueryParamsMulti: parse the query of path without
// decoding into a key-sorted multimap, overwrite each key of set, remove
// each key of remove, and rebuild "<path>?k=v&..." in key order (§3.4).
func rewriteQuery(path string, set []*corev3.QueryParameter, remove []string) string {
	base, query, hasQuery := strings.Cut(path, "?")
	params := map[string][]string{}
	for start := 0; hasQuery && start < len(query); {
		end := strings.IndexByte(query[start:], '&')
		if end < 0 {
			end = len(query)
		} else {
			end += start
		}
		k, v, _ := strings.Cut(query[start:end], "=")
		params[k] = append(params[k], v)
		start = end + 1
	}
	for _, q := range set {
		params[q.GetKey()] = []string{q.GetValue()}
	}
	for _, k := range remove {
		delete(params, k)
	}
	if len(params) == 0 {
		return base
	}
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	for _, k := range keys {
		for _, v := range params[k] {
			if b.Len() > 0 {
				b.WriteByte('&')
			}
			b.WriteString(k + "=" + v)
		}
	}
	return base + "?" + b.String()
}
