package rego

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/bundle"
	"github.com/open-policy-agent/opa/v1/compile"
	"github.com/open-policy-agent/opa/v1/ir"
	"github.com/open-policy-agent/opa/v1/metrics"
	"github.com/open-policy-agent/opa/v1/topdown"
)

// The compiled engine.
//
// OPA's evaluator (topdown) interprets the policy's AST: every rule it
// enters allocates bindings, caches and child evaluators, about 450
// allocations and 100 us for one decision of the default policy. The same
// policy planned by OPA's own compiler (the "plan" target of `opa build`,
// the intermediate representation OPA's Wasm compiler starts from) is a
// short list of imperative statements per rule: look up a key, compare two
// values, call a built-in, return. vmProgram runs that plan directly on
// OPA's AST values, calling OPA's own built-in implementations, so a
// decision costs what its values cost.
//
// The policy stays Rego: the plan is made from the files at every load, by
// OPA's planner, and OPA defines what each statement means. tfgate uses the
// plan only when every statement and built-in in it is one this engine
// runs (pure built-ins only: see vmBuiltinAllowed), and only after the
// plan and topdown agree on a load-time corpus of inputs (see
// selfCheck in vmcheck.go). Otherwise the policy runs on topdown, and
// Status says why.

// vmProgram is one planned policy, immutable after newVMProgram.
type vmProgram struct {
	plan    []*ir.Block
	funcs   []*vmFunc
	byName  map[string]int
	strings []*ast.Term
	calls   map[*ir.CallStmt]vmCall
	// planLocals is the number of locals the plan uses.
	planLocals int
	data       *ast.Term
	grants     *grantsIndex
	pool       sync.Pool // *vmEval
}

type vmFunc struct {
	name   string
	params []ir.Local
	ret    ir.Local
	blocks []*ir.Block
	locals int  // highest local + 1
	memo   bool // a rule (input, data): its value is the same for the whole evaluation
	index  int
	// constant: a rule that reads neither input nor data, directly or
	// through what it calls (model_apis, refused_apis: sets and objects
	// written in the policy). Its value is computed once, at load, in
	// value; an evaluation must not modify it, and the plan never
	// modifies a value it did not make.
	constant bool
	value    *ast.Term
}

// vmCall is a CallStmt's resolved target: a planned function or a built-in.
type vmCall struct {
	fn      *vmFunc
	builtin topdown.BuiltinFunc
	grants  bool // tfgate.model_grants, served by the grants index
	name    string
}

// errVMUnsupported means the plan uses something this engine does not run;
// the policy then runs on topdown.
var errVMUnsupported = errors.New("not supported by the compiled engine")

// entrypoint converts a query such as data.tfgate.authz.decision to the
// planner's entrypoint path, tfgate/authz/decision.
func entrypoint(query string) (string, error) {
	body, err := ast.ParseBody(query)
	if err != nil || len(body) != 1 {
		return "", fmt.Errorf("%w: query %q is not a single reference", errVMUnsupported, query)
	}
	ref, ok := body[0].Terms.(*ast.Term)
	if !ok {
		return "", fmt.Errorf("%w: query %q is not a reference", errVMUnsupported, query)
	}
	r, ok := ref.Value.(ast.Ref)
	if !ok || !r.HasPrefix(ast.DefaultRootRef) || len(r) < 2 || !r.IsGround() {
		return "", fmt.Errorf("%w: query %q is not a reference into data", errVMUnsupported, query)
	}
	parts := make([]string, 0, len(r)-1)
	for _, t := range r[1:] {
		s, ok := t.Value.(ast.String)
		if !ok || strings.Contains(string(s), "/") {
			return "", fmt.Errorf("%w: query %q has a key the planner cannot name", errVMUnsupported, query)
		}
		parts = append(parts, string(s))
	}
	return strings.Join(parts, "/"), nil
}

// planPolicy plans modules for query with OPA's compiler.
func planPolicy(ctx context.Context, modules map[string]*ast.Module, query string) (*ir.Policy, error) {
	ep, err := entrypoint(query)
	if err != nil {
		return nil, err
	}
	b := &bundle.Bundle{Data: map[string]any{}}
	for name, m := range modules {
		b.Modules = append(b.Modules, bundle.ModuleFile{URL: name, Path: name, Raw: []byte(m.String()), Parsed: m})
	}
	caps := ast.CapabilitiesForThisVersion()
	caps.Builtins = append(caps.Builtins, builtinDecls()[modelGrantsName])
	c := compile.New().
		WithTarget(compile.TargetPlan).
		WithEntrypoints(ep).
		WithBundle(b).
		WithCapabilities(caps).
		WithRegoVersion(ast.RegoV1).
		WithOutput(&bytes.Buffer{})
	if err := c.Build(ctx); err != nil {
		return nil, fmt.Errorf("%w: planning: %w", errVMUnsupported, err)
	}
	out := c.Bundle()
	if out == nil || len(out.PlanModules) != 1 {
		return nil, fmt.Errorf("%w: the planner made no plan", errVMUnsupported)
	}
	var p ir.Policy
	if err := json.Unmarshal(out.PlanModules[0].Raw, &p); err != nil {
		return nil, fmt.Errorf("%w: decoding the plan: %w", errVMUnsupported, err)
	}
	return &p, nil
}

