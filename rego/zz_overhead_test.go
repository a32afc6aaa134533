package rego

import (
	"context"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
	opa "github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/topdown"
)

func BenchmarkZZOverhead(b *testing.B) {
	ctx := context.Background()
	mod := `package x
import rego.v1
d := {"allow": true, "reason": "x"} if input.target.api == "predict"
`
	pq, err := opa.New(opa.Query("data.x.d"), opa.Module("x.rego", mod), opa.GenerateJSON(keepTerm)).PrepareForEval(ctx)
	if err != nil {
		b.Fatal(err)
	}
	x := in([]string{"staff", "resnet-users"}, "predict", "resnet50", version(2))
	b.Run("input", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = inputValue(x)
		}
	})
	b.Run("prepared", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			rs, err := pq.Eval(ctx, opa.EvalParsedInput(inputValue(x)))
			if err != nil || len(rs) != 1 {
				b.Fatal(err)
			}
		}
	})
	c := ast.MustCompileModules(map[string]string{"x.rego": mod})
	q := ast.MustParseBody("data.x.d = __r")
	b.Run("topdown", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			rs, err := topdown.NewQuery(q).WithCompiler(c).WithStore(newStore(map[string]any{})).WithInput(ast.NewTerm(inputValue(x))).Run(ctx)
			if err != nil || len(rs) != 1 {
				b.Fatal(err)
			}
		}
	})
}
