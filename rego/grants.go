package rego

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/gobwas/glob"
	"github.com/open-policy-agent/opa/v1/ast"
	opa "github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage"
	"github.com/open-policy-agent/opa/v1/tester"
	"github.com/open-policy-agent/opa/v1/types"
)

// modelGrantsName is the built-in the default policy finds a group's grants
// for one model with:
//
//	tfgate.model_grants(grants, model)
//
// grants is one group's value in data.tfgate.grants (a list of grant
// objects, or one grant object); the result is the list of those grants, in
// order, that name model in "models" exactly or by a glob (glob.match with
// null delimiters), which is the policy's name_matches. Everything else a
// grant says (apis, versions, labels) is left to the Rego.
//
// It exists for speed, not for meaning: written in Rego, a group with 500
// model globs costs 500 rule evaluations (and OPA's glob cache holds only
// 100 patterns, so they are compiled again on every decision). Here the
// grants of data.tfgate.grants are indexed once per policy load, exact names
// in a map and globs compiled, so a lookup is a map access plus one compiled
// match per glob. A value that is not from the loaded data (a test's `with
// data.tfgate.grants as ...`) is indexed on the spot, with the same code.
const modelGrantsName = "tfgate.model_grants"

var modelGrantsDecl = &opa.Function{
	Name:        modelGrantsName,
	Description: "The grants among one group's grants (a list or one grant object) whose models name the model exactly or by a glob.",
	Decl: types.NewFunction(
		types.Args(types.Named("grants", types.A), types.Named("model", types.S)),
		types.Named("matching", types.NewArray(nil, types.A)),
	),
}

// builtinDecls declares tfgate's built-ins to a compiler.
func builtinDecls() map[string]*ast.Builtin {
	return map[string]*ast.Builtin{modelGrantsName: {
		Name:        modelGrantsDecl.Name,
		Description: modelGrantsDecl.Description,
		Decl:        modelGrantsDecl.Decl,
	}}
}

// grantsIndex holds the index of every group's grants in one data
// document, keyed by the group's value as the store hands it to the
// evaluator. It is built before the policy is used and only read after.
type grantsIndex struct {
	groups map[ast.Value]*groupIndex
	// misses counts lookups of values that were not indexed at load (and
	// were indexed on the spot); tests check the loaded data never misses.
	misses atomic.Int64
}

// groupIndex is one group's grants, indexed by model name.
type groupIndex struct {
	grants []*ast.Term      // the grant objects, in order
	single []*ast.Term      // single[i] is the list [grants[i]], shared by every lookup
	exact  map[string][]int // name -> grants naming it (also a glob's own text)
	globs  []compiledGlob   // patterns with glob syntax
}

type compiledGlob struct {
	p     *glob.Pattern
	grant int
}

var emptyArray = ast.ArrayTerm()

// newGrantsIndex indexes data.tfgate.grants in store, if it is an object.
func newGrantsIndex(ctx context.Context, store storage.Store) (*grantsIndex, error) {
	ix := &grantsIndex{groups: map[ast.Value]*groupIndex{}}
	v, err := storage.ReadOne(ctx, store, storage.Path{"tfgate", "grants"})
	switch {
	case storage.IsNotFound(err):
		return ix, nil
	case err != nil:
		return nil, err
	}
	obj, ok := v.(ast.Object)
	if !ok {
		return ix, nil
	}
	obj.Foreach(func(_, grants *ast.Term) {
		if key, ok := indexKey(grants.Value); ok {
			ix.groups[key] = indexGroup(grants.Value)
		}
	})
	return ix, nil
}

// indexKey is v itself when v is a value the index can be keyed by: a list
// or an object, which are pointers and so compare by identity.
func indexKey(v ast.Value) (ast.Value, bool) {
	switch v.(type) {
	case *ast.Array, ast.Object:
		return v, true
	}
	return nil, false
}

