package envoytest

import (
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
	opAppend                            // appendCopy, only if present (v1.36 OK)
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

// okRequestRuleV136 is the v1.36 bucket rule (§3.1): append:true appends,
// anything else sets; append_action is ignored.
func okRequestRuleV136(o *corev3.HeaderValueOption) headerOp {
	if o.GetAppend().GetValue() {
		return opAppend
	}
	return opSet
}

// modernRule is newest main's rule for request headers and, since 2024,
// every Envoy's rule for response_headers_to_add (§3.2, §3.3): a present
// append wins (true adds, false sets), else append_action decides.
func modernRule(o *corev3.HeaderValueOption) headerOp {
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
	return opDrop // saw_invalid_append_actions; only fatal with validate_mutations
}

// deniedRule classifies denied_response (and error_response) headers
// (§4.1): append:true is dropped in v1.36 and added in modern mode;
// everything else is a set (remove, then add every entry).
func (p *Proxy) deniedRule(o *corev3.HeaderValueOption) headerOp {
	if !o.GetAppend().GetValue() {
		return opSet
	}
	if p.cfg.Mode == Modern {
		return opAdd
	}
	return opDrop
}

// applyOK applies an OkHttpResponse's request mutations to h in Envoy's
// order (§3.1): v1.36 runs all sets, then appends, then removals; modern
// mode runs the header list in order, then removals. Query parameters are
// applied last (§3.4).
func (p *Proxy) applyOK(h headerMap, ok *authv3.OkHttpResponse) {
	if p.cfg.Mode == Modern {
		for _, m := range classify(ok.GetHeaders(), modernRule) {
			applyRequestMutation(h, m)
		}
	} else {
		muts := classify(ok.GetHeaders(), okRequestRuleV136)
		for _, op := range []headerOp{opSet, opAppend} {
			for _, m := range muts {
				if m.op == op {
					applyRequestMutation(h, m)
				}
			}
		}
	}
	for _, name := range ok.GetHeadersToRemove() {
		k := strings.ToLower(name)
		if strings.HasPrefix(k, ":") || k == "host" { // isRemovableHeader
			continue
		}
		delete(h, k)
	}
	if len(ok.GetQueryParametersToSet()) > 0 || len(ok.GetQueryParametersToRemove()) > 0 {
		h.setCopy(hdrPath, rewriteQuery(h.get(hdrPath), ok.GetQueryParametersToSet(), ok.GetQueryParametersToRemove()))
	}
}

// applyRequestMutation applies one mutation to the request headers.
func applyRequestMutation(h headerMap, m mutation) {
	_, present := h[m.key]
	switch {
	case m.op == opSet, m.op == opOverwriteIfExists && present:
		h.setCopy(m.key, m.value)
	case m.op == opAppend && present: // v1.36 drops appends to absent headers
		h.appendCopy(m.key, m.value)
	case m.op == opAdd, m.op == opAddIfAbsent && !present:
		h.addCopy(m.key, m.value)
	}
}

// responseHeaderOrder is v1.36's grouping of response_headers_to_add
// (§3.3): adds, sets, add-if-absent, overwrite-if-exists.
var responseHeaderOrder = []headerOp{opAdd, opSet, opAddIfAbsent, opOverwriteIfExists}

// applyResponseHeaders applies response_headers_to_add to a downstream
// response header (§3.3).
func (p *Proxy) applyResponseHeaders(h http.Header, muts []mutation) {
	if p.cfg.Mode == Modern {
		for _, m := range muts {
			applyResponseMutation(h, m)
		}
		return
	}
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
