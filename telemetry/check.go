package telemetry

import (
	"context"
	"net/http"
	"net/textproto"
	"strconv"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc/metadata"

	"github.com/tfgate/tfgate/authz"
	"github.com/tfgate/tfgate/authz/tfserving"
)

// Interface guards.
var (
	_ authz.CheckTracer = (*Tracer)(nil)
	_ authz.Tracer      = (*Tracer)(nil)
)

// Attribute keys. None of them carries a credential or personal data.
const (
	attrOutcome    = attribute.Key("tfgate.outcome")
	attrDenial     = attribute.Key("tfgate.denial")
	attrDecisionID = attribute.Key("tfgate.decision_id")
	attrRevision   = attribute.Key("tfgate.policy_revision")
	attrAPI        = attribute.Key("tfgate.api")
	attrModel      = attribute.Key("tfgate.model")
	attrVersion    = attribute.Key("tfgate.version")
	attrLabel      = attribute.Key("tfgate.label")
	attrTargets    = attribute.Key("tfgate.targets")
	attrAuth       = attribute.Key("tfgate.auth")
	attrProtocol   = attribute.Key("tfgate.protocol")
	attrRequestID  = attribute.Key("tfgate.request_id")
	attrMethod     = attribute.Key("http.request.method")
	attrFound      = attribute.Key("tfgate.session.found")
	attrSource     = attribute.Key("tfgate.session.source")
	attrCached     = attribute.Key("tfgate.policy.cached")
)

// StartCheck starts the span of one Check. Its parent is the trace context
// Envoy sent: the gRPC metadata of the Check call (where Envoy puts its own
// ext_authz span) if it has one, else the headers of the request being
// checked (the downstream client's trace).
func (t *Tracer) StartCheck(ctx context.Context, r *authz.Request) (context.Context, authz.CheckSpan) {
	// Extract only what is there: most Checks of an untraced deployment
	// carry no trace context, and the propagators allocate.
	parent := ctx
	if h := headerCarrier(r.Header); hasTraceContext(h) {
		parent = t.prop.Extract(ctx, h)
	}
	if md := (mdCarrier{ctx}); hasTraceContext(md) {
		if sc := trace.SpanContextFromContext(t.prop.Extract(context.Background(), md)); sc.IsValid() {
			parent = trace.ContextWithRemoteSpanContext(ctx, sc)
		}
	}
	ctx, span := t.tracer.Start(parent, "tfgate.Check", serverKind...)
	// Attributes only for sampled spans: the others are never exported.
	if span.IsRecording() {
		protocol := authz.ProtocolREST
		if r.GRPC {
			protocol = authz.ProtocolGRPC
		}
		span.SetAttributes(attrMethod.String(r.Method), attrProtocol.String(protocol))
		if id := r.Header.Get("X-Request-Id"); id != "" {
			span.SetAttributes(attrRequestID.String(id))
		}
	}
	return ctx, &checkSpan{span: span}
}

// serverKind is the Check span's start option, made once.
var serverKind = []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindServer)}

type checkSpan struct{ span trace.Span }

// End implements authz.CheckSpan.
func (c *checkSpan) End(d *authz.Decision, err error) {
	defer c.span.End()
	if !c.span.IsRecording() {
		return
	}
	if err != nil {
		c.span.SetAttributes(attrOutcome.String("error"))
		// The error names the failing part (Redis, the policy), never
		// input or a credential.
		c.span.SetStatus(codes.Error, err.Error())
		return
	}
	// Not the reason: policies write it for the caller and may name the
	// caller's groups.
	attrs := []attribute.KeyValue{attrDecisionID.String(d.ID)}
	if d.Allow {
		attrs = append(attrs, attrOutcome.String("allow"))
	} else {
		attrs = append(attrs, attrOutcome.String("deny"), attrDenial.String(DenialName(d.Denial)))
	}
	if d.PolicyRevision != "" {
		attrs = append(attrs, attrRevision.String(d.PolicyRevision))
	}
	if d.Subject != nil {
		attrs = append(attrs, attrAuth.String(d.Subject.Auth))
	}
	attrs = append(attrs, attrTargets.Int(len(d.Targets)))
	if len(d.Targets) > 0 {
		attrs = append(attrs, targetAttrs(d.Targets[0])...)
	}
	c.span.SetAttributes(attrs...)
}

