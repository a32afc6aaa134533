package authz

import "context"

// Stage names a step of the Check pipeline, for tracing.
type Stage uint8

// The stages of a Check, in order.
const (
	// StageParse works out the TF Serving target of the request.
	StageParse Stage = iota
	// StageSession finds the caller's session.
	StageSession
	// StagePolicy asks the policy about one target.
	StagePolicy
)

// String names the stage as its span is named.
func (s Stage) String() string {
	switch s {
	case StageParse:
		return "tfgate.parse_target"
	case StageSession:
		return "tfgate.session_lookup"
	case StagePolicy:
		return "tfgate.policy_evaluate"
	}
	return "tfgate.stage"
}

// Tracer traces the stages of a Check. It is optional: an Authorizer without
// one pays a nil check per stage and allocates nothing, which is what
// "tracing off costs nothing" rests on.
type Tracer interface {
	// StartStage starts a span for stage, a child of ctx's span, and
	// returns the context for the stage's work and the function that ends
	// the span.
	StartStage(ctx context.Context, stage Stage) (context.Context, StageEnd)
}

// StageEnd ends a stage's span with what the stage found. A nil StageEnd
// (no tracer) does nothing.
type StageEnd func(StageResult)

// End ends the span, if there is one.
func (e StageEnd) End(r StageResult) {
	if e != nil {
		e(r)
	}
}

// StageResult is what a stage's span records. It never carries a token,
// cookie, e-mail or group.
type StageResult struct {
	// Err is the stage's error, if it failed.
	Err error
	// Found: the session stage found a session.
	Found bool
	// Cached: the policy stage's verdict came from the decision cache.
	Cached bool
}

// stage starts a traced stage when a Tracer is configured.
func (a *Authorizer) stage(ctx context.Context, s Stage) (context.Context, StageEnd) {
	if a.tracer == nil {
		return ctx, nil
	}
	return a.tracer.StartStage(ctx, s)
}

// CheckTracer starts the span of a whole Check, continuing the trace the
// caller propagated in r's headers. The edge (package envoy) calls it; nil
// means tracing off.
type CheckTracer interface {
	StartCheck(ctx context.Context, r *Request) (context.Context, CheckSpan)
}

// CheckSpan is one Check's span.
type CheckSpan interface {
	// End records the Check's outcome (d, or err when it could not
	// decide) and ends the span.
	End(d *Decision, err error)
	// TraceID is the span's trace id in hex, and whether it is sampled
	// (exported).
	TraceID() (id string, sampled bool)
}