// vmBuiltinDenied are built-ins that are deterministic by OPA's flag but
// read the evaluation's context (time, runtime, metadata, tracing), which
// this engine does not provide.
var vmBuiltinDenied = map[string]bool{
	"time.now_ns": true, "opa.runtime": true, "trace": true, "internal.print": true, "print": true,
	"rego.metadata.chain": true, "rego.metadata.rule": true, "http.send": true,
	"net.lookup_ip_addr": true, "rand.intn": true, "uuid.rfc4122": true, "uuid.parse": false,
	"io.jwt.decode_verify": true, "internal.test_case": true, "json.verify_schema": true,
	"json.match_schema": true, "providers.aws.sign_req": true, "crypto.x509.parse_and_verify_certificates": true,
	"crypto.x509.parse_and_verify_certificates_with_options": true,
}

// vmBuiltinAllowed reports whether the engine may call the built-in name:
// pure (same value for the same arguments), a function rather than a
// relation, and implemented by topdown.
func vmBuiltinAllowed(name string) (topdown.BuiltinFunc, bool) {
	b, ok := ast.BuiltinMap[name]
	if !ok || b.Nondeterministic || b.Relation || vmBuiltinDenied[name] {
		return nil, false
	}
	f := topdown.GetBuiltin(name)
	return f, f != nil
}

// newVMProgram checks and indexes a plan. It fails with errVMUnsupported
// when any statement or built-in is one the engine does not run.
func newVMProgram(p *ir.Policy, data *ast.Term, grants *grantsIndex) (*vmProgram, error) {
	if p.Plans == nil || len(p.Plans.Plans) != 1 || p.Static == nil {
		return nil, fmt.Errorf("%w: want exactly one plan", errVMUnsupported)
	}
	prog := &vmProgram{
		plan:   p.Plans.Plans[0].Blocks,
		byName: map[string]int{},
		calls:  map[*ir.CallStmt]vmCall{},
		data:   data,
		grants: grants,
	}
	for _, s := range p.Static.Strings {
		prog.strings = append(prog.strings, ast.StringTerm(s.Value))
	}
	if p.Funcs != nil {
		for i, f := range p.Funcs.Funcs {
			vf := &vmFunc{name: f.Name, params: f.Params, ret: f.Return, blocks: f.Blocks, index: i}
			vf.memo = len(f.Params) == 2 && f.Params[0] == ir.Input && f.Params[1] == ir.Data
			prog.funcs = append(prog.funcs, vf)
			prog.byName[f.Name] = i
		}
	}
	var err error
	check := func(blocks []*ir.Block) {
		for _, b := range blocks {
			if err == nil {
				err = prog.checkBlock(b)
			}
		}
	}
	check(prog.plan)
	for _, f := range prog.funcs {
		check(f.blocks)
	}
	if err != nil {
		return nil, err
	}
	// After checkBlock, which made the operands values; before fuse,
	// whose statements maxLocal does not know.
	prog.planLocals = maxLocal(prog.plan, []ir.Local{ir.Input, ir.Data}) + 1
	for _, f := range prog.funcs {
		f.locals = maxLocal(f.blocks, append(append([]ir.Local{}, f.params...), f.ret)) + 1
	}
	prog.pool.New = func() any { return newVMEval(prog) }
	if err := prog.foldConstants(); err != nil {
		return nil, err
	}
	prog.fuse(prog.plan)
	for _, f := range prog.funcs {
		prog.fuse(f.blocks)
	}
	return prog, nil
}

// Statements fuse makes of the planner's: they do what the sequence they
// replace does, with fewer allocations.
type (
	// vmConstStmt sets Target to a value made at load (a number constant).
	vmConstStmt struct {
		Target ir.Local
		Value  *ast.Term
		ir.Location
	}
	// vmArrayStmt is MakeArrayStmt followed by ArrayAppendStmts: an array
	// literal, made at once.
	vmArrayStmt struct {
		Target ir.Local
		Values []ir.Operand
		ir.Location
	}
	// vmCallStmt is a CallStmt with its target resolved.
	vmCallStmt struct {
		*ir.CallStmt
		call vmCall
	}
	// vmResultStmt is the plan's MakeObjectStmt, ObjectInsertStmt of
	// "result" and ResultSetAddStmt: it adds the value itself.
	vmResultStmt struct {
		Value ir.Local
		ir.Location
	}
)

// fuse replaces statement sequences in blocks (recursively) by the fused
// statements above.
func (prog *vmProgram) fuse(blocks []*ir.Block) {
	for _, b := range blocks {
		prog.fuseBlock(b)
	}
}

