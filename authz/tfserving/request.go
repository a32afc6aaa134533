package tfserving

// Request is what the parser needs of the HTTP request Envoy asked about.
type Request struct {
	// Method is the HTTP method.
	Method string
	// Path is Envoy's raw ":path", including any query, not decoded.
	Path string
	// GRPC is true for gRPC calls (content-type application/grpc...).
	GRPC bool
	// Body is the buffered body as Envoy sent it in raw_body; for gRPC the
	// length-prefixed message. Nil when Envoy buffered no body.
	Body []byte
	// PartialBody is true when Envoy said x-envoy-auth-partial-body: true.
	PartialBody bool
	// Encoding is how Body is compressed: for gRPC the grpc-encoding
	// header (used when the frame's compressed flag is set), for REST the
	// Content-Encoding header. Empty means not compressed.
	Encoding string
}
