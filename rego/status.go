package rego

import (
	"sync"
	"sync/atomic"
	"time"
)

// Status is what an operator needs to know about the policy in force: which
// revision decides, whether the last reload worked, and how well the
// decision cache does. It never contains input.
type Status struct {
	// Revision is the revision in force.
	Revision string `json:"revision"`
	// LoadedAt is when the revision in force was installed.
	LoadedAt time.Time `json:"loaded_at"`
	// LastReloadAt is when a reload last ran (zero: only the initial load).
	LastReloadAt time.Time `json:"last_reload_at,omitzero"`
	// LastReloadOK is whether that reload installed its files; a failed
	// reload keeps the last good policy in force.
	LastReloadOK bool `json:"last_reload_ok"`
	// LastReloadError says why the last reload failed; empty when it worked.
	LastReloadError string `json:"last_reload_error,omitempty"`
	// FailedRevision is the revision of the files that failed to compile.
	FailedRevision string `json:"failed_revision,omitempty"`
	// Reloads and ReloadFailures count reloads since start, the initial
	// load excluded.
	Reloads        uint64 `json:"reloads"`
	ReloadFailures uint64 `json:"reload_failures"`
	// CacheHits and CacheMisses count decision-cache lookups; both stay 0
	// when the cache is off or the policy is not deterministic.
	CacheHits   uint64 `json:"decision_cache_hits"`
	CacheMisses uint64 `json:"decision_cache_misses"`
	// Engine is what evaluates the revision in force: "compiled" (OPA's
	// plan of the policy, run by tfgate) or "topdown" (OPA's evaluator);
	// EngineNote says why a revision runs on topdown.
	Engine     string `json:"engine"`
	EngineNote string `json:"engine_note,omitempty"`
	// EngineChecks counts live decisions of the compiled engine checked
	// against OPA's evaluator (one uncached decision in 1,024), and
	// EngineMismatches those that differed, for the revision in force.
	EngineChecks     uint64 `json:"engine_checks"`
	EngineMismatches uint64 `json:"engine_mismatches"`
}

// reloadState is the Evaluator's record behind Status.
type reloadState struct {
	mu     sync.Mutex
	status Status
	// counters read without the lock on the Check path
	hits, misses atomic.Uint64
}

// loaded records the outcome of a load; initial is the load New does.
func (r *reloadState) loaded(now time.Time, initial bool, revision string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := &r.status
	if !initial {
		s.LastReloadAt = now
		s.Reloads++
	}
	if err != nil {
		if !initial {
			s.ReloadFailures++
		}
		s.LastReloadOK, s.LastReloadError, s.FailedRevision = false, err.Error(), revision
		return
	}
	s.LastReloadOK, s.LastReloadError, s.FailedRevision = true, "", ""
	s.Revision, s.LoadedAt = revision, now
}

// failing reports whether the last reload failed.
func (r *reloadState) failing() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.status.LastReloadAt != (time.Time{}) && !r.status.LastReloadOK
}

// Status returns the policy's status.
func (e *Evaluator) Status() Status {
	e.state.mu.Lock()
	s := e.state.status
	e.state.mu.Unlock()
	s.CacheHits, s.CacheMisses = e.state.hits.Load(), e.state.misses.Load()
	if p := e.cur.Load(); p != nil {
		s.Engine, s.EngineNote = p.engine()
		s.EngineChecks, s.EngineMismatches = p.live.checks.Load(), p.live.mismatches.Load()
		s.EngineChecks = max(s.EngineChecks, s.EngineMismatches) // a check may land between the loads
	}
	return s
}