func (prog *vmProgram) fuseBlock(b *ir.Block) {
	out := make([]ir.Stmt, 0, len(b.Stmts))
	for i := 0; i < len(b.Stmts); i++ {
		switch s := b.Stmts[i].(type) {
		case *ir.BlockStmt:
			prog.fuse(s.Blocks)
		case *ir.ScanStmt:
			prog.fuseBlock(s.Block)
		case *ir.NotStmt:
			prog.fuseBlock(s.Block)
		case *ir.CallStmt:
			out = append(out, &vmCallStmt{CallStmt: s, call: prog.calls[s]})
			continue
		case *ir.MakeNumberRefStmt:
			n := ast.NumberTerm(json.Number(prog.strings[s.Index].Value.(ast.String)))
			out = append(out, &vmConstStmt{Target: s.Target, Value: n, Location: s.Location})
			continue
		case *ir.MakeArrayStmt:
			var vals []ir.Operand
			j := i + 1
			for ; j < len(b.Stmts); j++ {
				a, ok := b.Stmts[j].(*ir.ArrayAppendStmt)
				if !ok || a.Array != s.Target || a.Value.Value == ir.Local(s.Target) {
					break
				}
				vals = append(vals, a.Value)
			}
			if len(vals) > 0 {
				out = append(out, &vmArrayStmt{Target: s.Target, Values: vals, Location: s.Location})
				i = j - 1
				continue
			}
		case *ir.MakeObjectStmt:
			if i+2 < len(b.Stmts) {
				ins, ok1 := b.Stmts[i+1].(*ir.ObjectInsertStmt)
				add, ok2 := b.Stmts[i+2].(*ir.ResultSetAddStmt)
				if ok1 && ok2 && ins.Object == s.Target && add.Value == s.Target {
					key, isConst := ins.Key.Value.(ir.StringIndex)
					val, isLocal := ins.Value.Value.(ir.Local)
					if isConst && isLocal && val != s.Target && prog.strings[key].Value.Compare(ast.String("result")) == 0 {
						out = append(out, &vmResultStmt{Value: val, Location: s.Location})
						i += 2
						continue
					}
				}
			}
		}
		out = append(out, b.Stmts[i])
	}
	b.Stmts = out
}

// foldConstants finds the constant rules and computes their values.
func (prog *vmProgram) foldConstants() error {
	for changed := true; changed; {
		changed = false
		for _, f := range prog.funcs {
			if f.memo && !f.constant && prog.isConstant(f.blocks) {
				f.constant, changed = true, true
			}
		}
	}
	ev := newVMEval(prog)
	ev.ctx = context.Background()
	for _, f := range prog.funcs {
		if !f.constant {
			continue
		}
		// Unset input and data: a constant rule reads neither.
		base := ev.push(2)
		v, err := ev.evalFunc(base, f, []ir.Operand{{Value: ir.Input}, {Value: ir.Data}})
		if err != nil {
			return fmt.Errorf("%w: computing %s at load: %w", errVMUnsupported, f.name, err)
		}
		ev.stack = ev.stack[:base]
		f.value = v
	}
	return nil
}

// isConstant reports whether blocks read neither input nor data and call
// only built-ins and constant rules.
func (prog *vmProgram) isConstant(blocks []*ir.Block) bool {
	ok := true
	local := func(l ir.Local) {
		if l == ir.Input || l == ir.Data {
			ok = false
		}
	}
	op := func(o ir.Operand) {
		if l, isLocal := o.Value.(ir.Local); isLocal {
			local(l)
		}
	}
	var walk func(b *ir.Block)
	walk = func(b *ir.Block) {
		for _, s := range b.Stmts {
			switch s := s.(type) {
			case *ir.CallStmt:
				for _, a := range s.Args {
					op(a)
				}
				if c := prog.calls[s]; c.fn != nil && !c.fn.constant {
					ok = false
				}
			case *ir.BlockStmt:
				for _, b := range s.Blocks {
					walk(b)
				}
			case *ir.ScanStmt:
				local(s.Source)
				walk(s.Block)
			case *ir.NotStmt:
				walk(s.Block)
			case *ir.DotStmt:
				op(s.Source)
				op(s.Key)
			case *ir.LenStmt:
				op(s.Source)
			case *ir.AssignVarStmt:
				op(s.Source)
			case *ir.AssignVarOnceStmt:
				op(s.Source)
			case *ir.EqualStmt:
				op(s.A)
				op(s.B)
			case *ir.NotEqualStmt:
				op(s.A)
				op(s.B)
			case *ir.IsArrayStmt:
				op(s.Source)
			case *ir.IsObjectStmt:
				op(s.Source)
			case *ir.IsSetStmt:
				op(s.Source)
			case *ir.IsDefinedStmt:
				local(s.Source)
			case *ir.IsUndefinedStmt:
				local(s.Source)
			case *ir.ArrayAppendStmt:
				op(s.Value)
			case *ir.ObjectInsertStmt:
				op(s.Key)
				op(s.Value)
			case *ir.ObjectInsertOnceStmt:
				op(s.Key)
				op(s.Value)
			case *ir.ObjectMergeStmt:
				local(s.A)
				local(s.B)
			case *ir.SetAddStmt:
				op(s.Value)
			case *ir.ReturnLocalStmt:
				local(s.Source)
			}
		}
	}
	for _, b := range blocks {
		walk(b)
	}
	return ok
}

