// Package telemetry is tfgate's OpenTelemetry adapter: it sets up the
// tracer provider and its OTLP exporter from configuration and the standard
// OTEL_* environment variables, continues the trace Envoy propagates (W3C
// traceparent/tracestate, and B3 in its single and multi-header forms), and
// traces a Check, its stages, and the SAML and token endpoints.
//
// Tracing is off unless configured. Off, New returns a nil *Tracer and the
// callers keep a nil hook: the Check path then pays a nil check per stage
// and allocates nothing.
//
// Spans never carry a token, cookie, e-mail address or group list: only the
// outcome, the denial kind, the TF Serving target (api, model, version or
// label), the policy revision, the decision id and Envoy's x-request-id.
package telemetry
