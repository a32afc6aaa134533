package tfservingstandin

import (
	"net/http"
	"slices"
	"sync"

	"github.com/tfgate/tfgate/internal/tfpb"
)

// API names used in Record.API.
const (
	APIREST = "rest"
	APIGRPC = "grpc"
)

// Record describes one request that reached the stand-in.
type Record struct {
	// API is APIREST or APIGRPC.
	API string
	// Method is the HTTP method (gRPC calls are POST).
	Method string
	// Path is the raw request target for REST (path and query, not
	// decoded) and the full method name for gRPC.
	Path string
	// Host is the Host header (REST) or :authority (gRPC).
	Host string
	// Header holds the request headers; for gRPC the metadata, with keys
	// in canonical form so Header.Get works the same for both APIs.
	Header http.Header
	// Verb is "predict", "classify", "regress", "multi_inference",
	// "metadata", "status", "reload_config", or "" when the request
	// matched no endpoint.
	Verb string
	// Spec is the ModelSpec the request asked for: built from the URL for
	// REST, decoded from the message for gRPC (tasks[0] for
	// MultiInference).
	Spec tfpb.ModelSpec
	// Served is the version that answered, or 0 when the request failed.
	Served int64
	// BodySize is the size of the REST body or of the gRPC message.
	BodySize int
	// Code is the HTTP status (REST) or gRPC status code (gRPC) returned.
	Code int
}

// Recorder keeps the Records of every request, safe for concurrent use.
// The zero value is ready to use.
type Recorder struct {
	mu   sync.Mutex
	recs []Record
}

// Requests returns a copy of the records so far, oldest first.
func (r *Recorder) Requests() []Record {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.recs)
}

// Reset forgets every record.
func (r *Recorder) Reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.recs = nil
}

// add appends one record.
func (r *Recorder) add(rec Record) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.recs = append(r.recs, rec)
}