// maxLocal is the highest local the blocks (or extra) name.
func maxLocal(blocks []*ir.Block, extra []ir.Local) int {
	m := 0
	see := func(l ir.Local) {
		if int(l) > m {
			m = int(l)
		}
	}
	for _, l := range extra {
		see(l)
	}
	op := func(o ir.Operand) {
		if l, ok := o.Value.(ir.Local); ok {
			see(l)
		}
	}
	var walk func(b *ir.Block)
	walk = func(b *ir.Block) {
		for _, s := range b.Stmts {
			switch s := s.(type) {
			case *ir.ReturnLocalStmt:
				see(s.Source)
			case *ir.CallStmt:
				for _, a := range s.Args {
					op(a)
				}
				see(s.Result)
			case *ir.BlockStmt:
				for _, b := range s.Blocks {
					walk(b)
				}
			case *ir.DotStmt:
				op(s.Source)
				op(s.Key)
				see(s.Target)
			case *ir.LenStmt:
				op(s.Source)
				see(s.Target)
			case *ir.ScanStmt:
				see(s.Source)
				see(s.Key)
				see(s.Value)
				walk(s.Block)
			case *ir.NotStmt:
				walk(s.Block)
			case *ir.AssignIntStmt:
				see(s.Target)
			case *ir.AssignVarStmt:
				op(s.Source)
				see(s.Target)
			case *ir.AssignVarOnceStmt:
				op(s.Source)
				see(s.Target)
			case *ir.ResetLocalStmt:
				see(s.Target)
			case *ir.MakeNullStmt:
				see(s.Target)
			case *ir.MakeNumberIntStmt:
				see(s.Target)
			case *ir.MakeNumberRefStmt:
				see(s.Target)
			case *ir.MakeArrayStmt:
				see(s.Target)
			case *ir.MakeObjectStmt:
				see(s.Target)
			case *ir.MakeSetStmt:
				see(s.Target)
			case *ir.EqualStmt:
				op(s.A)
				op(s.B)
			case *ir.NotEqualStmt:
				op(s.A)
				op(s.B)
			case *ir.IsArrayStmt:
				op(s.Source)
			case *ir.IsObjectStmt:
				op(s.Source)
			case *ir.IsSetStmt:
				op(s.Source)
			case *ir.IsDefinedStmt:
				see(s.Source)
			case *ir.IsUndefinedStmt:
				see(s.Source)
			case *ir.ArrayAppendStmt:
				op(s.Value)
				see(s.Array)
			case *ir.ObjectInsertStmt:
				op(s.Key)
				op(s.Value)
				see(s.Object)
			case *ir.ObjectInsertOnceStmt:
				op(s.Key)
				op(s.Value)
				see(s.Object)
			case *ir.ObjectMergeStmt:
				see(s.A)
				see(s.B)
				see(s.Target)
			case *ir.SetAddStmt:
				op(s.Value)
				see(s.Set)
			case *ir.ResultSetAddStmt:
				see(s.Value)
			}
		}
	}
	for _, b := range blocks {
		walk(b)
	}
	return m
}

// checkBlock resolves the calls in b and fails on anything unsupported.
func (prog *vmProgram) checkBlock(b *ir.Block) error {
	for _, s := range b.Stmts {
		if err := prog.checkOperands(s); err != nil {
			return err
		}
		switch s := s.(type) {
		case *ir.CallStmt:
			if err := prog.resolve(s); err != nil {
				return err
			}
		case *ir.BlockStmt:
			for _, inner := range s.Blocks {
				if err := prog.checkBlock(inner); err != nil {
					return err
				}
			}
		case *ir.ScanStmt:
			if err := prog.checkBlock(s.Block); err != nil {
				return err
			}
		case *ir.NotStmt:
			if err := prog.checkBlock(s.Block); err != nil {
				return err
			}
		case *ir.ReturnLocalStmt, *ir.BreakStmt, *ir.DotStmt, *ir.LenStmt, *ir.AssignIntStmt,
			*ir.AssignVarStmt, *ir.AssignVarOnceStmt, *ir.ResetLocalStmt, *ir.MakeNullStmt,
			*ir.MakeNumberIntStmt, *ir.MakeNumberRefStmt, *ir.MakeArrayStmt, *ir.MakeObjectStmt,
			*ir.MakeSetStmt, *ir.EqualStmt, *ir.NotEqualStmt, *ir.IsArrayStmt, *ir.IsObjectStmt,
			*ir.IsSetStmt, *ir.IsDefinedStmt, *ir.IsUndefinedStmt, *ir.ArrayAppendStmt,
			*ir.ObjectInsertStmt, *ir.ObjectInsertOnceStmt, *ir.ObjectMergeStmt, *ir.SetAddStmt,
			*ir.ResultSetAddStmt, *ir.NopStmt:
		default:
			return fmt.Errorf("%w: statement %T", errVMUnsupported, s)
		}
		if s, ok := s.(*ir.MakeNumberRefStmt); ok && (s.Index < 0 || s.Index >= len(prog.strings)) {
			return fmt.Errorf("%w: number constant %d out of range", errVMUnsupported, s.Index)
		}
	}
	return nil
}

