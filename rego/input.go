package rego

import (
	"encoding/json"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/tfgate/tfgate/authz"
)

// Keys of the input document, built once: evaluation never mutates terms.
var (
	kSubject   = ast.StringTerm("subject")
	kRequest   = ast.StringTerm("request")
	kTarget    = ast.StringTerm("target")
	kID        = ast.StringTerm("id")
	kEmail     = ast.StringTerm("email")
	kGroups    = ast.StringTerm("groups")
	kIdP       = ast.StringTerm("idp")
	kAuth      = ast.StringTerm("auth")
	kScope     = ast.StringTerm("scope")
	kExpiresAt = ast.StringTerm("expires_at")
	kMethod    = ast.StringTerm("method")
	kPath      = ast.StringTerm("path")
	kHost      = ast.StringTerm("host")
	kProtocol  = ast.StringTerm("protocol")
	kAPI       = ast.StringTerm("api")
	kModel     = ast.StringTerm("model")
	kVersion   = ast.StringTerm("version")
	kLabel     = ast.StringTerm("label")
	kSignature = ast.StringTerm("signature")
)

// inputValue converts in to the value encoding/json would give a policy for
// it (the documented input shape), without a JSON round trip. The two must
// stay identical, field for field, including null versus absent: the tests
// compare them.
func inputValue(in *authz.Input) ast.Value {
	return inputValueCached(in, nil)
}

// inputValueCached is inputValue taking the subject's term from subjects
// when it holds one for an equal subject (and adding it when not).
func inputValueCached(in *authz.Input, subjects *subjectCache) ast.Value {
	var subject *ast.Term
	if subjects != nil {
		subject = subjects.term(in.Subject)
	} else {
		subject = subjectTerm(in.Subject)
	}
	return ast.NewObject(
		[2]*ast.Term{kSubject, subject},
		[2]*ast.Term{kRequest, requestTerm(&in.Request)},
		[2]*ast.Term{kTarget, targetTerm(&in.Target)},
	)
}

func requestTerm(r *authz.InputRequest) *ast.Term {
	return ast.ObjectTerm(
		[2]*ast.Term{kMethod, str(r.Method)},
		[2]*ast.Term{kPath, str(r.Path)},
		[2]*ast.Term{kHost, str(r.Host)},
		[2]*ast.Term{kProtocol, str(r.Protocol)},
	)
}

// common are terms for the strings most inputs hold (APIs, methods,
// protocols, the default signature): building the input allocates none for
// them. Terms are never mutated, so they are shared.
var common = func() map[string]*ast.Term {
	m := map[string]*ast.Term{}
	for _, s := range []string{
		"", "predict", "classify", "regress", "multi_inference", "model_status", "model_metadata",
		"reload_config", "session_run", "profiler", "health", "cors_preflight", "invalid", "unknown",
		"GET", "POST", "PUT", "DELETE", "OPTIONS", "HEAD",
		authz.ProtocolREST, authz.ProtocolGRPC, authz.AuthCookie, authz.AuthBearer, "serving_default",
	} {
		m[s] = ast.StringTerm(s)
	}
	return m
}()

func subjectTerm(s *authz.Subject) *ast.Term {
	if s == nil {
		return ast.NullTerm()
	}
	items := make([][2]*ast.Term, 0, 7)
	items = append(items,
		[2]*ast.Term{kID, str(s.ID)},
		[2]*ast.Term{kEmail, str(s.Email)},
		[2]*ast.Term{kGroups, stringsTerm(s.Groups)},
		[2]*ast.Term{kIdP, str(s.IdP)},
		[2]*ast.Term{kAuth, str(s.Auth)},
		[2]*ast.Term{kExpiresAt, timeTerm(s.ExpiresAt)},
	)
	if len(s.Scope) > 0 { // json:",omitempty"
		items = append(items, [2]*ast.Term{kScope, stringsTerm(s.Scope)})
	}
	return ast.ObjectTerm(items...)
}

func targetTerm(t *authz.InputTarget) *ast.Term {
	items := make([][2]*ast.Term, 0, 6)
	items = append(items,
		[2]*ast.Term{kAPI, str(t.API)},
		[2]*ast.Term{kModel, str(t.Model)},
		[2]*ast.Term{kVersion, ast.InternedNullTerm},
		[2]*ast.Term{kLabel, ast.InternedNullTerm},
		[2]*ast.Term{kSignature, str(t.Signature)},
	)
	if t.Version != nil {
		items[2][1] = ast.NewTerm(ast.Number(strconv.FormatInt(*t.Version, 10)))
	}
	if t.Label != nil {
		items[3][1] = str(*t.Label)
	}
	if t.Method != "" { // json:",omitempty"
		items = append(items, [2]*ast.Term{kMethod, str(t.Method)})
	}
	return ast.ObjectTerm(items...)
}

// stringsTerm converts a slice as encoding/json does: nil is null.
func stringsTerm(ss []string) *ast.Term {
	if ss == nil {
		return ast.NullTerm()
	}
	terms := make([]*ast.Term, len(ss))
	for i, s := range ss {
		terms[i] = str(s)
	}
	return ast.ArrayTerm(terms...)
}

// timeTerm formats t as time.Time's MarshalJSON does (RFC 3339 with
// nanoseconds).
func timeTerm(t time.Time) *ast.Term {
	return ast.StringTerm(t.Format(time.RFC3339Nano))
}

// str converts s as encoding/json does: invalid UTF-8 becomes U+FFFD, byte by
// byte. Request-derived strings (a percent-decoded model name) may be
// invalid, and a policy must see the same string here as in `policy eval`.
func str(s string) *ast.Term {
	if t, ok := common[s]; ok {
		return t
	}
	if !utf8.ValidString(s) {
		b, _ := json.Marshal(s)
		_ = json.Unmarshal(b, &s)
	}
	return ast.StringTerm(s)
}
