package tfserving

import "errors"

// Sentinel errors. Each means "deny this request as malformed"; the caller
// turns any of them into a 400. Parse wraps them with context.
var (
	// ErrPartialBody means Envoy buffered only part of the body
	// (x-envoy-auth-partial-body: true), so the ModelSpec may be elsewhere.
	ErrPartialBody = errors.New("tfserving: partial request body")
	// ErrNoBody means a gRPC method that carries a ModelSpec arrived without
	// a buffered body (body buffering is not configured for the route).
	ErrNoBody = errors.New("tfserving: no request body")
	// ErrTruncated means the body is shorter than its gRPC frame says.
	ErrTruncated = errors.New("tfserving: truncated gRPC frame")
	// ErrTrailingBytes means bytes follow the one message of a unary call.
	ErrTrailingBytes = errors.New("tfserving: bytes after the gRPC message")
	// ErrCompressed means a compressed gRPC frame without a grpc-encoding
	// naming how (none or "identity"), which gRPC servers refuse.
	ErrCompressed = errors.New("tfserving: compressed gRPC message without a grpc-encoding")
	// ErrUnsupportedEncoding means a compression other than gzip or
	// deflate, which TF Serving does not decompress either.
	ErrUnsupportedEncoding = errors.New("tfserving: unsupported compression")
	// ErrInflateLimit means a compressed body that inflates past
	// MaxInflatedBytes or MaxInflateRatio: a decompression bomb.
	ErrInflateLimit = errors.New("tfserving: compressed body inflates past the limits")
	// ErrMalformedCompression means compressed data that does not
	// decompress, or bytes after the compressed stream.
	ErrMalformedCompression = errors.New("tfserving: malformed compressed data")
	// ErrMalformedFrame means a gRPC frame flag other than 0 or 1.
	ErrMalformedFrame = errors.New("tfserving: malformed gRPC frame")
	// ErrMalformedMessage means protobuf bytes TF Serving would fail to
	// parse, including invalid UTF-8 in a string field.
	ErrMalformedMessage = errors.New("tfserving: malformed protobuf message")
	// ErrNoModelSpec means the request message has no model_spec.
	ErrNoModelSpec = errors.New("tfserving: no model_spec")
	// ErrEmptyModel means a model_spec whose name is empty.
	ErrEmptyModel = errors.New("tfserving: empty model name")
	// ErrMultiInferenceMismatch means a MultiInference request with no
	// tasks, or tasks that do not all name the same model.
	ErrMultiInferenceMismatch = errors.New("tfserving: multi-inference tasks do not name one model")
	// ErrMalformedJSON means a REST body that is not one JSON object as TF
	// Serving parses it, nests deeper than 1024 levels, or has a top-level
	// "signature_name" that is not a UTF-8 string or is given twice.
	ErrMalformedJSON = errors.New("tfserving: malformed JSON body")
	// ErrTooLarge means a request past the parser's work limits (ModelSpec
	// bytes, MultiInference tasks), far beyond real clients.
	ErrTooLarge = errors.New("tfserving: request exceeds parser limits")
)