// checkOperands turns the plan's decoded operands (pointers, as ir's JSON
// decoding makes them) into values, and fails on a string constant out of
// range (a plan OPA did not make), so operand never indexes out of bounds.
func (prog *vmProgram) checkOperands(s ir.Stmt) error {
	var ops []*ir.Operand
	switch s := s.(type) {
	case *ir.CallStmt:
		for i := range s.Args {
			ops = append(ops, &s.Args[i])
		}
	case *ir.DotStmt:
		ops = []*ir.Operand{&s.Source, &s.Key}
	case *ir.LenStmt:
		ops = []*ir.Operand{&s.Source}
	case *ir.AssignVarStmt:
		ops = []*ir.Operand{&s.Source}
	case *ir.AssignVarOnceStmt:
		ops = []*ir.Operand{&s.Source}
	case *ir.EqualStmt:
		ops = []*ir.Operand{&s.A, &s.B}
	case *ir.NotEqualStmt:
		ops = []*ir.Operand{&s.A, &s.B}
	case *ir.IsArrayStmt:
		ops = []*ir.Operand{&s.Source}
	case *ir.IsObjectStmt:
		ops = []*ir.Operand{&s.Source}
	case *ir.IsSetStmt:
		ops = []*ir.Operand{&s.Source}
	case *ir.ArrayAppendStmt:
		ops = []*ir.Operand{&s.Value}
	case *ir.ObjectInsertStmt:
		ops = []*ir.Operand{&s.Key, &s.Value}
	case *ir.ObjectInsertOnceStmt:
		ops = []*ir.Operand{&s.Key, &s.Value}
	case *ir.SetAddStmt:
		ops = []*ir.Operand{&s.Value}
	}
	for _, o := range ops {
		switch v := o.Value.(type) {
		case *ir.Local:
			o.Value = *v
		case *ir.Bool:
			o.Value = *v
		case *ir.StringIndex:
			o.Value = *v
		}
		switch v := o.Value.(type) {
		case ir.Local:
			if v < 0 {
				return fmt.Errorf("%w: local %d", errVMUnsupported, v)
			}
		case ir.Bool:
		case ir.StringIndex:
			if int(v) < 0 || int(v) >= len(prog.strings) {
				return fmt.Errorf("%w: string constant %d out of range", errVMUnsupported, v)
			}
		default:
			return fmt.Errorf("%w: operand %T", errVMUnsupported, v)
		}
	}
	return nil
}

func (prog *vmProgram) resolve(s *ir.CallStmt) error {
	if i, ok := prog.byName[s.Func]; ok {
		f := prog.funcs[i]
		if len(s.Args) != len(f.params) {
			return fmt.Errorf("%w: %s called with %d arguments, declared with %d", errVMUnsupported, s.Func, len(s.Args), len(f.params))
		}
		prog.calls[s] = vmCall{fn: f, name: s.Func}
		return nil
	}
	if s.Func == modelGrantsName {
		if len(s.Args) != 2 {
			return fmt.Errorf("%w: %s with %d arguments", errVMUnsupported, s.Func, len(s.Args))
		}
		prog.calls[s] = vmCall{grants: true, name: s.Func}
		return nil
	}
	f, ok := vmBuiltinAllowed(s.Func)
	if !ok {
		return fmt.Errorf("%w: built-in %s", errVMUnsupported, s.Func)
	}
	prog.calls[s] = vmCall{builtin: f, name: s.Func}
	return nil
}

// Control results of a statement or block.
const (
	ctlNext   = -1 // go on with the next statement
	ctlReturn = -2 // the function returned
	ctlEnd    = -3 // (blocks only) the last statement ran, none broke out
)

// vmEval is the state of one evaluation; pooled.
type vmEval struct {
	prog    *vmProgram
	ctx     context.Context
	stack   []*ast.Term
	memo    []*ast.Term
	memoSet []bool
	results []*ast.Term
	direct  []*ast.Term // results added by vmResultStmt, unwrapped
	args    []*ast.Term
	out     *ast.Term
	outs    int
	iter    func(*ast.Term) error
	ret     *ast.Term
}

func newVMEval(prog *vmProgram) *vmEval {
	ev := &vmEval{
		prog:    prog,
		memo:    make([]*ast.Term, len(prog.funcs)),
		memoSet: make([]bool, len(prog.funcs)),
		stack:   make([]*ast.Term, 0, 256),
		args:    make([]*ast.Term, 0, 8),
	}
	ev.iter = func(t *ast.Term) error {
		ev.out = t
		ev.outs++
		return nil
	}
	return ev
}

// errConflict is topdown's error for a complete rule or function with two
// values.
var errConflict = errors.New("eval_conflict_error: complete rules must not produce multiple outputs")

// eval runs the plan on input and returns the single result's value:
// nil when the query is undefined. A panic in the engine is an error (it
// fails closed), never a crash.
func (prog *vmProgram) eval(ctx context.Context, input *ast.Term) (result *ast.Term, err error) {
	ev := prog.pool.Get().(*vmEval)
	defer func() {
		if r := recover(); r != nil {
			result, err = nil, fmt.Errorf("compiled policy engine: %v", r)
			return // the state may be inconsistent: drop it
		}
		ev.reset()
		prog.pool.Put(ev)
	}()
	ev.ctx = ctx
	base := ev.push(prog.planLocals)
	ev.stack[base+int(ir.Input)] = input
	ev.stack[base+int(ir.Data)] = prog.data
	for _, b := range prog.plan {
		ctl, err := ev.block(base, b)
		if err != nil {
			return nil, err
		}
		if ctl == ctlReturn || ctl >= 0 {
			break
		}
	}
	switch n := len(ev.results) + len(ev.direct); {
	case n == 0:
		return nil, nil
	case n > 1:
		return nil, fmt.Errorf("%d results, want exactly one", n)
	case len(ev.direct) == 1:
		return ev.direct[0], nil
	}
	obj, ok := ev.results[0].Value.(ast.Object)
	if !ok || obj.Len() != 1 {
		return nil, errors.New("malformed plan result")
	}
	return obj.Get(ast.InternedTerm("result")), nil
}

