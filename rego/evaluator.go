package rego

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tfgate/tfgate/authz"
)

// Evaluator is an authz.Policy backed by a compiled Rego policy. It is safe
// for concurrent use; Reload and Watch swap in a new policy atomically, and
// an evaluation in flight finishes on the policy it started with.
type Evaluator struct {
	cfg Config
	src source

	cur atomic.Pointer[prepared]

	mu sync.Mutex // serialises reloads, so a slow compile cannot install stale files

	state reloadState
	now   func() time.Time
}

var _ authz.Policy = (*Evaluator)(nil)

// New loads, compiles and prepares the policy cfg describes. It fails with
// ErrConfig, ErrLoad, ErrCompile, or authz.ErrInvalidDecision when the
// policy answers an anonymous probe request with a malformed decision.
func New(ctx context.Context, cfg Config) (*Evaluator, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	e := &Evaluator{cfg: cfg, src: newSource(cfg.Dir), now: time.Now}
	e.mu.Lock()
	defer e.mu.Unlock()
	files, err := e.src.read()
	if err != nil {
		return nil, err
	}
	if err := e.install(ctx, files); err != nil {
		return nil, err
	}
	e.state.loaded(e.now(), true, files.revision, nil)
	return e, nil
}

// Evaluate decides on one input. A deny is a Verdict with Allow false; an
// error (wrapping authz.ErrInvalidDecision for a decision of the wrong shape,
// ErrEvaluation otherwise) means the policy could not decide, and the Verdict
// is then the zero value, which does not allow.
func (e *Evaluator) Evaluate(ctx context.Context, in *authz.Input) (authz.Verdict, error) {
	p := e.cur.Load()
	v, err := p.evaluate(ctx, in)
	if p.cache != nil {
		if v.Cached {
			e.state.hits.Add(1)
		} else {
			e.state.misses.Add(1)
		}
	}
	if err != nil {
		return authz.Verdict{}, fmt.Errorf("%w (policy revision %s)", err, p.revision)
	}
	return v, nil
}

// Revision is a short hash of the policy and data files in force, for the
// decision log. It changes exactly when a reload installs different files.
func (e *Evaluator) Revision() string {
	return e.cur.Load().revision
}

// Reload reads the policy files again, compiles them and, if that works,
// makes them the policy in force. On error the previous policy stays in
// force and the error (ErrLoad, ErrCompile or authz.ErrInvalidDecision) says
// what is wrong, with file and line where OPA gives them.
//
// Reload is safe to call at any time, for example on SIGHUP, also while
// Watch runs. Its outcome shows in Status.
func (e *Evaluator) Reload() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	files, err := e.src.read()
	if err != nil {
		e.state.loaded(e.now(), false, "", err)
		return err
	}
	err = e.install(context.Background(), files)
	e.state.loaded(e.now(), false, files.revision, err)
	return err
}

// install compiles files and swaps them in. The caller holds e.mu.
func (e *Evaluator) install(ctx context.Context, files *policyFiles) error {
	p, err := prepare(ctx, files, e.cfg.Query, e.cfg.DecisionCacheEntries, e.cfg.Engine)
	if err != nil {
		return fmt.Errorf("%w (policy revision %s)", err, files.revision)
	}
	e.cur.Store(p)
	return nil
}
