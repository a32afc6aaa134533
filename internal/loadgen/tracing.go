package loadgen

import (
	"context"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/tfgate/tfgate/authz"
	"github.com/tfgate/tfgate/envoy"
	"github.com/tfgate/tfgate/telemetry"
)

// AllowMemoryTraced1 is AllowMemory with tracing on, sampling 1% of the
// (parentless) Checks: what turning tracing on costs at a production
// sampling rate. AllowMemory itself runs with tracing off, tfgate's
// default.
const AllowMemoryTraced1 = "allow-memory-traced-1pct"

// tracedRatio is the sampling ratio of each traced scenario.
var tracedRatio = map[string]float64{AllowMemoryTraced1: 0.01}

// NewTracedCheckServer is NewCheckServer with tracing on at ratio. Sampled
// spans go through the SDK's batching span processor to an exporter that
// drops them, so the figure is tfgate's cost and not a collector's on the
// same cores. close also shuts the tracer down.
func NewTracedCheckServer(ctx context.Context, store authz.SessionStore, ratio float64) (*envoy.Server, func(), error) {
	tracer, err := telemetry.NewWithExporter(ctx, telemetry.Config{SampleRatio: &ratio}, discardExporter{})
	if err != nil {
		return nil, nil, err
	}
	srv, _, closeSrv, err := newCheckServer(ctx, store, false, tracer)
	if err != nil {
		_ = tracer.Shutdown(ctx)
		return nil, nil, err
	}
	return srv, func() { closeSrv(); _ = tracer.Shutdown(context.Background()) }, nil
}

// discardExporter drops what it is given.
type discardExporter struct{}

func (discardExporter) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error { return nil }
func (discardExporter) Shutdown(context.Context) error                             { return nil }