func (ev *vmEval) reset() {
	clear(ev.stack[:cap(ev.stack)])
	ev.stack = ev.stack[:0]
	clear(ev.memo)
	clear(ev.memoSet)
	clear(ev.results)
	ev.results = ev.results[:0]
	clear(ev.direct)
	ev.direct = ev.direct[:0]
	clear(ev.args[:cap(ev.args)])
	ev.args = ev.args[:0]
	ev.out, ev.ret, ev.ctx = nil, nil, nil
}

// push reserves n locals (all undefined) and returns their base index.
func (ev *vmEval) push(n int) int {
	base := len(ev.stack)
	for range n {
		ev.stack = append(ev.stack, nil)
	}
	return base
}

func (ev *vmEval) operand(base int, o ir.Operand) *ast.Term {
	switch v := o.Value.(type) {
	case ir.Local:
		return ev.stack[base+int(v)]
	case ir.StringIndex:
		return ev.prog.strings[v]
	case ir.Bool:
		return ast.InternedTerm(bool(v))
	}
	return nil
}

// block runs b's statements: ctlEnd when all ran, ctlNext when a statement
// was undefined or broke out of b alone, ctlReturn on a return, and n >= 0
// when a break leaves n more enclosing blocks.
func (ev *vmEval) block(base int, b *ir.Block) (int, error) {
	for _, s := range b.Stmts {
		ctl, err := ev.stmt(base, s)
		if err != nil {
			return 0, err
		}
		switch {
		case ctl == ctlNext:
			continue
		case ctl == ctlReturn:
			return ctlReturn, nil
		case ctl == 0:
			return ctlNext, nil
		default:
			return ctl - 1, nil
		}
	}
	return ctlEnd, nil
}

