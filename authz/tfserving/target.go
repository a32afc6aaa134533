package tfserving

// API names what a request asks TF Serving to do. The values are the strings
// policies see in input.target.api.
type API string

// The APIs of TF Serving, and the kinds of request that are not model calls.
const (
	Predict        API = "predict"
	Classify       API = "classify"
	Regress        API = "regress"
	MultiInference API = "multi_inference"
	ModelStatus    API = "model_status"
	ModelMetadata  API = "model_metadata"
	// ReloadConfig is ModelService/HandleReloadConfigRequest: it replaces
	// the whole served-model set. Admin only; no model.
	ReloadConfig API = "reload_config"
	// SessionRun is SessionService/SessionRun (not registered by the stock
	// server; bypasses signatures when it is). It carries a model.
	SessionRun API = "session_run"
	// Profiler is tensorflow.ProfilerService/*: no model.
	Profiler API = "profiler"
	// Health is grpc.health.v1.Health/* on TF Serving's gRPC port: no model.
	Health API = "health"
	// CORSPreflight is a REST OPTIONS request, answered by TF Serving
	// without touching any model.
	CORSPreflight API = "cors_preflight"
	// Invalid is a request TF Serving routes to its API but rejects without
	// serving a model (GET /v1/models, ":PREDICT", PUT, a version that
	// overflows int64...).
	Invalid API = "invalid"
	// Unknown is anything outside TF Serving's API.
	Unknown API = "unknown"
)

// DefaultSignature is the signature TF Serving uses when none is named.
const DefaultSignature = "serving_default"

// Target is one thing a request asks TF Serving for: the ModelSpec TF Serving
// will resolve, plus the API. Version and Label are a oneof, as in ModelSpec:
// at most one of HasVersion and HasLabel is true; neither means "the latest
// version" (or, for model_status, "all versions").
type Target struct {
	API        API
	Model      string
	Version    int64
	HasVersion bool
	Label      string
	HasLabel   bool
	// Signature is the signature_name TF Serving will use; empty when the
	// request does not say (REST without a buffered body).
	Signature string
	// Method is a MultiInference task's method_name; empty otherwise.
	Method string
	// Call names the gRPC method or REST shape, for logs:
	// "PredictionService/Predict", "POST :predict", "GET status".
	Call string
}
