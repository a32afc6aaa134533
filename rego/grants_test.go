package rego

import (
	"context"
	"fmt"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
	opa "github.com/open-policy-agent/opa/v1/rego"
)

// TestModelGrantsMeansNameMatches checks tfgate.model_grants against the
// Rego it replaces (some pattern in grant.models; pattern == name or
// glob.match(pattern, null, name)) for awkward patterns and grant shapes.
func TestModelGrantsMeansNameMatches(t *testing.T) {
	groups := []string{
		`[{"models": ["resnet*", "bert", "a?c", "x[yz]", "{p,q}-m", "[", "lit\\*", "a.b.*"]}, {"models": ["bert", "*"]}]`,
		`{"models": ["resnet*"]}`,
		`[{"models": {"k": "bert"}}, {"models": ["zeta"]}, "not a grant", {"nomodels": 1}, {"models": "bert"}]`,
		`[{"models": [1, null, "1"]}, {"models": ["[", "resnet?50"]}]`,
		`"a string"`,
		`[]`,
	}
	names := []string{"resnet", "resnet50", "resnet.v2", "bert", "abc", "a.c", "xy", "xz", "p-m", "q-m", "[", "lit*", "litx", "a.b.c", "1", "zeta", "", "resnet/50"}
	mod := `package t
import rego.v1
want(grants, name) := [g |
	some g in grants_of(grants)
	some pattern in g.models
	name_matches(pattern, name)
]
grants_of(x) := x if is_array(x)
grants_of(x) := [x] if is_object(x)
grants_of(x) := [] if { not is_array(x); not is_object(x) }
name_matches(p, n) if p == n
name_matches(p, n) if glob.match(p, null, n)
`
	ix := &grantsIndex{groups: map[ast.Value]*groupIndex{}}
	ctx := context.Background()
	for _, g := range groups {
		for _, name := range names {
			// want lists a grant once per matching pattern, and a grant's
			// patterns are consecutive: dedup gives the distinct grants in order.
			q := fmt.Sprintf(`got := tfgate.model_grants(%s, %q); w := data.t.want(%s, %q)`, g, name, g, name)
			rs, err := opa.New(opa.Query(q), opa.Module("t.rego", mod), ix.option()).Eval(ctx)
			if err != nil || len(rs) != 1 {
				t.Fatalf("%s %q: %v, %v", g, name, rs, err)
			}
			got, want := rs[0].Bindings["got"], dedup(rs[0].Bindings["w"].([]any))
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("tfgate.model_grants(%s, %q) = %v, want %v", g, name, got, want)
			}
		}
	}
}

func dedup(xs []any) []any {
	out := []any{}
	for _, x := range xs {
		if len(out) == 0 || fmt.Sprint(out[len(out)-1]) != fmt.Sprint(x) {
			out = append(out, x)
		}
	}
	return out
}

// TestGrantsIndexedAtLoad checks that decisions on the loaded data use the
// index built at load (globs compiled once), not one built per call.
func TestGrantsIndexedAtLoad(t *testing.T) {
	dir := customerData(t, 5, 3, 20)
	e := mustNew(t, Config{Dir: dir, DecisionCacheEntries: -1})
	ctx := context.Background()
	for _, x := range []*struct {
		groups []string
		model  string
		allow  bool
	}{
		{[]string{"team-001"}, "team001-model00004", true},
		{[]string{"team-001", "big-glob-team"}, "proj03-exp001-x", true},
		{[]string{"big-glob-team"}, "nope", false},
	} {
		v, err := e.Evaluate(ctx, in(x.groups, "predict", x.model, version(1)))
		if err != nil || v.Allow != x.allow {
			t.Fatalf("%v %s: %+v, %v", x.groups, x.model, v, err)
		}
	}
	if n := e.cur.Load().grants.misses.Load(); n != 0 {
		t.Errorf("%d lookups missed the load-time index", n)
	}
	if n := len(e.cur.Load().grants.groups); n != 6 {
		t.Errorf("indexed %d groups, want 6", n)
	}
}

// TestConcurrentDecisionsShareIndexAndSubjects evaluates from several
// goroutines at once with subjects that collide in the subject cache and
// grants from the shared index (run with -race): every decision must be the
// one a lone evaluation gives.
func TestConcurrentDecisionsShareIndexAndSubjects(t *testing.T) {
	e := mustNew(t, Config{Dir: customerData(t, 8, 3, 20), DecisionCacheEntries: -1})
	ctx := context.Background()
	cases := []struct {
		groups []string
		model  string
		allow  bool
	}{
		{[]string{"team-001"}, "team001-model00004", true},
		{[]string{"team-002"}, "team001-model00004", false},
		{[]string{"big-glob-team"}, "proj01-exp001-x", true},
		{[]string{"big-glob-team", "team-003"}, "team003-model00010", true},
		{[]string{"staff"}, "proj01-exp001-x", false},
	}
	done := make(chan error, 4)
	for w := range 4 {
		go func() {
			for i := range 200 {
				c := cases[(i+w)%len(cases)]
				v, err := e.Evaluate(ctx, in(c.groups, "predict", c.model, version(1)))
				if err != nil || v.Allow != c.allow {
					done <- fmt.Errorf("%v %s: %+v, %v (want allow %v)", c.groups, c.model, v, err, c.allow)
					return
				}
			}
			done <- nil
		}()
	}
	for range 4 {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}