// stmt runs one statement: ctlNext, ctlReturn, or n >= 0 to break out of
// the current block and n more (an undefined statement is 0).
func (ev *vmEval) stmt(base int, s ir.Stmt) (int, error) {
	const undefined = 0
	switch s := s.(type) {
	case *ir.DotStmt:
		src, key := ev.operand(base, s.Source), ev.operand(base, s.Key)
		if src == nil || key == nil {
			return undefined, nil
		}
		v := dot(src, key)
		if v == nil {
			return undefined, nil
		}
		ev.stack[base+int(s.Target)] = v
	case *ir.AssignVarStmt:
		ev.stack[base+int(s.Target)] = ev.operand(base, s.Source)
	case *ir.AssignVarOnceStmt:
		src := ev.operand(base, s.Source)
		cur := &ev.stack[base+int(s.Target)]
		if *cur == nil {
			*cur = src
		} else if src == nil || !equal(*cur, src) {
			return 0, errConflict
		}
	case *vmCallStmt:
		v, err := ev.call(base, s.CallStmt, s.call)
		if err != nil {
			return 0, err
		}
		if v == nil {
			return undefined, nil
		}
		ev.stack[base+int(s.Result)] = v
	case *ir.CallStmt: // before fuse: computing constants at load
		v, err := ev.call(base, s, ev.prog.calls[s])
		if err != nil {
			return 0, err
		}
		if v == nil {
			return undefined, nil
		}
		ev.stack[base+int(s.Result)] = v
	case *ir.ResetLocalStmt:
		ev.stack[base+int(s.Target)] = nil
	case *ir.EqualStmt:
		a, b := ev.operand(base, s.A), ev.operand(base, s.B)
		if a == nil || b == nil || !equal(a, b) {
			return undefined, nil
		}
	case *ir.NotEqualStmt:
		a, b := ev.operand(base, s.A), ev.operand(base, s.B)
		if a == nil || b == nil || equal(a, b) {
			return undefined, nil
		}
	case *ir.IsDefinedStmt:
		if ev.stack[base+int(s.Source)] == nil {
			return undefined, nil
		}
	case *ir.IsUndefinedStmt:
		if ev.stack[base+int(s.Source)] != nil {
			return undefined, nil
		}
	case *ir.ReturnLocalStmt:
		ev.ret = ev.stack[base+int(s.Source)]
		return ctlReturn, nil
	case *ir.BlockStmt:
		for _, b := range s.Blocks {
			ctl, err := ev.block(base, b)
			if err != nil {
				return 0, err
			}
			if ctl == ctlReturn || ctl >= 0 {
				return ctl, nil
			}
		}
	case *ir.BreakStmt:
		return int(s.Index), nil
	case *ir.NotStmt:
		ctl, err := ev.block(base, s.Block)
		switch {
		case err != nil:
			return 0, err
		case ctl == ctlEnd: // the negated body held
			return undefined, nil
		case ctl == ctlNext:
			return ctlNext, nil
		default:
			return ctl, nil
		}
	case *ir.ScanStmt:
		return ev.scan(base, s)
	case *ir.MakeNullStmt:
		ev.stack[base+int(s.Target)] = ast.InternedNullTerm
	case *ir.MakeNumberIntStmt:
		ev.stack[base+int(s.Target)] = ast.InternedTerm(int(s.Value))
	case *ir.AssignIntStmt:
		ev.stack[base+int(s.Target)] = ast.InternedTerm(int(s.Value))
	case *ir.MakeNumberRefStmt:
		ev.stack[base+int(s.Target)] = ast.NumberTerm(json.Number(ev.prog.strings[s.Index].Value.(ast.String)))
	case *ir.MakeArrayStmt:
		ev.stack[base+int(s.Target)] = ast.NewTerm(ast.NewArrayWithCapacity(int(s.Capacity)))
	case *ir.MakeObjectStmt:
		ev.stack[base+int(s.Target)] = ast.NewTerm(ast.NewObject())
	case *ir.MakeSetStmt:
		ev.stack[base+int(s.Target)] = ast.NewTerm(ast.NewSet())
	case *ir.IsArrayStmt:
		if v := ev.operand(base, s.Source); v == nil || !isArray(v) {
			return undefined, nil
		}
	case *ir.IsObjectStmt:
		if v := ev.operand(base, s.Source); v == nil || !isObject(v) {
			return undefined, nil
		}
	case *ir.IsSetStmt:
		if v := ev.operand(base, s.Source); v == nil || !isSet(v) {
			return undefined, nil
		}
	case *ir.LenStmt:
		v := ev.operand(base, s.Source)
		if v == nil {
			return undefined, nil
		}
		n, ok := length(v)
		if !ok {
			return undefined, nil
		}
		ev.stack[base+int(s.Target)] = ast.InternedTerm(n)
	case *ir.ArrayAppendStmt:
		arr, ok := termAt(ev.stack, base, s.Array).(*ast.Array)
		v := ev.operand(base, s.Value)
		if !ok || v == nil {
			return 0, fmt.Errorf("compiled policy engine: append to a non-array")
		}
		ev.stack[base+int(s.Array)].Value = arr.Append(v)
	case *ir.ObjectInsertStmt:
		obj, ok := termAt(ev.stack, base, s.Object).(ast.Object)
		k, v := ev.operand(base, s.Key), ev.operand(base, s.Value)
		if !ok || k == nil || v == nil {
			return 0, fmt.Errorf("compiled policy engine: insert into a non-object")
		}
		obj.Insert(k, v)
	case *ir.ObjectInsertOnceStmt:
		obj, ok := termAt(ev.stack, base, s.Object).(ast.Object)
		k, v := ev.operand(base, s.Key), ev.operand(base, s.Value)
		if !ok || k == nil || v == nil {
			return 0, fmt.Errorf("compiled policy engine: insert into a non-object")
		}
		if cur := obj.Get(k); cur != nil {
			if !equal(cur, v) {
				return 0, errConflict
			}
		} else {
			obj.Insert(k, v)
		}
	case *ir.ObjectMergeStmt:
		a, aok := termAt(ev.stack, base, s.A).(ast.Object)
		b, bok := termAt(ev.stack, base, s.B).(ast.Object)
		if !aok || !bok {
			return 0, errConflict
		}
		m, ok := a.Merge(b)
		if !ok {
			return 0, errConflict
		}
		ev.stack[base+int(s.Target)] = ast.NewTerm(m)
	case *ir.SetAddStmt:
		set, ok := termAt(ev.stack, base, s.Set).(ast.Set)
		v := ev.operand(base, s.Value)
		if !ok || v == nil {
			return 0, fmt.Errorf("compiled policy engine: add to a non-set")
		}
		set.Add(v)
	case *ir.ResultSetAddStmt:
		v := ev.stack[base+int(s.Value)]
		if v == nil {
			return undefined, nil
		}
		ev.results = append(ev.results, v)
	case *vmConstStmt:
		ev.stack[base+int(s.Target)] = s.Value
	case *vmArrayStmt:
		elems := make([]*ast.Term, len(s.Values))
		for i, o := range s.Values {
			v := ev.operand(base, o)
			if v == nil {
				return 0, fmt.Errorf("compiled policy engine: append of an undefined value")
			}
			elems[i] = v
		}
		ev.stack[base+int(s.Target)] = ast.NewTerm(ast.NewArray(elems...))
	case *vmResultStmt:
		v := ev.stack[base+int(s.Value)]
		if v == nil {
			return 0, fmt.Errorf("compiled policy engine: undefined result")
		}
		ev.direct = append(ev.direct, v)
	case *ir.NopStmt:
	default:
		return 0, fmt.Errorf("compiled policy engine: statement %T", s)
	}
	return ctlNext, nil
}

func termAt(stack []*ast.Term, base int, l ir.Local) ast.Value {
	if t := stack[base+int(l)]; t != nil {
		return t.Value
	}
	return nil
}

// scan runs s.Block once per element of the source (nothing for a
// scalar). An undefined body, or a break out of it, goes on with the next
// element; a break of one more level ends the scan; more leave blocks
// around it.
func (ev *vmEval) scan(base int, s *ir.ScanStmt) (int, error) {
	src := ev.stack[base+int(s.Source)]
	if src == nil {
		return ctlNext, nil
	}
	switch v := src.Value.(type) {
	case *ast.Array:
		for i := range v.Len() {
			if stop, ctl, err := ev.scanBody(base, s, ast.InternedTerm(i), v.Elem(i)); stop {
				return ctl, err
			}
		}
	case ast.Object:
		ctl, err := ctlNext, error(nil)
		_ = v.Iter(func(k, val *ast.Term) error {
			var stop bool
			if stop, ctl, err = ev.scanBody(base, s, k, val); stop {
				return errStopScan
			}
			return nil
		})
		return ctl, err
	case ast.Set:
		ctl, err := ctlNext, error(nil)
		_ = v.Iter(func(e *ast.Term) error {
			var stop bool
			if stop, ctl, err = ev.scanBody(base, s, e, e); stop {
				return errStopScan
			}
			return nil
		})
		return ctl, err
	}
	return ctlNext, nil
}