// indexGroup indexes one group's value. A list holds grants; an object is a
// single grant; anything else grants nothing.
func indexGroup(v ast.Value) *groupIndex {
	g := &groupIndex{exact: map[string][]int{}}
	switch v := v.(type) {
	case *ast.Array:
		v.Foreach(func(t *ast.Term) { g.grants = append(g.grants, t) })
	case ast.Object:
		g.grants = []*ast.Term{ast.NewTerm(v)}
	}
	g.single = make([]*ast.Term, len(g.grants))
	for i, grant := range g.grants {
		g.single[i] = ast.ArrayTerm(grant)
		obj, ok := grant.Value.(ast.Object)
		if !ok {
			continue
		}
		models := obj.Get(ast.InternedTerm("models"))
		if models == nil {
			continue
		}
		eachElem(models.Value, func(pattern *ast.Term) {
			s, ok := pattern.Value.(ast.String)
			if !ok {
				return // neither equal to a name nor a glob.match pattern
			}
			// name_matches: pattern == name ...
			g.exact[string(s)] = appendOnce(g.exact[string(s)], i)
			if !hasGlobSyntax(string(s)) {
				return // ... and a glob without syntax matches only itself
			}
			// ... or glob.match(pattern, null, name); a pattern that does
			// not compile is an error there, so it matches only itself.
			if p, err := glob.Compile(string(s)); err == nil {
				g.globs = append(g.globs, compiledGlob{p: p, grant: i})
			}
		})
	}
	return g
}

// eachElem calls f for each element of what `some x in v` iterates: a
// list's or set's elements, an object's values; nothing for a scalar.
func eachElem(v ast.Value, f func(*ast.Term)) {
	switch v := v.(type) {
	case *ast.Array:
		v.Foreach(f)
	case ast.Set:
		v.Foreach(f)
	case ast.Object:
		v.Foreach(func(_, val *ast.Term) { f(val) })
	}
}

func appendOnce(s []int, i int) []int {
	if n := len(s); n > 0 && s[n-1] == i {
		return s
	}
	return append(s, i)
}

// hasGlobSyntax reports whether s has a character gobwas/glob treats
// specially; without one, a pattern matches exactly the string it is.
func hasGlobSyntax(s string) bool {
	return strings.ContainsAny(s, `*?[]{}\`)
}

// match returns the list of grants naming model, in grant order.
func (g *groupIndex) match(model string) *ast.Term {
	var buf [8]int
	hits := append(buf[:0], g.exact[model]...) // a copy: the index is shared
	for _, c := range g.globs {
		if !slices.Contains(hits, c.grant) && c.p.Match(model) {
			hits = append(hits, c.grant)
		}
	}
	switch len(hits) {
	case 0:
		return emptyArray
	case 1:
		return g.single[hits[0]]
	}
	slices.Sort(hits)
	hits = slices.Compact(hits)
	terms := make([]*ast.Term, len(hits))
	for i, h := range hits {
		terms[i] = g.grants[h]
	}
	return ast.ArrayTerm(terms...)
}

// builtin implements tfgate.model_grants over ix.
func (ix *grantsIndex) builtin(_ opa.BuiltinContext, grants, model *ast.Term) (*ast.Term, error) {
	name, ok := model.Value.(ast.String)
	if !ok {
		return nil, errors.New("model must be a string")
	}
	var g *groupIndex
	if key, ok := indexKey(grants.Value); ok && ix != nil {
		g = ix.groups[key]
	}
	if g == nil {
		if ix != nil {
			ix.misses.Add(1)
		}
		g = indexGroup(grants.Value)
	}
	return g.match(string(name)), nil
}

// option registers tfgate's built-ins, backed by ix, with a query.
func (ix *grantsIndex) option() func(*opa.Rego) {
	return opa.Function2(modelGrantsDecl, ix.builtin)
}

// testerBuiltins are tfgate's built-ins for the Rego test runner.
func testerBuiltins(ix *grantsIndex) []*tester.Builtin {
	return []*tester.Builtin{{
		Decl: builtinDecls()[modelGrantsName],
		Func: ix.option(),
	}}
}
