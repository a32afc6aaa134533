package rego

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	opa "github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage"

	"github.com/tfgate/tfgate/authz"
)

// Engines a policy revision can run on (Status.Engine).
const (
	EngineCompiled = "compiled"
	EngineTopdown  = "topdown"
)

// selfCheckInputs is how many inputs the load-time check evaluates on both
// engines (besides its fixed edge cases).
const selfCheckInputs = 192

// newCompiledEngine plans the policy and checks the plan against topdown
// on a corpus drawn from the policy's own data. It returns the reason
// when the policy must run on topdown instead.
func newCompiledEngine(ctx context.Context, modules map[string]*ast.Module, compiler *ast.Compiler, store storage.Store,
	query string, grants *grantsIndex, pq opa.PreparedEvalQuery) (*vmProgram, string) {
	if !deterministic(compiler) {
		return nil, "the policy calls a non-deterministic built-in"
	}
	plan, err := planPolicy(ctx, modules, query)
	if err != nil {
		return nil, err.Error()
	}
	doc, err := storage.ReadOne(ctx, store, storage.Path{})
	if err != nil {
		return nil, fmt.Sprintf("reading the data document: %v", err)
	}
	root, ok := doc.(ast.Value)
	if !ok {
		return nil, fmt.Sprintf("the data document is %T, not an AST value", doc)
	}
	prog, err := newVMProgram(plan, ast.NewTerm(root), grants)
	if err != nil {
		return nil, err.Error()
	}
	for _, in := range selfCheckCorpus(root, selfCheckInputs) {
		input := ast.NewTerm(inputValue(in))
		want, werr := topdownVerdict(ctx, pq, input)
		got, gerr := vmVerdict(ctx, prog, input)
		if (werr != nil) != (gerr != nil) || !sameVerdict(want, got) {
			return nil, fmt.Sprintf("the compiled engine and topdown disagree on a %s request for model %.40q: %+v (err %v) vs %+v (err %v)",
				in.Target.API, in.Target.Model, got, gerr, want, werr)
		}
	}
	return prog, ""
}

// liveCheckEvery is how often (in uncached decisions) the compiled engine's
// answer is checked against topdown's while serving.
const liveCheckEvery = 1024

// liveCheck is the running cross-check of a compiled policy: every
// liveCheckEvery-th uncached decision is also evaluated by topdown. On a
// difference topdown's answer is the one returned, and the revision runs on
// topdown from then on (a reload compiles and checks afresh). The load-time
// check covers a sample of inputs; this covers what the traffic brings.
type liveCheck struct {
	n          atomic.Uint64
	off        atomic.Bool
	mismatches atomic.Uint64
	checks     atomic.Uint64
}

func (l *liveCheck) due() bool { return l.n.Add(1)%liveCheckEvery == 0 }

// crossCheck evaluates input on topdown too and returns its verdict,
// switching the revision to topdown when the compiled engine's differs.
func (p *prepared) crossCheck(ctx context.Context, input *ast.Term, v authz.Verdict, err error) (authz.Verdict, error) {
	tv, terr := topdownVerdict(ctx, p.query, input)
	if ctx.Err() != nil {
		return v, err // a deadline in between says nothing about the engines
	}
	p.live.checks.Add(1)
	if (terr != nil) != (err != nil) || !sameVerdict(tv, v) {
		p.live.mismatches.Add(1)
		p.live.off.Store(true)
	}
	return tv, terr
}

// engine names the engine p runs on, and why when it is topdown.
func (p *prepared) engine() (string, string) {
	switch {
	case p.vm == nil:
		return EngineTopdown, p.engineNote
	case p.live.off.Load():
		return EngineTopdown, "the compiled engine and OPA's evaluator disagreed on a live decision; this revision runs on OPA's evaluator until the next reload"
	}
	return EngineCompiled, ""
}

func topdownVerdict(ctx context.Context, pq opa.PreparedEvalQuery, input *ast.Term) (authz.Verdict, error) {
	rs, err := pq.Eval(ctx, opa.EvalParsedInput(input.Value))
	if err != nil {
		return authz.Verdict{}, fmt.Errorf("%w: %w", ErrEvaluation, err)
	}
	return decodeDecision(rs)
}

func vmVerdict(ctx context.Context, prog *vmProgram, input *ast.Term) (authz.Verdict, error) {
	t, err := prog.eval(ctx, input)
	if err != nil {
		return authz.Verdict{}, fmt.Errorf("%w: %w", ErrEvaluation, err)
	}
	if t == nil {
		return authz.Verdict{}, invalid("undefined decision")
	}
	obj, ok := t.Value.(ast.Object)
	if !ok {
		return authz.Verdict{}, invalid("decision is %s, want an object", ast.ValueName(t.Value))
	}
	return decodeObject(obj)
}

