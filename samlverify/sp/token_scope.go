package sp

import (
	"path"
	"slices"
	"strings"
)

// Scopes narrow a token to models and APIs; the policy reads them as
// input.subject.scope (rego/policies/tfgate.rego). A scope parameter is
// space-separated entries, each "model:NAME" (every model API of NAME) or
// "model:NAME:API". NAME is a model name or a glob of one ("*" and "?"),
// written with letters, digits, ".", "_" and "-"; the policy's glob syntax
// is richer, but a narrower grammar keeps "is this entry within that one?"
// decidable here. API is one of the six model APIs.

// Limits of a scope parameter.
const (
	maxScopeEntries = 32
	maxScopeName    = 128
)

// scopeAPIs are the APIs a scope entry may name (the policy's model_apis).
var scopeAPIs = []string{"predict", "classify", "regress", "multi_inference", "model_status", "model_metadata"}

// Descriptions of scope errors; none quotes the request.
const (
	descScopeSyntax = "scope must be space-separated entries model:NAME or model:NAME:API, where NAME is a model name " +
		"or glob (letters, digits, . _ - and the wildcards * ?) and API one of predict, classify, regress, " +
		"multi_inference, model_status, model_metadata"
	descScopeWider = "the requested scope is not within the scope of the sign-in or token it comes from"
)

// scopeEntry is one parsed entry; api is "" for every model API.
type scopeEntry struct {
	name, api string
}

// parseScope parses a scope parameter. An empty one is no scope (nil):
// the parent's applies. Repeated entries are kept once, in order.
func parseScope(s string) ([]string, error) {
	if s == "" {
		return nil, nil
	}
	entries := strings.Split(s, " ")
	if len(entries) > maxScopeEntries {
		return nil, oauthErr(errInvalidScope, descScopeSyntax)
	}
	var out []string
	for _, e := range entries {
		if _, ok := parseScopeEntry(e); !ok {
			return nil, oauthErr(errInvalidScope, descScopeSyntax)
		}
		if !slices.Contains(out, e) {
			out = append(out, e)
		}
	}
	return out, nil
}

func parseScopeEntry(e string) (scopeEntry, bool) {
	parts := strings.Split(e, ":")
	if len(parts) < 2 || len(parts) > 3 || parts[0] != "model" || !validScopeName(parts[1]) {
		return scopeEntry{}, false
	}
	se := scopeEntry{name: parts[1]}
	if len(parts) == 3 {
		if !slices.Contains(scopeAPIs, parts[2]) {
			return scopeEntry{}, false
		}
		se.api = parts[2]
	}
	return se, true
}

func validScopeName(n string) bool {
	if n == "" || len(n) > maxScopeName {
		return false
	}
	for i := range len(n) {
		c := n[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '.', c == '_', c == '-', c == '*', c == '?':
		default:
			return false
		}
	}
	return true
}

// narrowScope returns the scope of a token asked for with requested and
// minted from a parent with scope parent: the parent's when none is
// requested; requested when the parent is not scoped; otherwise requested
// if every entry is within one of the parent's, and invalid_scope if not.
// Both are parsed scopes.
func narrowScope(parent, requested []string) ([]string, error) {
	switch {
	case requested == nil:
		return slices.Clone(parent), nil
	case len(parent) == 0:
		return requested, nil
	}
	for _, r := range requested {
		if !slices.ContainsFunc(parent, func(p string) bool { return scopeCovers(p, r) }) {
			return nil, oauthErr(errInvalidScope, descScopeWider)
		}
	}
	return requested, nil
}

// scopeCovers reports whether parent entry p allows everything child entry
// c does. When it cannot tell, it says no.
func scopeCovers(p, c string) bool {
	if p == c {
		return true
	}
	pe, ok1 := parseScopeEntry(p)
	ce, ok2 := parseScopeEntry(c)
	if !ok1 || !ok2 || (pe.api != "" && pe.api != ce.api) {
		return false
	}
	return nameCovers(pe.name, ce.name)
}

// nameCovers reports whether the names pattern p matches include every
// name pattern c matches: c equals p, p is "*", or c is a plain name that
// p matches. (A glob inside another is not decided.) With the characters
// validScopeName allows, path.Match is the policy's glob.match with no
// delimiters: "*" is any run of characters and "?" any one.
func nameCovers(p, c string) bool {
	if p == c || p == "*" {
		return true
	}
	if strings.ContainsAny(c, "*?") {
		return false
	}
	ok, err := path.Match(p, c)
	return err == nil && ok
}
