package rego

import (
	"context"
	"fmt"
	"io/fs"
	"strings"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/tfgate/tfgate/authz"
)

// compareEngines evaluates every input on p's compiled engine and on
// topdown and fails on any difference in verdict or in error-ness.
func compareEngines(t testing.TB, p *prepared, inputs []*authz.Input) {
	t.Helper()
	if p.vm == nil {
		t.Fatalf("the policy runs on topdown: %s", p.engineNote)
	}
	ctx := context.Background()
	for i, x := range inputs {
		input := ast.NewTerm(inputValue(x))
		want, werr := topdownVerdict(ctx, p.query, input)
		got, gerr := vmVerdict(ctx, p.vm, input)
		if (werr != nil) != (gerr != nil) || !sameVerdict(want, got) {
			t.Fatalf("input %d (%s): compiled %+v (err %v), topdown %+v (err %v)", i, input, got, gerr, want, werr)
		}
	}
}

// rootOf is the data document p's compiled engine reads.
func rootOf(p *prepared) ast.Value { return p.vm.data.Value }

func TestCompiledEngineRunsTheDefaultPolicy(t *testing.T) {
	e := mustNew(t, Config{DecisionCacheEntries: -1})
	if st := e.Status(); st.Engine != EngineCompiled || st.EngineNote != "" {
		t.Fatalf("Status engine %q (%s), want compiled", st.Engine, st.EngineNote)
	}
	p := e.cur.Load()
	compareEngines(t, p, selfCheckCorpus(rootOf(p), 3000))
	// The hand-picked inputs of the other tests too.
	var fixed []*authz.Input
	for _, api := range []string{"predict", "model_status", "reload_config", "classify", "unknown", "invalid"} {
		for _, model := range []string{"resnet50", "bert", "resnet50?access_token=x", "a\x00b", strings.Repeat("x", 200), ""} {
			fixed = append(fixed,
				in([]string{"staff", "resnet-users"}, api, model, version(2)),
				in([]string{"admins"}, api, model),
				in([]string{"resnet-users"}, api, model, label("stable")),
				in([]string{"resnet-users"}, api, model, scope("model:resnet*")),
				in(nil, api, model, anonymous))
		}
	}
	compareEngines(t, p, fixed)
	// topdown's evaluations above count too; now the compiled engine alone.
	p.grants.misses.Store(0)
	for _, x := range fixed {
		if _, err := vmVerdict(context.Background(), p.vm, ast.NewTerm(inputValue(x))); err != nil {
			t.Fatal(err)
		}
	}
	if n := p.grants.misses.Load(); n != 0 {
		t.Errorf("the compiled engine indexed %d grants on the spot; it must use the load-time index", n)
	}
}

func TestCompiledEngineRunsCustomerPolicy(t *testing.T) {
	e := mustNew(t, Config{Dir: customerData(t, 60, 5, 50), DecisionCacheEntries: -1})
	p := e.cur.Load()
	compareEngines(t, p, selfCheckCorpus(rootOf(p), 3000))
	compareEngines(t, p, []*authz.Input{
		in([]string{"team-042"}, "predict", "team042-model00210", version(2)),
		in([]string{"big-glob-team"}, "predict", "proj04-exp004-x", version(2)),
		in([]string{"big-glob-team"}, "predict", "other", version(2)),
	})
	p.grants.misses.Store(0)
	for _, x := range selfCheckCorpus(rootOf(p), 500) {
		if x.Subject != nil && (x.Subject.Auth == "mtls" || x.Subject.Auth == "k8s") {
			continue // subject grants are indexed on the spot by either engine
		}
		if _, err := vmVerdict(context.Background(), p.vm, ast.NewTerm(inputValue(x))); err != nil {
			t.Fatal(err)
		}
	}
	if n := p.grants.misses.Load(); n != 0 {
		t.Errorf("%d grants indexed on the spot", n)
	}
}

