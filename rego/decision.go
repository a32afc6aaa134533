package rego

import (
	"fmt"
	"math"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
	opa "github.com/open-policy-agent/opa/v1/rego"

	"github.com/tfgate/tfgate/authz"
)

// Keys of the decision object. Any other key is an error: a typo such as
// "header" must not silently drop what the author meant to send.
const (
	keyAllow   = "allow"
	keyReason  = "reason"
	keyStatus  = "status"
	keyHeaders = "headers"
)

// reservedHeaderPrefix names the identity headers tfgate itself sets; a
// policy may not set them (they would compete with the verified identity).
const reservedHeaderPrefix = "x-tfgate-"

// invalid returns an error wrapping authz.ErrInvalidDecision.
func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{authz.ErrInvalidDecision}, args...)...)
}

// decodeDecision checks that rs is exactly one decision object and converts
// it. It never returns Allow true together with an error.
func decodeDecision(rs opa.ResultSet) (authz.Verdict, error) {
	switch {
	case len(rs) == 0:
		return authz.Verdict{}, invalid("undefined decision")
	case len(rs) > 1:
		return authz.Verdict{}, invalid("%d results, want exactly one", len(rs))
	case len(rs[0].Expressions) != 1:
		return authz.Verdict{}, invalid("%d expressions, want exactly one", len(rs[0].Expressions))
	case len(rs[0].Bindings) != 0:
		return authz.Verdict{}, invalid("the query binds variables; want a plain reference")
	}
	t, ok := rs[0].Expressions[0].Value.(*ast.Term)
	if !ok {
		return authz.Verdict{}, invalid("the query is not a reference to a decision")
	}
	obj, ok := t.Value.(ast.Object)
	if !ok {
		return authz.Verdict{}, invalid("decision is %s, want an object", ast.ValueName(t.Value))
	}
	return decodeObject(obj)
}

// decodeObject converts a decision object, field by field.
func decodeObject(obj ast.Object) (authz.Verdict, error) {
	var v authz.Verdict
	var seenAllow, seenReason bool
	var status *ast.Term
	err := obj.Iter(func(k, val *ast.Term) error {
		key, ok := k.Value.(ast.String)
		if !ok {
			return invalid("decision has a non-string key %v", k)
		}
		switch key {
		case keyAllow:
			b, ok := val.Value.(ast.Boolean)
			if !ok {
				return invalid("allow is %s, want a boolean", ast.ValueName(val.Value))
			}
			v.Allow, seenAllow = bool(b), true
		case keyReason:
			s, ok := val.Value.(ast.String)
			if !ok {
				return invalid("reason is %s, want a string", ast.ValueName(val.Value))
			}
			v.Reason, seenReason = string(s), true
		case keyStatus:
			status = val
		case keyHeaders:
			h, err := decodeHeaders(val)
			if err != nil {
				return err
			}
			v.Headers = h
		default:
			return invalid("unknown key %q (want allow, reason, status, headers)", string(key))
		}
		return nil
	})
	switch {
	case err != nil:
		return authz.Verdict{}, err
	case !seenAllow:
		return authz.Verdict{}, invalid("allow is missing")
	case !seenReason:
		return authz.Verdict{}, invalid("reason is missing")
	}
	if status != nil {
		if v.Allow {
			return authz.Verdict{}, invalid("status is set on an allow")
		}
		if v.Status, err = decodeStatus(status); err != nil {
			return authz.Verdict{}, err
		}
	}
	return v, nil
}

// decodeStatus accepts an integer HTTP status in 400..599. Redirects are not
// a policy's to make: tfgate sends browsers to sign in itself, and a policy
// that could set Location would be an open redirect waiting to happen.
func decodeStatus(t *ast.Term) (int, error) {
	n, ok := t.Value.(ast.Number)
	if !ok {
		return 0, invalid("status is %s, want an integer", ast.ValueName(t.Value))
	}
	f, ok := n.Float64()
	if !ok || f != math.Trunc(f) || f < 400 || f > 599 {
		return 0, invalid("status %v is not an integer in 400..599", n)
	}
	return int(f), nil
}

// decodeHeaders accepts an object of header name to string value. Names are
// lowercased (Envoy and HTTP/2 use lowercase) and must be HTTP tokens; values
// must not contain control characters, so a policy cannot split a header.
func decodeHeaders(t *ast.Term) (map[string]string, error) {
	obj, ok := t.Value.(ast.Object)
	if !ok {
		return nil, invalid("headers is %s, want an object", ast.ValueName(t.Value))
	}
	h := make(map[string]string, obj.Len())
	err := obj.Iter(func(k, val *ast.Term) error {
		ks, ok := k.Value.(ast.String)
		if !ok || !isToken(string(ks)) {
			return invalid("header name %v is not an HTTP token", k)
		}
		name := strings.ToLower(string(ks))
		if strings.HasPrefix(name, reservedHeaderPrefix) {
			return invalid("header %s is reserved for tfgate's identity headers", name)
		}
		vs, ok := val.Value.(ast.String)
		if !ok || !isHeaderValue(string(vs)) {
			return invalid("header %s: value must be a string without control characters", name)
		}
		if _, dup := h[name]; dup {
			return invalid("header %s is set twice (names are case-insensitive)", name)
		}
		h[name] = string(vs)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return h, nil
}

// isToken reports whether s is an RFC 9110 token (a valid header name).
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// isHeaderValue reports whether s has no control characters other than tab.
func isHeaderValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < ' ' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}
