package telemetry

import (
	"context"
	"fmt"
	"net/url"
	"os"

	"go.opentelemetry.io/contrib/propagators/b3"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// instrumentation names tfgate's tracer.
const instrumentation = "github.com/tfgate/tfgate"

// Tracer creates tfgate's spans. A nil *Tracer is tracing off; callers keep
// it out of their hooks rather than calling it.
type Tracer struct {
	tp     *sdktrace.TracerProvider
	tracer trace.Tracer
	prop   propagation.TextMapPropagator
}

// New returns the Tracer cfg describes, or nil (and no error) when tracing
// is off. Spans are batched and exported over OTLP; Shutdown flushes them.
func New(ctx context.Context, cfg Config) (*Tracer, error) {
	if !cfg.enabled() {
		return nil, nil
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	exp, err := newExporter(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return NewWithExporter(ctx, cfg, exp)
}

// NewWithExporter is New with the span exporter given, for tests and for
// exporters other than OTLP. It ignores Enabled.
func NewWithExporter(ctx context.Context, cfg Config, exp sdktrace.SpanExporter) (*Tracer, error) {
	res, err := newResource(ctx, cfg)
	if err != nil {
		return nil, err
	}
	opts := []sdktrace.TracerProviderOption{sdktrace.WithBatcher(exp), sdktrace.WithResource(res)}
	if cfg.SampleRatio != nil {
		opts = append(opts, sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(*cfg.SampleRatio))))
	}
	// Without WithSampler the SDK reads OTEL_TRACES_SAMPLER(_ARG), and its
	// default is parent-based always-on.
	tp := sdktrace.NewTracerProvider(opts...)
	return &Tracer{tp: tp, tracer: tp.Tracer(instrumentation), prop: Propagator()}, nil
}

// Propagator extracts and injects W3C trace context and B3. B3 is read in
// both forms Envoy's Zipkin tracer may send (x-b3-* headers, or one "b3"
// header); W3C traceparent, when present too, wins.
func Propagator() propagation.TextMapPropagator {
	return propagation.NewCompositeTextMapPropagator(
		b3.New(b3.WithInjectEncoding(b3.B3MultipleHeader)),
		propagation.TraceContext{},
	)
}

func newExporter(ctx context.Context, cfg Config) (sdktrace.SpanExporter, error) {
	proto, _ := cfg.protocol()
	var (
		exp sdktrace.SpanExporter
		err error
	)
	if proto == ProtocolHTTP {
		var opts []otlptracehttp.Option
		if cfg.Endpoint != "" {
			opts = append(opts, otlptracehttp.WithEndpointURL(httpTracesURL(cfg.Endpoint)))
		}
		exp, err = otlptracehttp.New(ctx, opts...)
	} else {
		var opts []otlptracegrpc.Option
		if cfg.Endpoint != "" {
			opts = append(opts, otlptracegrpc.WithEndpointURL(cfg.Endpoint))
		}
		exp, err = otlptracegrpc.New(ctx, opts...)
	}
	if err != nil {
		return nil, fmt.Errorf("telemetry: OTLP %s exporter: %w", proto, err)
	}
	return exp, nil
}

// httpTracesURL treats an endpoint without a path as the collector's base
// URL, as OTEL_EXPORTER_OTLP_ENDPOINT is, and adds the traces path.
func httpTracesURL(endpoint string) string {
	u, err := url.Parse(endpoint)
	if err != nil || (u.Path != "" && u.Path != "/") {
		return endpoint
	}
	u.Path = "/v1/traces"
	return u.String()
}

func newResource(ctx context.Context, cfg Config) (*resource.Resource, error) {
	name := cfg.ServiceName
	if name == "" && os.Getenv("OTEL_SERVICE_NAME") == "" {
		name = "tfgate"
	}
	attrs := []attribute.KeyValue{attribute.String("service.version", cfg.Version)}
	if name != "" {
		attrs = append(attrs, attribute.String("service.name", name))
	}
	// Later detectors win: OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES
	// override the defaults, but not a service name set in the config.
	opts := []resource.Option{resource.WithTelemetrySDK(), resource.WithAttributes(attrs...), resource.WithFromEnv()}
	if cfg.ServiceName != "" {
		opts = append(opts, resource.WithAttributes(attribute.String("service.name", cfg.ServiceName)))
	}
	res, err := resource.New(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("telemetry: resource: %w", err)
	}
	return res, nil
}

// Shutdown exports what is buffered and stops the exporter.
func (t *Tracer) Shutdown(ctx context.Context) error {
	if t == nil {
		return nil
	}
	return t.tp.Shutdown(ctx)
}

// ForceFlush exports what is buffered now.
func (t *Tracer) ForceFlush(ctx context.Context) error {
	if t == nil {
		return nil
	}
	return t.tp.ForceFlush(ctx)
}