// The compiled engine's statements, each exercised by a policy through
// OPA's planner, against topdown.
func TestCompiledEngineSemantics(t *testing.T) {
	policies := map[string]string{
		"collections": `
decision := {"allow": count(hits) > 0, "reason": sprintf("%v %v %v %v %v", [hits, objs, arr, every_ok, nested])}
hits contains g if { some g in input.subject.groups; startswith(g, "a") }
objs[k] := v if { some i, v in input.subject.groups; k := sprintf("k%d", [i]) }
arr := [x | some x in input.subject.groups; x != "b"]
default every_ok := "no"
every_ok := "yes" if { every g in input.subject.groups { count(g) < 3 } }
nested := {k: n | some k, v in data.tfgate.grants; n := count(v)}
`,
		"numbers": `
decision := {"allow": allow, "reason": sprintf("%v|%v|%v|%v|%v", [n, size(input.target.version), g, eq, cmp])}
default allow := false
allow if input.target.version == 2.0
default n := "none"
n := input.target.version + 1
size(x) := "big" if x > 5
size(x) := "small" if x <= 5
default size(_) := "none"
g := x if { x := input.target.model; not startswith(x, "z") } else := "z"
eq := [1 == 1.0, "a" < "b", [1, 2] == [1, 2], {"a": 1} == {"a": 1.0}, {1, 2} == {2, 1}]
cmp := input.target.model > "m"
`,
		"conflict": `
decision := {"allow": false, "reason": sprintf("%v", [c])}
default c := 0
c := 1 if input.target.api == "predict"
c := 2 if input.target.model == "m"
`,
		"errors": `
decision := {"allow": false, "reason": sprintf("%v %v %v %v", [num, idx, quot, arrlen])}
default num := "nan"
num := to_number(input.target.model)
default idx := "none"
idx := input.subject.groups[5]
default quot := "none"
quot := 1 / count(object.get(input, ["subject", "groups"], []))
arrlen := count(object.keys(object.union(input.target, {"x": 1})))
`,
		"refs": `
decision := {"allow": allow, "reason": concat(";", reasons)}
default allow := false
allow if {
	some g in input.subject.groups
	some grant in data.tfgate.grants[g]
	input.target.model in grant.models
}
reasons contains r if {
	some g, grants in data.tfgate.grants
	some i, grant in grants
	some m in grant.models
	m == input.target.model
	r := sprintf("%s/%d/%s", [g, i, m])
}
reasons contains "api" if input.target.api in {"predict", "classify"}
reasons contains x if { x := input.request.path; indexof(x, "?") < 0 }
reasons contains "deep" if data.tfgate.grants["resnet-users"][0].versions[_] == 2
`,
		"status": `
decision := {"allow": false, "reason": "no", "status": s, "headers": h} if { s := 404 + count(input.subject.groups) } else := {"allow": true, "reason": "anon", "headers": {"x-a": "1"}}
h := {"x-user": input.subject.id, "x-n": format_int(count(input.subject.groups), 10)}
`,
	}
	var inputs []*authz.Input
	for _, groups := range [][]string{nil, {}, {"a1", "b", "a2"}, {"resnet-users"}, {"staff", "resnet-users"}, {"a", "b", "c", "d", "e", "f"}} {
		for _, model := range []string{"m", "resnet50", "zebra", "12", "", "bert?x"} {
			for _, api := range []string{"predict", "model_status", "reload_config"} {
				inputs = append(inputs,
					in(groups, api, model), in(groups, api, model, version(2)), in(groups, api, model, version(9)),
					in(groups, api, model, label("stable")), in(groups, api, model, anonymous))
			}
		}
	}
	data, err := fs.ReadFile(embedded, "policies/data.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for name, body := range policies {
		t.Run(name, func(t *testing.T) {
			dir := writeDir(t, map[string]string{"p.rego": "package tfgate.authz\n\nimport rego.v1\n" + body, "data.yaml": string(data)})
			// The probe and the load-time check may fail for some of
			// these policies (conflicts): prepare directly, then compare.
			files, err := newSource(dir).read()
			if err != nil {
				t.Fatal(err)
			}
			p, err := prepare(context.Background(), files, DefaultQuery, -1, EngineAuto)
			if err != nil {
				t.Fatalf("prepare: %v", err)
			}
			compareEngines(t, p, inputs)
		})
	}
}

