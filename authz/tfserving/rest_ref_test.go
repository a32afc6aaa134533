package tfserving

import (
	"math/rand/v2"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

// The reference: TF Serving's expressions, verbatim from
// http_rest_api_util.cc and http_rest_api_handler.cc, anchored to get RE2's
// FullMatch. Go's regexp has RE2's syntax, leftmost-first submatch
// semantics and (?i) Unicode simple folding, so on valid UTF-8 it is a
// faithful stand-in for the C++ server's RE2.
var (
	refPathRE    = regexp.MustCompile(`^(?:(?i)/v1/.*)$`)
	refPredictRE = regexp.MustCompile(`^(?:(?i)/v1/models/([^/:]+)(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?:(classify|regress|predict))$`)
	refStatusRE  = regexp.MustCompile(`^(?:(?i)/v1/models(?:/([^/:]+))?(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?(?:\/(metadata))?)$`)
)

// refParseREST is TF Serving's dispatch (ParseModelInfo and ProcessRequest)
// written with the reference regexes. Call and Signature are not compared.
func refParseREST(method, path string) Target {
	if !refPathRE.MatchString(path) {
		return Target{API: Unknown}
	}
	if method == "OPTIONS" {
		return Target{API: CORSPreflight}
	}
	var m []string
	switch method {
	case "POST":
		m = refPredictRE.FindStringSubmatch(path)
	case "GET":
		m = refStatusRE.FindStringSubmatch(path)
	}
	if m == nil {
		return Target{API: Invalid}
	}
	t := Target{Model: refCurlUnescape(m[1])}
	if m[2] != "" {
		v, err := strconv.ParseInt(m[2], 10, 64) // absl::SimpleAtoi
		if err != nil {
			return Target{API: Invalid}
		}
		t.Version, t.HasVersion = v, true
	}
	if m[3] != "" {
		t.Label, t.HasLabel = refCurlUnescape(m[3]), true
	}
	switch {
	case method == "POST" && m[4] == "predict":
		t.API = Predict
	case method == "POST" && m[4] == "classify":
		t.API = Classify
	case method == "POST" && m[4] == "regress":
		t.API = Regress
	case method == "POST":
		return Target{API: Invalid} // matched, but not the exact verb
	case t.Model == "":
		return Target{API: Invalid} // "Missing model name in request."
	case m[4] == "metadata":
		t.API = ModelMetadata
	default:
		t.API = ModelStatus
		t.Label, t.HasLabel = "", false
	}
	// tfgate's one deliberate deviation: no model or label can be named by
	// invalid UTF-8, so such requests are denied as Invalid.
	if !utf8.ValidString(t.Model) || !utf8.ValidString(t.Label) {
		return Target{API: Invalid}
	}
	return t
}

// refCurlUnescape is curl's Curl_urldecode loop, transcribed.
func refCurlUnescape(s string) string {
	var out []byte
	alloc := len(s) + 1
	for i := 0; ; {
		if alloc--; alloc <= 0 {
			break
		}
		in := s[i]
		if in == '%' && alloc > 2 && isHexRef(s[i+1]) && isHexRef(s[i+2]) {
			v, _ := strconv.ParseUint(s[i+1:i+3], 16, 8)
			in = byte(v)
			i += 3
			alloc -= 2
		} else {
			i++
		}
		out = append(out, in)
	}
	return string(out)
}

func isHexRef(c byte) bool { return strings.IndexByte("0123456789abcdefABCDEF", c) >= 0 }

// compareREST checks parseREST against the reference for one request.
func compareREST(tb testing.TB, method, path string) {
	tb.Helper()
	got, err := Parse(Request{Method: method, Path: path})
	checkInvariants(tb, got, err)
	if err != nil || len(got) != 1 {
		tb.Fatalf("Parse(%s %q) = %+v, %v; want one target", method, path, got, err)
	}
	g := got[0]
	g.Call, g.Signature = "", ""
	if !utf8.ValidString(path) {
		// RE2's handling of invalid UTF-8 differs from Go's; tfgate fails
		// closed on it, which is all that is checked here.
		if g.API != Invalid && g.API != Unknown {
			tb.Fatalf("Parse(%s %q) = %+v on invalid UTF-8", method, path, g)
		}
		return
	}
	if want := refParseREST(method, path); g != want {
		tb.Fatalf("Parse(%s %q)\n got %+v\nwant %+v", method, path, g, want)
	}
}

// restPieces are the fragments random paths are built from: every literal
// of the expressions in several cases, the folding runes, separators,
// digits, percent escapes and characters that matter to the name class.
var restPieces = []string{
	"/", "/", "/", "v1", "V1", "v1/", "/v1/", "/V1/", "models", "MODELS", "Model\u017f", "model", "/v1/models/", "/v1/models",
	"versions", "VERSIONS", "ver\u017fions", "labels", "LABELS", "label\u017f", "metadata", "METADATA", "Metadata",
	"/versions/", "/labels/", "/metadata", ":", ":", "predict", "PREDICT", "classify", "regress", "regre\u017f\u017f",
	":predict", ":classify", ":regress", "0", "7", "007", "123", "9223372036854775807", "9223372036854775808",
	"m", "resnet", "x", "%", "%2F", "%2f", "%3A", "%6E", "%4", "%zz", "%FF", "%C3%A9", "+", "?", "?a=b", "#", "&",
	"\u017f", "\u212a", "\u00e9", "\n", "\r", " ", "\x00", "\xff", "\xc5", ".", "..",
}

var restMethods = []string{"GET", "GET", "GET", "POST", "POST", "POST", "OPTIONS", "PUT", "HEAD", "get"}

func pick(r *rand.Rand, xs ...string) string { return xs[r.IntN(len(xs))] }

// randomRESTPath builds a path from the shape of the expressions (so that
// many paths match), then perturbs it with random pieces.
func randomRESTPath(r *rand.Rand) string {
	var b strings.Builder
	b.WriteString(pick(r, "/v1/models", "/v1/models", "/V1/MODELS", "/v1/Model\u017f", "/v1/model", "/v1/", "/v2/models", ""))
	names := []string{"m", "m", "m", "resnet", "res%6Eet", "a?b=c", "labels", "versions", "metadata", "", "%2F", "\u017f", "x:y", "a%FF", "m#f", "%"}
	if r.IntN(5) > 0 {
		b.WriteString("/" + pick(r, names...))
	}
	switch r.IntN(3) {
	case 0:
		b.WriteString(pick(r, "/versions/", "/VERSIONS/", "/ver\u017fions/", "/version/") + pick(r, "1", "007", "", "x", "9223372036854775807", "9223372036854775808", "12a"))
	case 1:
		b.WriteString(pick(r, "/labels/", "/Labels/", "/label\u017f/", "/label/") + pick(r, names...))
	}
	switch r.IntN(3) {
	case 0:
		b.WriteString(pick(r, ":", ":", ":", "/", "") + pick(r, "predict", "predict", "classify", "regress", "PREDICT", "Predict", "regre\u017f\u017f", "explain"))
	case 1:
		b.WriteString(pick(r, "/metadata", "/METADATA", "/metadata/", "metadata"))
	}
	out := b.String()
	for n := r.IntN(3); n > 0 && r.IntN(3) == 0; n-- {
		i := r.IntN(len(out) + 1)
		out = out[:i] + restPieces[r.IntN(len(restPieces))] + out[i:]
	}
	return out
}

// TestRESTMatchesReference is a deterministic differential run over many
// structured random paths; FuzzRESTDifferential explores further.
func TestRESTMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	n := 200_000
	if testing.Short() {
		n = 20_000
	}
	for i := 0; i < n; i++ {
		compareREST(t, restMethods[r.IntN(len(restMethods))], randomRESTPath(r))
	}
}

func TestRefCurlUnescape(t *testing.T) {
	for in, want := range map[string]string{
		"": "", "a": "a", "%41": "A", "%4": "%4", "%": "%", "a%": "a%", "%%41": "%A",
		"%zz": "%zz", "%2f%2F": "//", "+": "+", "%e9": "\xe9", "%41%": "A%", "a%4g": "a%4g",
	} {
		if got := refCurlUnescape(in); got != want {
			t.Errorf("refCurlUnescape(%q) = %q, want %q", in, got, want)
		}
		if got := unescape(in); got != want {
			t.Errorf("unescape(%q) = %q, want %q", in, got, want)
		}
	}
}
