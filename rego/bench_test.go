package rego

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"runtime"
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

// customerData generates grants of a customer's shape: groups groups with
// modelsPer exact model names each (10,000 names in all for 500 groups),
// plus one group, "big-glob-team", whose grants hold globs model globs
// (10 grants of globs/10 patterns each); and the default policy beside it.
func customerData(tb testing.TB, groups, modelsPer, globs int) string {
	tb.Helper()
	grants := map[string]any{}
	for g := range groups {
		models := make([]string, modelsPer)
		for m := range models {
			models[m] = fmt.Sprintf("team%03d-model%05d", g, g*modelsPer+m)
		}
		grants[fmt.Sprintf("team-%03d", g)] = []any{map[string]any{
			"models": models, "versions": []any{"*"}, "labels": []any{"stable"},
			"apis": []any{"predict", "model_metadata"},
		}}
	}
	var big []any
	for i := range 10 {
		pats := make([]string, globs/10)
		for j := range pats {
			pats[j] = fmt.Sprintf("proj%02d-exp%03d-*", i, j)
		}
		big = append(big, map[string]any{"models": pats, "versions": []any{"*"}, "apis": []any{"*"}})
	}
	grants["big-glob-team"] = big
	data, err := json.Marshal(map[string]any{"tfgate": map[string]any{"grants": grants, "admin_groups": []any{}}})
	if err != nil {
		tb.Fatal(err)
	}
	policy, err := fs.ReadFile(embedded, "policies/tfgate.rego")
	if err != nil {
		tb.Fatal(err)
	}
	return writeDir(tb, map[string]string{"tfgate.rego": string(policy), "data.json": string(data)})
}

// BenchmarkEvaluateCustomer measures uncached decisions against generated
// customer-shaped grants (500 groups, 10,000 model names): a caller in a
// small group, and a caller whose group lists 500 model globs (allowed by
// the last glob, and denied after trying all). Compare with
// BenchmarkEvaluateAllow/uncached, the default data.
func BenchmarkEvaluateCustomer(b *testing.B) {
	dir := customerData(b, 500, 20, 500)
	ctx := context.Background()
	e := mustNew(b, Config{Dir: dir, DecisionCacheEntries: -1})
	for _, bc := range []struct {
		name  string
		x     *authz.Input
		allow bool
	}{
		{"small-group", in([]string{"staff", "team-042"}, "predict", "team042-model00845", version(2)), true},
		{"500-globs-allow", in([]string{"staff", "big-glob-team"}, "predict", "proj09-exp049-resnet", version(2)), true},
		{"500-globs-deny", in([]string{"staff", "big-glob-team"}, "predict", "other-model", version(2)), false},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				v, err := e.Evaluate(ctx, bc.x)
				if err != nil || v.Allow != bc.allow {
					b.Fatalf("Evaluate = %+v, %v", v, err)
				}
			}
		})
	}
}

// BenchmarkBytesPerCachedDecision reports the live heap one entry of the
// decision cache costs: key (the encoded input) plus verdict, for the allow
// of BenchmarkEvaluateAllow with a distinct request path each, measured
// over 5,000 decisions as the heap growth divided by their number.
func BenchmarkBytesPerCachedDecision(b *testing.B) {
	const n = 5000
	ctx := context.Background()
	inputs := make([]*authz.Input, n)
	for i := range inputs {
		inputs[i] = in([]string{"staff", "resnet-users"}, "predict", "resnet50", version(2))
		inputs[i].Request.Path = fmt.Sprintf("/v1/models/resnet50/versions/2:predict?n=%d", i)
	}
	var perDecision float64
	for b.Loop() {
		e := mustNew(b, Config{DecisionCacheEntries: 2 * n})
		before := heapInUse()
		for _, x := range inputs {
			if v, err := e.Evaluate(ctx, x); err != nil || !v.Allow {
				b.Fatalf("Evaluate = %+v, %v", v, err)
			}
		}
		perDecision = float64(heapInUse()-before) / n
		runtime.KeepAlive(e)
	}
	b.ReportMetric(perDecision, "B/decision")
}

func heapInUse() uint64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}
