package rego

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"regexp"
	"slices"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/cover"
	"github.com/open-policy-agent/opa/v1/storage"
	"github.com/open-policy-agent/opa/v1/tester"
)

// TestOptions configures RunTestsWith.
type TestOptions struct {
	// Verbose prints every test, not only failures (text format).
	Verbose bool
	// Run, when set, runs only tests whose package-qualified name matches
	// this regular expression, as `opa test --run`.
	Run string
	// Coverage measures which lines of the policy (test files excluded)
	// the tests evaluate.
	Coverage bool
	// JSON writes one JSON document (tests, counts, coverage) instead of
	// `opa test`'s text.
	JSON bool
}

// TestSummary is the outcome of RunTestsWith.
type TestSummary struct {
	Passed, Failed int
	// Coverage is set when TestOptions.Coverage is.
	Coverage *Coverage
}

// Coverage is the line coverage of the policy files (test files excluded).
type Coverage struct {
	Files        map[string]*cover.FileReport `json:"files"`
	CoveredLines int                          `json:"covered_lines"`
	NotCovered   int                          `json:"not_covered_lines"`
	Percent      float64                      `json:"coverage"`
}

// RunTestsWith runs the policy's Rego tests like RunTests, with the
// options of `opa test` that security teams use in CI.
func RunTestsWith(ctx context.Context, dir string, w io.Writer, opts TestOptions) (TestSummary, error) {
	if opts.Run != "" {
		if _, err := regexp.Compile(opts.Run); err != nil {
			return TestSummary{}, fmt.Errorf("%w: --run: %w", ErrConfig, err)
		}
	}
	files, err := newSource(dir).read()
	if err != nil {
		return TestSummary{}, err
	}
	modules, err := parseModules(files.modules, files.tests)
	if err != nil {
		return TestSummary{}, err
	}
	data, err := parseData(files.data)
	if err != nil {
		return TestSummary{}, err
	}
	store := newStore(data)
	txn, err := store.NewTransaction(ctx)
	if err != nil {
		return TestSummary{}, fmt.Errorf("%w: %w", ErrLoad, err)
	}
	defer store.Abort(ctx, txn)

	index, err := newGrantsIndex(ctx, store)
	if err != nil {
		return TestSummary{}, fmt.Errorf("%w: indexing data.tfgate.grants: %w", ErrLoad, err)
	}
	compiler := ast.NewCompiler().
		WithPathConflictsCheck(storage.NonEmpty(ctx, store, txn)).
		WithBuiltins(builtinDecls()).
		WithEnablePrintStatements(true)
	runner := tester.NewRunner().
		SetCompiler(compiler).
		SetStore(store).
		SetModules(modules).
		AddCustomBuiltins(testerBuiltins(index)).
		CapturePrintOutput(true).
		EnableTracing(opts.Verbose && !opts.JSON).
		SetTimeout(testTimeout)
	if opts.Run != "" {
		runner = runner.Filter(opts.Run)
	}
	var cov *cover.Cover
	if opts.Coverage {
		cov = cover.New()
		runner = runner.SetCoverageQueryTracer(cov)
	}
	ch, err := runner.RunTests(ctx, txn)
	if err != nil {
		return TestSummary{}, fmt.Errorf("%w: %w", ErrCompile, err)
	}
	var sum TestSummary
	if opts.JSON {
		var results []*tester.Result
		for r := range ch {
			results = append(results, r)
			switch {
			case r.Skip:
			case r.Pass():
				sum.Passed++
			default:
				sum.Failed++
			}
		}
		if cov != nil {
			sum.Coverage = coverageOf(cov, modules, files)
		}
		out := struct {
			Tests    []*tester.Result `json:"tests"`
			Passed   int              `json:"passed"`
			Failed   int              `json:"failed"`
			Coverage *Coverage        `json:"coverage,omitempty"`
		}{results, sum.Passed, sum.Failed, sum.Coverage}
		if out.Tests == nil {
			out.Tests = []*tester.Result{}
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		if err := enc.Encode(out); err != nil {
			return sum, fmt.Errorf("rego: writing test report: %w", err)
		}
		return sum, nil
	}
	sum.Passed, sum.Failed, err = report(ch, w, opts.Verbose)
	if err != nil || cov == nil {
		return sum, err
	}
	sum.Coverage = coverageOf(cov, modules, files)
	return sum, sum.Coverage.write(w)
}

// coverageOf keeps the policy files of OPA's report and totals them.
func coverageOf(cov *cover.Cover, modules map[string]*ast.Module, files *policyFiles) *Coverage {
	r := cov.Report(modules)
	c := &Coverage{Files: map[string]*cover.FileReport{}}
	for _, f := range files.modules {
		fr := r.Files[f.name]
		if fr == nil {
			fr = &cover.FileReport{}
		}
		c.Files[f.name] = fr
		c.CoveredLines += fr.CoveredLines
		c.NotCovered += fr.NotCoveredLines
	}
	if n := c.CoveredLines + c.NotCovered; n > 0 {
		c.Percent = 100 * float64(c.CoveredLines) / float64(n)
	}
	return c
}

// write prints per-file coverage with the lines not covered, and the total.
func (c *Coverage) write(w io.Writer) error {
	var b strings.Builder
	b.WriteString("\ncoverage:\n")
	for _, name := range slices.Sorted(maps.Keys(c.Files)) {
		fr := c.Files[name]
		pct := 100.0
		if n := fr.CoveredLines + fr.NotCoveredLines; n > 0 {
			pct = 100 * float64(fr.CoveredLines) / float64(n)
		}
		fmt.Fprintf(&b, "  %s: %.1f%% (%d of %d lines)\n", name, pct, fr.CoveredLines, fr.CoveredLines+fr.NotCoveredLines)
		if len(fr.NotCovered) > 0 {
			var rs []string
			for _, r := range fr.NotCovered {
				if r.Start.Row == r.End.Row {
					rs = append(rs, fmt.Sprint(r.Start.Row))
				} else {
					rs = append(rs, fmt.Sprintf("%d-%d", r.Start.Row, r.End.Row))
				}
			}
			fmt.Fprintf(&b, "    not covered: lines %s\n", strings.Join(rs, ", "))
		}
	}
	fmt.Fprintf(&b, "  total: %.1f%% (%d of %d lines)\n", c.Percent, c.CoveredLines, c.CoveredLines+c.NotCovered)
	_, err := io.WriteString(w, b.String())
	return err
}
