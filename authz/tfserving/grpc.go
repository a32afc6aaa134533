package tfserving

import (
	"encoding/binary"
	"fmt"
	"strings"
)

// grpcMethod is what a gRPC ":path" names.
type grpcMethod struct {
	api  API
	call string // for logs: "PredictionService/Predict"
	spec bool   // the request message carries a ModelSpec
}

// The service prefixes of §3.1. Method names are case-sensitive and the
// path is compared exactly: a query string makes it a path no server
// registers (UNIMPLEMENTED), so it is Unknown.
const (
	prefixServing  = "/tensorflow.serving."
	prefixProfiler = "/tensorflow.ProfilerService/"
	prefixHealth   = "/grpc.health.v1.Health/"
)

func lookupGRPC(path string) grpcMethod {
	switch path {
	case prefixServing + "PredictionService/Predict":
		return servingMethod(path, Predict, true)
	case prefixServing + "PredictionService/Classify":
		return servingMethod(path, Classify, true)
	case prefixServing + "PredictionService/Regress":
		return servingMethod(path, Regress, true)
	case prefixServing + "PredictionService/MultiInference":
		return servingMethod(path, MultiInference, true)
	case prefixServing + "PredictionService/GetModelMetadata":
		return servingMethod(path, ModelMetadata, true)
	case prefixServing + "ModelService/GetModelStatus":
		return servingMethod(path, ModelStatus, true)
	case prefixServing + "ModelService/HandleReloadConfigRequest":
		return servingMethod(path, ReloadConfig, false)
	case prefixServing + "SessionService/SessionRun":
		return servingMethod(path, SessionRun, true)
	}
	// Neither carries a model; every method of the service is classified,
	// so a policy can deny the whole service.
	if isServiceMethod(path, prefixProfiler) {
		return grpcMethod{api: Profiler, call: path[len("/tensorflow."):]}
	}
	if isServiceMethod(path, prefixHealth) {
		return grpcMethod{api: Health, call: path[len("/grpc.health.v1."):]}
	}
	return grpcMethod{api: Unknown}
}

func servingMethod(path string, api API, spec bool) grpcMethod {
	return grpcMethod{api: api, call: path[len(prefixServing):], spec: spec}
}

// isServiceMethod reports whether path is service + one method name.
func isServiceMethod(path, service string) bool {
	method, ok := strings.CutPrefix(path, service)
	return ok && method != "" && !strings.ContainsAny(method, "/?")
}

// parseGRPC reads the targets of a gRPC call (§3, §4).
func parseGRPC(r Request) ([]Target, error) {
	m := lookupGRPC(r.Path)
	if !m.spec {
		return one(Target{API: m.api, Call: m.call})
	}
	msg, err := grpcMessage(r)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", m.call, err)
	}
	var ts []Target
	if m.api == MultiInference {
		ts, err = multiInferenceTargets(msg)
	} else {
		ts, err = requestTargets(msg, m.api)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", m.call, err)
	}
	for i := range ts {
		ts[i].Call = m.call
	}
	return ts, nil
}

// grpcMessage returns the one protobuf message of a unary call's body: a
// Length-Prefixed-Message (flag byte, 4-byte big-endian length, message)
// that must fill the body exactly. It aliases the body; nothing is copied.
func grpcMessage(r Request) ([]byte, error) {
	// Checked first: Envoy's "false" is not trusted either, which is why
	// the frame length is checked below as well (envoy-ext-authz.md §1.4).
	if r.PartialBody {
		return nil, ErrPartialBody
	}
	b := r.Body
	if len(b) == 0 {
		return nil, ErrNoBody
	}
	if len(b) < 5 {
		return nil, fmt.Errorf("%w: %d bytes, want at least 5", ErrTruncated, len(b))
	}
	if b[0] > 1 {
		return nil, fmt.Errorf("%w: flag %d", ErrMalformedFrame, b[0])
	}
	want := 5 + uint64(binary.BigEndian.Uint32(b[1:5]))
	switch {
	case uint64(len(b)) < want:
		return nil, fmt.Errorf("%w: %d bytes, frame says %d", ErrTruncated, len(b), want)
	case uint64(len(b)) > want:
		return nil, fmt.Errorf("%w: %d bytes, frame says %d", ErrTrailingBytes, len(b), want)
	}
	if b[0] == 0 {
		return b[5:], nil // grpc-encoding names what the client may use; this one is plain
	}
	// Compressed with grpc-encoding, as TF Serving's gRPC server accepts:
	// inflated under hard limits (inflate.go).
	if enc := strings.TrimSpace(r.Encoding); enc == "" || strings.EqualFold(enc, "identity") {
		return nil, ErrCompressed
	}
	return inflate(r.Encoding, b[5:])
}