func sameVerdict(a, b authz.Verdict) bool {
	if a.Allow != b.Allow || a.Reason != b.Reason || a.Status != b.Status || len(a.Headers) != len(b.Headers) {
		return false
	}
	for k, v := range a.Headers {
		if w, ok := b.Headers[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// selfCheckCorpus builds inputs from the data document: callers in the
// groups data.tfgate.grants and admin_groups name, workloads
// subject_grants names, every API, model names the grants name (and
// near misses), each version selector, scoped tokens, and the hostile
// names shown() must clean. The draw is seeded, so a revision is always
// checked on the same inputs.
func selfCheckCorpus(root ast.Value, n int) []*authz.Input {
	groups := dataKeys(root, "grants")
	admins := dataStrings(root, "admin_groups")
	workloads := dataKeys(root, "subject_grants")
	models := grantModels(root)
	apis := []string{"predict", "classify", "regress", "multi_inference", "model_status", "model_metadata",
		"reload_config", "session_run", "profiler", "health", "cors_preflight", "invalid", "unknown", "other"}
	hostile := []string{"", "m?access_token=secret", "m\nx", strings.Repeat("long", 30), "a*b", "\x7f"}
	models = append(models, hostile...)
	v := func(n int64) *int64 { return &n }
	l := func(s string) *string { return &s }
	versions := []*int64{nil, v(1), v(2), v(7)}
	labels := []*string{nil, l("stable"), l("canary")}

	r := rand.New(rand.NewPCG(1, 2))
	pick := func(xs []string) string {
		if len(xs) == 0 {
			return ""
		}
		return xs[r.IntN(len(xs))]
	}
	subject := func() *authz.Subject {
		s := &authz.Subject{ID: "user@example.com", Email: "user@example.com", IdP: "https://idp.example",
			Auth: authz.AuthCookie, ExpiresAt: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
		switch r.IntN(8) {
		case 0:
			return nil
		case 1:
			s.Auth, s.ID = "mtls", pick(workloads)
		case 2:
			s.Auth, s.ID = "k8s", pick(workloads)
		case 3:
			s.Auth = authz.AuthBearer
			s.Scope = []string{"model:" + pick(models), "model:" + pick(models) + ":predict", "model:*:model_status"}
		}
		for range r.IntN(4) {
			s.Groups = append(s.Groups, pick(groups))
		}
		if r.IntN(6) == 0 {
			s.Groups = append(s.Groups, pick(admins))
		}
		if r.IntN(8) == 0 {
			s.Groups = nil
		}
		return s
	}
	var out []*authz.Input
	for i := range n {
		api := apis[i%len(apis)]
		if i >= len(apis) && r.IntN(3) > 0 {
			api = apis[r.IntN(6)] // mostly model APIs
		}
		x := &authz.Input{
			Subject: subject(),
			Request: authz.InputRequest{Method: "POST", Path: "/v1/models/x", Host: "tfs", Protocol: authz.ProtocolREST},
			Target:  authz.InputTarget{API: api, Model: pick(models), Signature: "serving_default"},
		}
		x.Target.Version = versions[r.IntN(len(versions))]
		if x.Target.Version == nil {
			x.Target.Label = labels[r.IntN(len(labels))]
		}
		out = append(out, x)
	}
	return out
}

// dataKeys returns the string keys of data.tfgate[name], sorted.
func dataKeys(root ast.Value, name string) []string {
	obj, ok := tfgateData(root, name).(ast.Object)
	if !ok {
		return nil
	}
	var keys []string
	obj.Foreach(func(k, _ *ast.Term) {
		if s, ok := k.Value.(ast.String); ok {
			keys = append(keys, string(s))
		}
	})
	slices.Sort(keys)
	return keys
}

// dataStrings returns the strings in the list data.tfgate[name].
func dataStrings(root ast.Value, name string) []string {
	var out []string
	eachElem(tfgateData(root, name), func(t *ast.Term) {
		if s, ok := t.Value.(ast.String); ok {
			out = append(out, string(s))
		}
	})
	return out
}

func tfgateData(root ast.Value, name string) ast.Value {
	obj, ok := root.(ast.Object)
	if !ok {
		return nil
	}
	tf := obj.Get(ast.StringTerm("tfgate"))
	if tf == nil {
		return nil
	}
	o, ok := tf.Value.(ast.Object)
	if !ok {
		return nil
	}
	if v := o.Get(ast.StringTerm(name)); v != nil {
		return v.Value
	}
	return nil
}

// grantModels returns model names the grants name: exact ones as they
// are, globs with their wildcards filled in, and near misses.
func grantModels(root ast.Value) []string {
	seen := map[string]bool{}
	var out []string
	add := func(s string) {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	for _, section := range []string{"grants", "subject_grants"} {
		obj, ok := tfgateData(root, section).(ast.Object)
		if !ok {
			continue
		}
		obj.Foreach(func(_, grants *ast.Term) {
			g := indexGroup(grants.Value)
			for name := range g.exact {
				add(name)
				if hasGlobSyntax(name) {
					add(strings.NewReplacer("*", "x", "?", "y").Replace(name))
				}
				add(name + "-other")
			}
		})
	}
	slices.Sort(out)
	if n := len(out); n > 256 { // an even sample of a customer's thousands
		sample := make([]string, 0, 256)
		for i := range 256 {
			sample = append(sample, out[i*n/256])
		}
		out = sample
	}
	return out
}