var errStopScan = errors.New("stop scan")

// scanBody runs the body for one element; stop says the scan ends, with
// ctl and err as the scan's result.
func (ev *vmEval) scanBody(base int, s *ir.ScanStmt, k, v *ast.Term) (bool, int, error) {
	ev.stack[base+int(s.Key)] = k
	ev.stack[base+int(s.Value)] = v
	c, err := ev.block(base, s.Block)
	switch {
	case err != nil:
		return true, 0, err
	case c == ctlReturn:
		return true, ctlReturn, nil
	case c == 0: // leaves the scan
		return true, ctlNext, nil
	case c > 0:
		return true, c - 1, nil
	}
	return false, ctlNext, nil
}

// call runs a planned function or a built-in; nil means undefined.
func (ev *vmEval) call(base int, s *ir.CallStmt, c vmCall) (*ast.Term, error) {
	switch {
	case c.fn != nil:
		return ev.callFunc(base, c.fn, s.Args)
	case c.grants:
		g, m := ev.operand(base, s.Args[0]), ev.operand(base, s.Args[1])
		if g == nil || m == nil {
			return nil, nil
		}
		out, err := ev.prog.grants.builtin(topdown.BuiltinContext{}, g, m)
		if err != nil {
			return nil, nil // as topdown: a failing built-in is undefined
		}
		return out, nil
	}
	start := len(ev.args)
	for _, a := range s.Args {
		v := ev.operand(base, a)
		if v == nil {
			ev.args = ev.args[:start]
			return nil, nil
		}
		ev.args = append(ev.args, v)
	}
	ev.out, ev.outs = nil, 0
	bctx := topdown.BuiltinContext{Context: ev.ctx, Metrics: noMetrics}
	err := c.builtin(bctx, ev.args[start:len(ev.args):len(ev.args)], ev.iter)
	clear(ev.args[start:])
	ev.args = ev.args[:start]
	if err != nil {
		var halt topdown.Halt
		if errors.As(err, &halt) {
			return nil, err
		}
		return nil, nil // topdown's default: a built-in error makes the call undefined
	}
	if ev.outs > 1 {
		return nil, fmt.Errorf("compiled policy engine: built-in %s gave %d results", c.name, ev.outs)
	}
	return ev.out, nil
}

var noMetrics = metrics.NoOp()

func (ev *vmEval) callFunc(base int, f *vmFunc, args []ir.Operand) (*ast.Term, error) {
	if f.constant {
		return f.value, nil
	}
	if f.memo && ev.memoSet[f.index] {
		return ev.memo[f.index], nil
	}
	return ev.evalFunc(base, f, args)
}

// evalFunc runs f's blocks with args (operands of the caller's frame).
func (ev *vmEval) evalFunc(base int, f *vmFunc, args []ir.Operand) (*ast.Term, error) {
	fb := ev.push(f.locals)
	for i, p := range f.params {
		ev.stack[fb+int(p)] = ev.operand(base, args[i])
	}
	ev.ret = nil
	var ret *ast.Term
	for _, b := range f.blocks {
		ctl, err := ev.block(fb, b)
		if err != nil {
			return nil, err
		}
		if ctl == ctlReturn {
			ret = ev.ret
			break
		}
		if ctl >= 0 {
			break
		}
	}
	ev.ret = nil
	clear(ev.stack[fb:])
	ev.stack = ev.stack[:fb]
	if f.memo {
		ev.memo[f.index], ev.memoSet[f.index] = ret, true
	}
	return ret, nil
}

// dot is src[key] as the plan means it: an object's value, an array's
// element, a set's member; nil (undefined) otherwise.
func dot(src, key *ast.Term) *ast.Term {
	switch v := src.Value.(type) {
	case ast.Object:
		return v.Get(key)
	case *ast.Array:
		n, ok := key.Value.(ast.Number)
		if !ok {
			return nil
		}
		i, ok := n.Int()
		if !ok || i < 0 || i >= v.Len() {
			return nil
		}
		return v.Elem(i)
	case ast.Set:
		if v.Contains(key) {
			return key
		}
	}
	return nil
}

func equal(a, b *ast.Term) bool {
	if a == b {
		return true
	}
	return ast.Compare(a.Value, b.Value) == 0
}

func isArray(t *ast.Term) bool  { _, ok := t.Value.(*ast.Array); return ok }
func isObject(t *ast.Term) bool { _, ok := t.Value.(ast.Object); return ok }
func isSet(t *ast.Term) bool    { _, ok := t.Value.(ast.Set); return ok }

func length(t *ast.Term) (int, bool) {
	switch v := t.Value.(type) {
	case *ast.Array:
		return v.Len(), true
	case ast.Object:
		return v.Len(), true
	case ast.Set:
		return v.Len(), true
	case ast.String:
		return utf8.RuneCountInString(string(v)), true
	}
	return 0, false
}
