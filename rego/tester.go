package rego

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/storage"
	"github.com/open-policy-agent/opa/v1/tester"
)

// testTimeout bounds each Rego test, as `opa test` does by default.
const testTimeout = 5 * time.Second

// RunTests runs the Rego tests (test_* rules, usually in *_test.rego files)
// of the policy in dir, or of the embedded policies when dir is "", against
// that directory's data. It writes what `opa test` prints (a line per failed
// test, or per test when verbose, then PASS: n/m and FAIL: n/m) to w, and
// returns the number of tests that passed and that failed or errored. err is
// for a policy that cannot be loaded or compiled, not for failed tests.
func RunTests(ctx context.Context, dir string, w io.Writer, verbose bool) (passed, failed int, err error) {
	files, err := newSource(dir).read()
	if err != nil {
		return 0, 0, err
	}
	modules, err := parseModules(files.modules, files.tests)
	if err != nil {
		return 0, 0, err
	}
	data, err := parseData(files.data)
	if err != nil {
		return 0, 0, err
	}
	store := newStore(data)
	txn, err := store.NewTransaction(ctx)
	if err != nil {
		return 0, 0, fmt.Errorf("%w: %w", ErrLoad, err)
	}
	defer store.Abort(ctx, txn)

	index, err := newGrantsIndex(ctx, store)
	if err != nil {
		return 0, 0, fmt.Errorf("%w: indexing data.tfgate.grants: %w", ErrLoad, err)
	}
	compiler := ast.NewCompiler().
		WithPathConflictsCheck(storage.NonEmpty(ctx, store, txn)).
		WithBuiltins(builtinDecls()).
		WithEnablePrintStatements(true)
	ch, err := tester.NewRunner().
		SetCompiler(compiler).
		SetStore(store).
		SetModules(modules).
		AddCustomBuiltins(testerBuiltins(index)).
		CapturePrintOutput(true).
		EnableTracing(verbose).
		SetTimeout(testTimeout).
		RunTests(ctx, txn)
	if err != nil {
		return 0, 0, fmt.Errorf("%w: %w", ErrCompile, err)
	}
	return report(ch, w, verbose)
}

// report prints results as `opa test` does while counting them.
func report(ch chan *tester.Result, w io.Writer, verbose bool) (passed, failed int, err error) {
	counted := make(chan *tester.Result)
	done := make(chan error, 1)
	go func() { done <- tester.PrettyReporter{Output: w, Verbose: verbose}.Report(counted) }()
	for r := range ch {
		switch {
		case r.Skip:
		case r.Pass():
			passed++
		default:
			failed++
		}
		counted <- r
	}
	close(counted)
	if err := <-done; err != nil {
		return passed, failed, fmt.Errorf("rego: writing test report: %w", err)
	}
	return passed, failed, nil
}
