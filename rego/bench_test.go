package rego

import (
	"context"
	"testing"

	opa "github.com/open-policy-agent/opa/v1/rego"

	"github.com/tfgate/tfgate/authz"
)

// benchEvaluate measures Evaluate with the decision cache (every call after
// the first is a hit, as for a client repeating one call) and without it.
func benchEvaluate(b *testing.B, x *authz.Input, allow bool) {
	for _, bc := range []struct {
		name    string
		entries int
	}{{"cached", 0}, {"uncached", -1}} {
		b.Run(bc.name, func(b *testing.B) {
			e := mustNew(b, Config{DecisionCacheEntries: bc.entries})
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				v, err := e.Evaluate(ctx, x)
				if err != nil || v.Allow != allow {
					b.Fatalf("Evaluate = %+v, %v", v, err)
				}
			}
		})
	}
}

func BenchmarkEvaluateAllow(b *testing.B) {
	benchEvaluate(b, in([]string{"staff", "resnet-users"}, "predict", "resnet50", version(2)), true)
}

func BenchmarkEvaluateDeny(b *testing.B) {
	benchEvaluate(b, in([]string{"staff", "resnet-users"}, "predict", "resnet50", version(3)), false)
}

func BenchmarkEvaluateAnonymous(b *testing.B) {
	benchEvaluate(b, in(nil, "predict", "resnet50", anonymous), false)
}

// The input conversions compared: the direct one Evaluate uses, and the JSON
// round trip it replaces (what opa.EvalInput does with a struct).
func BenchmarkInput(b *testing.B) {
	x := in([]string{"staff", "resnet-users"}, "predict", "resnet50", version(2), scope("model:resnet*"))
	b.Run("direct", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = inputValue(x)
		}
	})
	b.Run("json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = jsonValue(b, x)
		}
	})
}

// BenchmarkEvaluateEvalInput measures the whole evaluation with the JSON
// round trip (opa.EvalInput), for comparison with BenchmarkEvaluateAllow.
func BenchmarkEvaluateEvalInput(b *testing.B) {
	e := mustNew(b, Config{})
	x := in([]string{"staff", "resnet-users"}, "predict", "resnet50", version(2))
	ctx := context.Background()
	pq := e.cur.Load().query
	b.ReportAllocs()
	for b.Loop() {
		rs, err := pq.Eval(ctx, opa.EvalInput(x))
		if err != nil {
			b.Fatal(err)
		}
		if v, err := decodeDecision(rs); err != nil || !v.Allow {
			b.Fatalf("decision %+v, %v", v, err)
		}
	}
}