// A policy the compiled engine cannot run, or one configured so, runs on
// topdown, and Status says why.
func TestEngineFallsBackToTopdown(t *testing.T) {
	for _, tc := range []struct {
		name, body, engine, note string
	}{
		{"non-deterministic", `decision := {"allow": false, "reason": sprintf("%d", [time.now_ns()])}`, "", "non-deterministic"},
		{"with", `decision := {"allow": a, "reason": "r"} if {
	a := b with input.x as 1
}
default b := false
b if input.x == 1`, "", "WithStmt"},
		{"configured", `decision := {"allow": false, "reason": "r"}`, EngineTopdown, "configured"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeDir(t, map[string]string{"p.rego": "package tfgate.authz\n\nimport rego.v1\n" + tc.body})
			e := mustNew(t, Config{Dir: dir, Engine: tc.engine})
			st := e.Status()
			if st.Engine != EngineTopdown || !strings.Contains(st.EngineNote, tc.note) {
				t.Fatalf("engine %q note %q, want topdown and a note naming %q", st.Engine, st.EngineNote, tc.note)
			}
			if _, err := e.Evaluate(context.Background(), in(nil, "predict", "m")); err != nil {
				t.Fatalf("Evaluate on topdown: %v", err)
			}
		})
	}
	if _, err := New(context.Background(), Config{Engine: "fast"}); err == nil || !strings.Contains(err.Error(), "engine") {
		t.Fatalf("New with engine fast: %v, want a config error", err)
	}
}

// The load-time check is what keeps a plan that disagrees with topdown
// out of service: break the plan's constants and it must refuse.
func TestSelfCheckRefusesADisagreeingPlan(t *testing.T) {
	e := mustNew(t, Config{})
	p := e.cur.Load()
	for i, s := range p.vm.strings {
		if s.Value.Compare(ast.String("group ")) == 0 {
			p.vm.strings[i] = ast.StringTerm("GROUP ")
		}
	}
	root := rootOf(p)
	var disagree int
	for _, x := range selfCheckCorpus(root, selfCheckInputs) {
		input := ast.NewTerm(inputValue(x))
		want, werr := topdownVerdict(context.Background(), p.query, input)
		got, gerr := vmVerdict(context.Background(), p.vm, input)
		if (werr != nil) != (gerr != nil) || !sameVerdict(want, got) {
			disagree++
		}
	}
	if disagree == 0 {
		t.Fatal("the corpus never reaches a group grant's reason: the self-check would miss a broken plan")
	}
}

// TestUncachedDecisionAllocations pins the cost of an uncached decision of
// the default policy on the compiled engine.
func TestUncachedDecisionAllocations(t *testing.T) {
	e := mustNew(t, Config{DecisionCacheEntries: -1})
	x := in([]string{"staff", "resnet-users"}, "predict", "resnet50", version(2))
	ctx := context.Background()
	allocs := testing.AllocsPerRun(200, func() {
		if v, err := e.Evaluate(ctx, x); err != nil || !v.Allow {
			t.Fatalf("Evaluate = %+v, %v", v, err)
		}
	})
	const budget = 60
	if allocs > budget {
		t.Fatalf("an uncached allow allocates %.0f times, budget %d", allocs, budget)
	}
	t.Logf("%.0f allocations per uncached allow", allocs)
}

// FuzzCompiledMatchesTopdown compares the engines on inputs built from
// fuzzed fields, with the default policy and data.
func FuzzCompiledMatchesTopdown(f *testing.F) {
	f.Add("staff,resnet-users", "predict", "resnet50", int64(2), "", "cookie", "")
	f.Add("admins", "reload_config", "", int64(-1), "", "bearer", "model:*")
	f.Add("resnet-users", "model_status", "resnet50?x=\n", int64(-1), "stable", "mtls", "")
	f.Add("", "classify", "bert", int64(1), "canary", "k8s", "model:bert:classify")
	e, err := New(context.Background(), Config{DecisionCacheEntries: -1})
	if err != nil {
		f.Fatal(err)
	}
	p := e.cur.Load()
	f.Fuzz(func(t *testing.T, groups, api, model string, ver int64, lbl, auth, scopes string) {
		x := in(strings.Split(groups, ","), api, model)
		if groups == "" {
			x.Subject = nil
		} else {
			x.Subject.Auth = auth
			if scopes != "" {
				x.Subject.Scope = strings.Split(scopes, ",")
			}
		}
		if ver >= 0 {
			x.Target.Version = &ver
		} else if lbl != "" {
			x.Target.Label = &lbl
		}
		compareEngines(t, p, []*authz.Input{x})
	})
}

