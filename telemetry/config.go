package telemetry

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Protocols of Config.Protocol, named as OTEL_EXPORTER_OTLP_PROTOCOL names them.
const (
	ProtocolGRPC = "grpc"
	ProtocolHTTP = "http/protobuf"
)

// Config configures tracing. A field left zero takes the standard OTEL_*
// environment variable, then the default.
type Config struct {
	// Enabled turns tracing on. OTEL_SDK_DISABLED=true turns it off
	// regardless. default: false.
	Enabled bool
	// Protocol is the OTLP transport, "grpc" or "http/protobuf".
	// default: OTEL_EXPORTER_OTLP_TRACES_PROTOCOL, OTEL_EXPORTER_OTLP_PROTOCOL, "grpc".
	Protocol string
	// Endpoint is the collector's URL, e.g. http://otel-collector:4317 (an
	// http:// URL means no TLS). For http/protobuf a URL without a path
	// gets /v1/traces, as OTEL_EXPORTER_OTLP_ENDPOINT does. default: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT,
	// OTEL_EXPORTER_OTLP_ENDPOINT, then the exporter's default
	// (localhost:4317 for gRPC, localhost:4318 for HTTP).
	Endpoint string
	// SampleRatio is the share of new traces (no sampled parent) that are
	// recorded; a parent's decision is always followed (parent-based).
	// nil: OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG, else 1
	// (parent-based always-on).
	SampleRatio *float64
	// ServiceName names this service. default: OTEL_SERVICE_NAME, "tfgate".
	ServiceName string
	// Version is the service.version resource attribute.
	Version string
}

// protocol resolves Protocol.
func (c Config) protocol() (string, error) {
	p := c.Protocol
	for _, env := range []string{"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"} {
		if p == "" {
			p = os.Getenv(env)
		}
	}
	switch p {
	case "", ProtocolGRPC:
		return ProtocolGRPC, nil
	case ProtocolHTTP:
		return ProtocolHTTP, nil
	}
	return "", fmt.Errorf("telemetry: protocol %q is not one of grpc, http/protobuf", p)
}

// enabled is Enabled unless OTEL_SDK_DISABLED says otherwise.
func (c Config) enabled() bool {
	if v, err := strconv.ParseBool(strings.TrimSpace(os.Getenv("OTEL_SDK_DISABLED"))); err == nil && v {
		return false
	}
	return c.Enabled
}

// Validate reports a field that cannot work.
func (c Config) Validate() error {
	if _, err := c.protocol(); err != nil {
		return err
	}
	if r := c.SampleRatio; r != nil && (*r < 0 || *r > 1) {
		return fmt.Errorf("telemetry: sample ratio %v is not between 0 and 1", *r)
	}
	if c.Endpoint != "" && !strings.HasPrefix(c.Endpoint, "http://") && !strings.HasPrefix(c.Endpoint, "https://") {
		return fmt.Errorf("telemetry: endpoint %q is not an http:// or https:// URL", c.Endpoint)
	}
	return nil
}
