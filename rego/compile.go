package rego

import (
	"context"
	"fmt"

	"github.com/open-policy-agent/opa/v1/ast"
	opa "github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage"
	"github.com/open-policy-agent/opa/v1/storage/inmem"

	"github.com/tfgate/tfgate/authz"
)

// prepared is one compiled policy revision, ready to evaluate. It is
// immutable once built, so evaluations share it without locks.
type prepared struct {
	query    opa.PreparedEvalQuery
	revision string
	// data is the policy's data document, read-only.
	data   map[string]any
	grants *grantsIndex
	inputs *inputCaches
	// cache is nil when disabled or when the policy is not deterministic.
	cache *decisionCache
	// vm is the compiled engine, nil when the policy runs on topdown;
	// engineNote then says why.
	vm         *vmProgram
	engineNote string
	// live is the running cross-check of the compiled engine.
	live liveCheck
}

// probeInput is evaluated once after every compile: whatever a policy
// decides, it must answer an anonymous request with a decision of the right
// shape. This turns a renamed package or a decision that became a set into a
// failed reload instead of an error on every request.
var probeInput = &authz.Input{Target: authz.InputTarget{API: "unknown"}}

// prepare compiles the policy files and prepares query against them.
func prepare(ctx context.Context, files *policyFiles, query string, cacheEntries int, engine string) (*prepared, error) {
	modules, err := parseModules(files.modules)
	if err != nil {
		return nil, err
	}
	data, err := parseData(files.data)
	if err != nil {
		return nil, err
	}
	store := newStore(data)
	compiler, err := compileModules(ctx, store, modules)
	if err != nil {
		return nil, err
	}
	index, err := newGrantsIndex(ctx, store)
	if err != nil {
		return nil, fmt.Errorf("%w: indexing data.tfgate.grants: %w", ErrLoad, err)
	}
	pq, err := opa.New(
		opa.Query(query),
		opa.Compiler(compiler),
		opa.Store(store),
		opa.GenerateJSON(keepTerm),
		index.option(),
	).PrepareForEval(ctx)
	if err != nil {
		return nil, fmt.Errorf("%w: preparing %s: %w", ErrCompile, query, err)
	}
	p := &prepared{query: pq, revision: files.revision, data: data, grants: index, inputs: newInputCaches()}
	if engine != EngineTopdown {
		p.vm, p.engineNote = newCompiledEngine(ctx, modules, compiler, store, query, index, pq)
	} else {
		p.engineNote = "configured"
	}
	if cacheEntries > 0 && deterministic(compiler) {
		p.cache = newDecisionCache(cacheEntries)
	}
	if _, err := p.evaluate(ctx, probeInput); err != nil {
		return nil, fmt.Errorf("%w (probing the policy with an anonymous request)", err)
	}
	return p, nil
}

// compileModules compiles modules, checking that no rule overlaps the data.
func compileModules(ctx context.Context, store storage.Store, modules map[string]*ast.Module) (*ast.Compiler, error) {
	txn, err := store.NewTransaction(ctx)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrLoad, err)
	}
	defer store.Abort(ctx, txn)
	c := ast.NewCompiler().
		WithPathConflictsCheck(storage.NonEmpty(ctx, store, txn)).
		WithBuiltins(builtinDecls())
	if c.Compile(modules); c.Failed() {
		return nil, fmt.Errorf("%w: %w", ErrCompile, c.Errors)
	}
	return c, nil
}

// keepTerm hands result values over as *ast.Term: decodeDecision checks the
// decision on the AST, which saves converting every result to Go values.
func keepTerm(t *ast.Term, _ *opa.EvalContext) (any, error) { return t, nil }

// evaluate runs the prepared query on one input.
func (p *prepared) evaluate(ctx context.Context, in *authz.Input) (authz.Verdict, error) {
	if in == nil {
		return authz.Verdict{}, fmt.Errorf("%w: nil input", ErrEvaluation)
	}
	// OPA notices cancellation asynchronously, so a short evaluation could
	// finish on a context that is already done; check first.
	if err := ctx.Err(); err != nil {
		return authz.Verdict{}, fmt.Errorf("%w: %w", ErrEvaluation, err)
	}
	var key string
	if p.cache != nil {
		key = cacheKey(in)
		if v, ok := p.cache.get(key); ok {
			return v, nil
		}
	}
	var v authz.Verdict
	var err error
	input := ast.NewTerm(p.inputs.input(in))
	if p.vm != nil && !p.live.off.Load() {
		v, err = vmVerdict(ctx, p.vm, input)
		if p.live.due() {
			v, err = p.crossCheck(ctx, input, v, err)
		}
	} else {
		v, err = topdownVerdict(ctx, p.query, input)
	}
	if err == nil {
		v.PolicyRevision = p.revision
	}
	if err == nil && p.cache != nil {
		// Only decisions are cached; an error is never remembered.
		p.cache.put(key, v)
	}
	return v, err
}

// newStore holds the data document. Reads return AST values, so evaluation
// does not convert the grants from Go maps on every request.
func newStore(data map[string]any) storage.Store {
	return inmem.NewFromObjectWithOpts(data,
		inmem.OptRoundTripOnWrite(false),
		inmem.OptReturnASTValuesOnRead(true))
}