// TraceID implements authz.CheckSpan.
func (c *checkSpan) TraceID() (string, bool) {
	sc := c.span.SpanContext()
	if !sc.HasTraceID() {
		return "", false
	}
	return sc.TraceID().String(), sc.IsSampled()
}

func targetAttrs(t tfserving.Target) []attribute.KeyValue {
	attrs := []attribute.KeyValue{attrAPI.String(string(t.API))}
	if t.Model != "" {
		attrs = append(attrs, attrModel.String(t.Model))
	}
	switch {
	case t.HasVersion:
		attrs = append(attrs, attrVersion.String(strconv.FormatInt(t.Version, 10)))
	case t.HasLabel:
		attrs = append(attrs, attrLabel.String(t.Label))
	}
	return attrs
}

// DenialName names a denial kind as metrics and spans do.
func DenialName(d authz.Denial) string {
	switch d {
	case authz.DenyUnauthenticated:
		return "unauthenticated"
	case authz.DenyForbidden:
		return "forbidden"
	case authz.DenyBadRequest:
		return "bad_request"
	}
	return ""
}

// StartStage implements authz.Tracer: a child span per stage.
//
// A Check that is not sampled gets no stage spans at all: they would not be
// sampled either (parent-based sampling), and skipping them keeps the
// unsampled 99% of Checks nearly as cheap as with tracing off.
func (t *Tracer) StartStage(ctx context.Context, stage authz.Stage) (context.Context, authz.StageEnd) {
	if !trace.SpanFromContext(ctx).IsRecording() {
		return ctx, nil
	}
	ctx, span := t.tracer.Start(ctx, stage.String())
	var note *sessionNote
	if stage == authz.StageSession && span.IsRecording() {
		note = &sessionNote{}
		ctx = context.WithValue(ctx, sessionNoteKey{}, note)
	}
	return ctx, func(r authz.StageResult) {
		defer span.End()
		if !span.IsRecording() {
			return
		}
		switch stage {
		case authz.StageSession:
			span.SetAttributes(attrFound.Bool(r.Found), attrSource.String(note.source()))
		case authz.StagePolicy:
			span.SetAttributes(attrCached.Bool(r.Cached))
		}
		if r.Err != nil {
			span.SetStatus(codes.Error, r.Err.Error())
		}
	}
}

// hasTraceContext reports whether c carries W3C or B3 trace context.
func hasTraceContext(c interface{ Get(string) string }) bool {
	return c.Get("traceparent") != "" || c.Get("b3") != "" || c.Get("x-b3-traceid") != ""
}

// mdCarrier reads the incoming gRPC metadata of a Check call as a
// propagation carrier, one key at a time (the whole metadata is not
// copied). It is read-only.
type mdCarrier struct{ ctx context.Context }

func (m mdCarrier) Get(key string) string {
	if v := metadata.ValueFromIncomingContext(m.ctx, key); len(v) > 0 {
		return v[0]
	}
	return ""
}

func (m mdCarrier) Set(string, string) {}

func (m mdCarrier) Keys() []string { return nil }

// headerCarrier reads the checked request's headers. The propagators ask
// for lowercase keys; the canonical forms of theirs are looked up here
// rather than built (and allocated) by http.Header.Get on every Check.
type headerCarrier http.Header

var canonicalKeys = map[string]string{
	"traceparent": "Traceparent", "tracestate": "Tracestate", "b3": "B3",
	"x-b3-traceid": "X-B3-Traceid", "x-b3-spanid": "X-B3-Spanid", "x-b3-parentspanid": "X-B3-Parentspanid",
	"x-b3-sampled": "X-B3-Sampled", "x-b3-flags": "X-B3-Flags",
}

func (h headerCarrier) Get(key string) string {
	ck, ok := canonicalKeys[key]
	if !ok {
		ck = textproto.CanonicalMIMEHeaderKey(key)
	}
	if v := h[ck]; len(v) > 0 {
		return v[0]
	}
	return ""
}

func (h headerCarrier) Set(string, string) {}

func (h headerCarrier) Keys() []string { return nil }
