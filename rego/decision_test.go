package rego

import (
	"context"
	"errors"
	"maps"
	"testing"

	"github.com/tfgate/tfgate/authz"
)

// shapes answers a different decision for each model name, so one evaluator
// (which must pass the anonymous probe: model "") covers every shape.
const shapes = `package tfgate.authz

ok := {"allow": false, "reason": "fine"}

default decision := {"allow": false, "reason": "fine"}

shape := {
	"string": "allow",
	"array": [true, "x"],
	"set": {"allow", "reason"},
	"allow_string": {"allow": "true", "reason": "x"},
	"allow_null": {"allow": null, "reason": "x"},
	"no_allow": {"reason": "x"},
	"no_reason": {"allow": true},
	"reason_number": {"allow": true, "reason": 1},
	"extra_key": {"allow": true, "reason": "x", "body": "hi"},
	"status_302": {"allow": false, "reason": "x", "status": 302},
	"status_600": {"allow": false, "reason": "x", "status": 600},
	"status_string": {"allow": false, "reason": "x", "status": "403"},
	"status_fraction": {"allow": false, "reason": "x", "status": 403.5},
	"status_on_allow": {"allow": true, "reason": "x", "status": 403},
	"headers_array": {"allow": true, "reason": "x", "headers": ["a"]},
	"header_bad_name": {"allow": true, "reason": "x", "headers": {"a b": "1"}},
	"header_pseudo": {"allow": true, "reason": "x", "headers": {":path": "/"}},
	"header_newline": {"allow": true, "reason": "x", "headers": {"a": "1\r\nb: 2"}},
	"header_number": {"allow": true, "reason": "x", "headers": {"a": 1}},
	"header_reserved": {"allow": true, "reason": "x", "headers": {"X-Tfgate-User": "root"}},
	"header_twice": {"allow": true, "reason": "x", "headers": {"X-A": "1", "x-a": "2"}},
}

decision := shape[input.target.model]

maybe := ok if input.target.model != "undefined"

many contains ok

many contains {"allow": true, "reason": "second"} if input.target.model == "two"

conflicting := {"allow": true, "reason": "a"} if input.target.model == "conflict"

conflicting := {"allow": false, "reason": "b"} if input.target.model == "conflict"

default conflicting := {"allow": false, "reason": "fine"}

valid := {"allow": true, "reason": "ok", "headers": {"X-Policy": "v1", "x-b": "tab\tok"}} if input.target.model == "headers"

valid := {"allow": false, "reason": "slow down", "status": 429.0} if input.target.model == "status"

default valid := {"allow": false, "reason": "fine"}
`

func TestInvalidDecisions(t *testing.T) {
	dir := writeDir(t, map[string]string{"shapes.rego": shapes})
	ctx := context.Background()
	decision := mustNew(t, Config{Dir: dir})
	byQuery := map[string]*Evaluator{
		"data.tfgate.authz.decision": decision,
		"data.tfgate.authz.maybe":    mustNew(t, Config{Dir: dir, Query: "data.tfgate.authz.maybe"}),
		"data.tfgate.authz.many[_]":  mustNew(t, Config{Dir: dir, Query: "data.tfgate.authz.many[_]"}),
	}
	tests := map[string]struct {
		query string // default data.tfgate.authz.decision
		model string
	}{
		"undefined":   {query: "data.tfgate.authz.maybe", model: "undefined"},
		"two results": {query: "data.tfgate.authz.many[_]", model: "two"},
	}
	for _, model := range malformedShapes {
		tests[model] = struct{ query, model string }{model: model}
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			e := decision
			if tt.query != "" {
				e = byQuery[tt.query]
			}
			v, err := e.Evaluate(ctx, in([]string{"g"}, "predict", tt.model))
			if !errors.Is(err, authz.ErrInvalidDecision) {
				t.Fatalf("Evaluate = %+v, %v; want ErrInvalidDecision", v, err)
			}
			if v.Allow || v.Reason != "" || v.Headers != nil {
				t.Errorf("Verdict = %+v on error, want the zero value", v)
			}
			t.Log(err)
		})
	}
}

// malformedShapes are the keys of the shapes policy's shape table.
var malformedShapes = []string{"string", "array", "set", "allow_string", "allow_null", "no_allow",
	"no_reason", "reason_number", "extra_key", "status_302", "status_600", "status_string",
	"status_fraction", "status_on_allow", "headers_array", "header_bad_name", "header_pseudo",
	"header_newline", "header_number", "header_reserved", "header_twice"}

func TestValidDecisionFields(t *testing.T) {
	dir := writeDir(t, map[string]string{"shapes.rego": shapes})
	e := mustNew(t, Config{Dir: dir, Query: "data.tfgate.authz.valid"})
	ctx := context.Background()

	v, err := e.Evaluate(ctx, in(nil, "predict", "headers"))
	want := map[string]string{"x-policy": "v1", "x-b": "tab\tok"}
	if err != nil || !v.Allow || v.Reason != "ok" || !maps.Equal(v.Headers, want) {
		t.Errorf("headers: Evaluate = %+v, %v; want allow with headers %v", v, err, want)
	}
	v, err = e.Evaluate(ctx, in(nil, "predict", "status"))
	if err != nil || v.Allow || v.Status != 429 || v.Reason != "slow down" {
		t.Errorf("status: Evaluate = %+v, %v; want deny 429", v, err)
	}
}

func TestEvaluationError(t *testing.T) {
	dir := writeDir(t, map[string]string{"shapes.rego": shapes})
	e := mustNew(t, Config{Dir: dir, Query: "data.tfgate.authz.conflicting"})
	v, err := e.Evaluate(context.Background(), in(nil, "predict", "conflict"))
	if !errors.Is(err, ErrEvaluation) || errors.Is(err, authz.ErrInvalidDecision) || v.Allow {
		t.Fatalf("Evaluate = %+v, %v; want ErrEvaluation", v, err)
	}
	t.Log(err)
}

// A query or policy whose answer to the anonymous probe is malformed never
// becomes the policy in force.
func TestProbeRejectsMalformedPolicies(t *testing.T) {
	ctx := context.Background()
	tests := map[string]Config{
		"undefined":       {Query: "data.tfgate.authz.nope"},
		"two expressions": {Query: "data.tfgate.authz.decision; data.tfgate.authz.decision"},
		"binding":         {Query: "x := data.tfgate.authz.decision"},
		"comparison":      {Query: "data.tfgate.authz.decision.allow == false"},
		"not an object":   {Query: "data.tfgate.authz.shape.string"},
	}
	dir := writeDir(t, map[string]string{"shapes.rego": shapes})
	for name, cfg := range tests {
		t.Run(name, func(t *testing.T) {
			cfg.Dir = dir
			if _, err := New(ctx, cfg); !errors.Is(err, authz.ErrInvalidDecision) {
				t.Fatalf("New(%q) = %v, want ErrInvalidDecision", cfg.Query, err)
			}
		})
	}
}
