package tfserving

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Calls of REST targets, for logs.
const (
	callStatus   = "GET status"
	callMetadata = "GET metadata"
	callOptions  = "OPTIONS"
)

// restVerb maps the verb after ':' to its API. TF Serving's regex matches
// the verb case-insensitively but dispatches on it case-sensitively, so only
// these exact spellings are served.
func restVerb(verb string) (api API, call string, ok bool) {
	switch verb {
	case "predict":
		return Predict, "POST :predict", true
	case "classify":
		return Classify, "POST :classify", true
	case "regress":
		return Regress, "POST :regress", true
	}
	return "", "", false
}

// parseREST mirrors TF Serving's HTTP dispatch (tfserving-api.md §2.2).
func parseREST(r Request) ([]Target, error) {
	if !isRESTAPI(r.Path) {
		return one(Target{API: Unknown, Call: r.Method})
	}
	if !utf8.ValidString(r.Path) {
		// RE2 matches invalid UTF-8 its own way (it refuses most of it but
		// takes some overlong forms), which a byte scan would not copy.
		// Clients percent-encode such bytes, so deny rather than guess.
		return one(invalid(r))
	}
	switch r.Method {
	case "POST":
		return parsePost(r)
	case "GET":
		return one(parseGet(r))
	case "OPTIONS":
		return one(Target{API: CORSPreflight, Call: callOptions})
	}
	// HEAD, PUT, DELETE... and lower-case methods: 400 "Malformed request".
	return one(invalid(r))
}

func invalid(r Request) Target {
	return Target{API: Invalid, Call: r.Method}
}

// isRESTAPI reports whether TF Serving routes path to its REST handler: a
// full match of (?i)/v1/.* where '.' does not match a newline.
func isRESTAPI(path string) bool {
	_, ok := cutFold(path, "/v1/")
	return ok && strings.IndexByte(path, '\n') < 0
}

func parsePost(r Request) ([]Target, error) {
	m, ok := matchPost(r.Path)
	if !ok {
		return one(invalid(r))
	}
	api, call, ok := restVerb(m.verb)
	if !ok {
		return one(invalid(r)) // e.g. ":PREDICT": matched, then 400.
	}
	t, ok := m.target(api)
	if !ok {
		return one(invalid(r))
	}
	t.Call = call
	sig, err := bodySignature(r)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", call, err)
	}
	t.Signature = sig
	return one(t)
}

// bodySignature returns the signature of a REST predict/classify/regress
// call, or "" when Envoy buffered no body.
func bodySignature(r Request) (string, error) {
	if len(r.Body) == 0 {
		return "", nil
	}
	if r.PartialBody {
		return "", ErrPartialBody
	}
	body := r.Body
	if enc := strings.TrimSpace(r.Encoding); enc != "" && !strings.EqualFold(enc, "identity") {
		// TF Serving's HTTP server inflates a gzip request body.
		if !strings.EqualFold(enc, "gzip") {
			return "", fmt.Errorf("%w: Content-Encoding %q", ErrUnsupportedEncoding, enc)
		}
		var err error
		if body, err = inflate(enc, body); err != nil {
			return "", err
		}
	}
	return jsonSignature(body)
}

func parseGet(r Request) Target {
	m, ok := matchGet(r.Path)
	if !ok || m.name == "" {
		// No model name: 400 "Missing model name in request."
		return invalid(r)
	}
	if m.sub == "metadata" {
		t, ok := m.target(ModelMetadata)
		if !ok {
			return invalid(r)
		}
		t.Call = callMetadata
		return t
	}
	// Anything else, including "METADATA", is model status, which ignores
	// a label and lists all versions.
	m.label, m.hasLabel = "", false
	t, ok := m.target(ModelStatus)
	if !ok {
		return invalid(r)
	}
	t.Call = callStatus
	return t
}

// target builds the ModelSpec TF Serving fills from the URL. ok is false
// when TF Serving answers 400 instead (a version that overflows int64) or
// when a decoded name or label is not UTF-8.
func (m restMatch) target(api API) (Target, bool) {
	t := Target{API: api, Model: unescape(m.name)}
	if m.version != "" {
		v, ok := parseVersion(m.version)
		if !ok {
			return Target{}, false
		}
		t.Version, t.HasVersion = v, true
	}
	if m.hasLabel {
		t.Label, t.HasLabel = unescape(m.label), true
	}
	// Decoding can produce invalid UTF-8 (%FF). No configured model or
	// label can have such a name; deny rather than pass mangled strings to
	// the policy.
	if !utf8.ValidString(t.Model) || !utf8.ValidString(t.Label) {
		return Target{}, false
	}
	return t, true
}