func ExampleStatus_engine() {
	e, err := New(context.Background(), Config{})
	if err != nil {
		panic(err)
	}
	fmt.Println(e.Status().Engine)
	// Output: compiled
}

// The engine's pooled state and load-time constants are shared by
// concurrent evaluations: each must still get its own answer (run with
// -race to see the sharing too).
func TestCompiledEngineConcurrent(t *testing.T) {
	e := mustNew(t, Config{DecisionCacheEntries: -1})
	p := e.cur.Load()
	inputs := selfCheckCorpus(rootOf(p), 400)
	want := make([]authz.Verdict, len(inputs))
	werr := make([]bool, len(inputs))
	for i, x := range inputs {
		v, err := topdownVerdict(context.Background(), p.query, ast.NewTerm(inputValue(x)))
		want[i], werr[i] = v, err != nil
	}
	errs := make(chan error, 8)
	for g := range 8 {
		go func() {
			for n := range len(inputs) {
				i := (n*7 + g*13) % len(inputs)
				v, err := e.Evaluate(context.Background(), inputs[i])
				if (err != nil) != werr[i] || (err == nil && !sameVerdict(v, want[i])) {
					errs <- fmt.Errorf("input %d: %+v (err %v), want %+v", i, v, err, want[i])
					return
				}
			}
			errs <- nil
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

// The live cross-check: every liveCheckEvery-th uncached decision is also
// evaluated by topdown. A compiled engine that answers differently (here:
// a broken constant) is switched off at the first check, which returns
// topdown's answer; a correct one stays on.
func TestLiveCheck(t *testing.T) {
	ctx := context.Background()
	x := in([]string{"staff", "resnet-users"}, "predict", "resnet50", version(2))

	good := mustNew(t, Config{DecisionCacheEntries: -1})
	for range 3 * liveCheckEvery {
		if _, err := good.Evaluate(ctx, x); err != nil {
			t.Fatal(err)
		}
	}
	if st := good.Status(); st.Engine != EngineCompiled || st.EngineChecks != 3 || st.EngineMismatches != 0 {
		t.Fatalf("correct engine: %q, %d checks, %d mismatches; want compiled, 3, 0", st.Engine, st.EngineChecks, st.EngineMismatches)
	}

	bad := mustNew(t, Config{DecisionCacheEntries: -1})
	p := bad.cur.Load()
	for i, s := range p.vm.strings {
		if s.Value.Compare(ast.String("group ")) == 0 {
			p.vm.strings[i] = ast.StringTerm("GROUP ")
		}
	}
	p.live.n.Store(0) // the load's probe counted too
	for n := 1; n <= 2*liveCheckEvery; n++ {
		v, err := bad.Evaluate(ctx, x)
		if err != nil || !v.Allow {
			t.Fatalf("decision %d: %+v, %v", n, v, err)
		}
		wrong := strings.HasPrefix(v.Reason, "GROUP ")
		if wrong != (n < liveCheckEvery) {
			t.Fatalf("decision %d: reason %q; want the broken engine's answer before decision %d and topdown's from it on", n, v.Reason, liveCheckEvery)
		}
	}
	st := bad.Status()
	if st.Engine != EngineTopdown || st.EngineMismatches != 1 || !strings.Contains(st.EngineNote, "disagreed") {
		t.Fatalf("broken engine: %q (%s), %d mismatches; want topdown after 1", st.Engine, st.EngineNote, st.EngineMismatches)
	}
}
