package authz

import (
	"context"
	"log/slog"
	"sync/atomic"
)

// Directions of a disagreement between the live and a candidate policy.
const (
	AllowToDeny = "allow_to_deny"
	DenyToAllow = "deny_to_allow"
)

// ShadowConfig configures a Shadow.
type ShadowConfig struct {
	// Candidate is the policy under evaluation. Required.
	Candidate Policy
	// QueueSize bounds the decisions waiting for the candidate; when the
	// queue is full a decision is dropped (and counted), never waited for.
	// default: DefaultShadowQueue (1024)
	QueueSize int
	// Log receives one line per disagreement; default: slog.Default().
	Log *slog.Logger
}

// DefaultShadowQueue is the default ShadowConfig.QueueSize.
const DefaultShadowQueue = 1024

// Shadow evaluates a candidate policy on every decision the live policy
// made, off the request's critical path: Observe only queues the decision
// record (or drops it when the queue is full), and Run re-decides it with
// Redecide, the rules `extauthz policy replay` uses, so shadow mode and a
// replay of the same traffic report the same flips. The candidate never
// changes an answer. Each disagreement is logged with both verdicts, both
// reasons and the decision id, and counted by direction.
type Shadow struct {
	candidate Policy
	queue     chan DecisionRecord
	log       *slog.Logger

	evaluated, dropped, errors, allowToDeny, denyToAllow atomic.Uint64
}

// NewShadow returns a Shadow; call Run to start evaluating.
func NewShadow(cfg ShadowConfig) *Shadow {
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = DefaultShadowQueue
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	return &Shadow{candidate: cfg.Candidate, queue: make(chan DecisionRecord, cfg.QueueSize), log: cfg.Log}
}

// Observe queues a decision for the candidate without ever blocking.
// Decisions the live policy did not make are ignored.
func (s *Shadow) Observe(rec DecisionRecord) {
	if !rec.PolicyDecided() {
		return
	}
	select {
	case s.queue <- rec:
	default:
		s.dropped.Add(1)
	}
}

// Run evaluates queued decisions until ctx is done; it returns nil.
func (s *Shadow) Run(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case rec := <-s.queue:
			s.compare(ctx, &rec)
		}
	}
}

func (s *Shadow) compare(ctx context.Context, rec *DecisionRecord) {
	v, err := Redecide(ctx, s.candidate, rec)
	s.evaluated.Add(1)
	if err != nil {
		if ctx.Err() == nil {
			s.errors.Add(1)
			s.log.Warn("shadow policy could not decide", "decision_id", rec.DecisionID, "err", err)
		}
		return
	}
	if v.Allow == rec.Allow {
		return
	}
	dir := AllowToDeny
	if v.Allow {
		dir = DenyToAllow
		s.denyToAllow.Add(1)
	} else {
		s.allowToDeny.Add(1)
	}
	s.log.Info("shadow policy disagrees", "decision_id", rec.DecisionID, "direction", dir,
		"live_allow", rec.Allow, "live_reason", rec.Reason, "live_revision", rec.PolicyRevision,
		"shadow_allow", v.Allow, "shadow_reason", v.Reason, "shadow_revision", v.PolicyRevision,
		"subject", rec.Subject, "method", rec.Method, "path", rec.Path)
}

// ShadowStats counts what a Shadow did.
type ShadowStats struct {
	Evaluated, Dropped, Errors uint64
	AllowToDeny, DenyToAllow   uint64
}

// Stats returns the counters so far.
func (s *Shadow) Stats() ShadowStats {
	return ShadowStats{
		Evaluated: s.evaluated.Load(), Dropped: s.dropped.Load(), Errors: s.errors.Load(),
		AllowToDeny: s.allowToDeny.Load(), DenyToAllow: s.denyToAllow.Load(),
	}
}
