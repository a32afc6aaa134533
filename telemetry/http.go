package telemetry

import (
	"context"
	"net/http"
	"slices"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// Handler traces h: a server span per request, continuing the caller's
// trace, named "tfgate " and the path when the path is one of routes (the
// SAML ACS, /token, ...), else "tfgate " and name, so span names stay few.
// It records the path and status code; nothing of the body, query, cookies
// or form (SAMLResponse, tokens). A nil Tracer returns h unchanged.
func (t *Tracer) Handler(name string, routes []string, h http.Handler) http.Handler {
	if t == nil {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		spanName := "tfgate " + name
		if slices.Contains(routes, r.URL.Path) {
			spanName = "tfgate " + r.URL.Path
		}
		ctx := t.prop.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
		ctx, span := t.tracer.Start(ctx, spanName, trace.WithSpanKind(trace.SpanKindServer),
			trace.WithAttributes(attrMethod.String(r.Method), attribute.String("url.path", r.URL.Path)))
		defer span.End()
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		h.ServeHTTP(sw, r.WithContext(ctx))
		span.SetAttributes(attribute.Int("http.response.status_code", sw.code))
		if sw.code >= 500 {
			span.SetStatus(codes.Error, http.StatusText(sw.code))
		}
	})
}

// statusWriter remembers the status code written.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	w.code = code
	w.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the real writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// MetadataRefresh records one IdP metadata refresh, which started at
// started, as a span of its own trace. A nil Tracer does nothing.
func (t *Tracer) MetadataRefresh(idp string, started time.Time, err error) {
	t.metadataSpan("tfgate.idp_metadata_refresh", idp, started, err)
}

// MetadataLoad records the initial load of an IdP's metadata at startup
// (from its file, URL or cache file), which started at started, as a span
// of its own trace. A nil Tracer does nothing.
func (t *Tracer) MetadataLoad(idp string, started time.Time, err error) {
	t.metadataSpan("tfgate.idp_metadata_load", idp, started, err)
}

func (t *Tracer) metadataSpan(name, idp string, started time.Time, err error) {
	if t == nil {
		return
	}
	_, span := t.tracer.Start(context.Background(), name,
		trace.WithTimestamp(started), trace.WithAttributes(attribute.String("tfgate.idp", idp)))
	if err != nil {
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}
