package tfservingstandin

import (
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"

	"google.golang.org/grpc/codes"

	"github.com/tfgate/tfgate/internal/tfpb"
)

// The REST regexes of http_rest_api_handler.cc, anchored to act like RE2
// FullMatch and run on the raw path+query (tfserving-api.md §2.2).
var (
	restPrefixRe = regexp.MustCompile(`(?i)^/v1/.*$`)
	restPostRe   = regexp.MustCompile(`(?i)^/v1/models/([^/:]+)(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?:(classify|regress|predict)$`)
	restGetRe    = regexp.MustCompile(`(?i)^/v1/models(?:/([^/:]+))?(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?(?:/(metadata))?$`)
)

// restRequest is what the REST endpoints need of one request.
type restRequest struct {
	spec tfpb.ModelSpec
	verb string
	body []byte
}

// RESTHandler returns the REST API as an http.Handler.
func (s *Server) RESTHandler() http.Handler {
	return http.HandlerFunc(s.serveREST)
}

// serveREST records the request, dispatches it and writes a JSON answer.
func (s *Server) serveREST(w http.ResponseWriter, r *http.Request) {
	target := r.RequestURI
	if !strings.HasPrefix(target, "/") {
		target = r.URL.RequestURI()
	}
	body, _ := io.ReadAll(r.Body)
	rec := Record{API: APIREST, Method: r.Method, Path: target, Host: r.Host, Header: r.Header.Clone(), BodySize: len(body)}
	code, out := s.restDispatch(w, r, target, body, &rec)
	rec.Code = code
	s.add(rec)
	if out == nil {
		w.WriteHeader(code)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(out)
}

// restDispatch matches the target and runs the endpoint, returning the
// status and the JSON value to send (nil for no body).
func (s *Server) restDispatch(w http.ResponseWriter, r *http.Request, target string, body []byte, rec *Record) (int, any) {
	if !restPrefixRe.MatchString(target) {
		return http.StatusNotFound, errorBody("Not Found")
	}
	req, err := parseRESTTarget(r.Method, target)
	switch {
	case r.Method == http.MethodOptions:
		return corsPreflight(w, r)
	case err != nil:
		return restError(err)
	}
	req.body = body
	rec.Verb = req.verb
	out, served, err := s.restEndpoint(&req)
	rec.Spec = req.spec // includes the body's signature_name
	if err != nil {
		return restError(err)
	}
	rec.Served = served
	return http.StatusOK, out
}

// parseRESTTarget applies TF Serving's matching rules: case-insensitive
// regexes over path+query, case-sensitive verb dispatch, curl-style
// percent-decoding of name and label, int64 versions.
func parseRESTTarget(method, target string) (restRequest, error) {
	malformed := apiErrorf(codes.InvalidArgument, "Malformed request: %s %s", method, target)
	var m []string
	switch method {
	case http.MethodPost:
		m = restPostRe.FindStringSubmatch(target)
	case http.MethodGet:
		m = restGetRe.FindStringSubmatch(target)
	}
	if m == nil {
		return restRequest{}, malformed
	}
	req := restRequest{spec: tfpb.ModelSpec{Name: curlUnescape(m[1])}}
	if m[2] != "" {
		v, err := strconv.ParseInt(m[2], 10, 64)
		if err != nil {
			return restRequest{}, apiErrorf(codes.InvalidArgument, "Failed to convert version: %s to numeric.", m[2])
		}
		req.spec.Version = &v
	}
	if m[3] != "" {
		req.spec.Label = tfpb.L(curlUnescape(m[3]))
	}
	if method == http.MethodPost {
		switch m[4] {
		case "predict", "classify", "regress":
			req.verb = m[4]
		default:
			return restRequest{}, malformed
		}
		return req, nil
	}
	if m[1] == "" {
		return restRequest{}, apiErrorf(codes.InvalidArgument, "Missing model name in request.")
	}
	req.verb = "status"
	if m[4] == "metadata" { // METADATA etc. fall through to status
		req.verb = "metadata"
	}
	return req, nil
}

// corsPreflight answers OPTIONS without touching any model.
func corsPreflight(w http.ResponseWriter, r *http.Request) (int, any) {
	origin := r.Header.Get("Origin")
	if !strings.Contains(origin, "http://") && !strings.Contains(origin, "https://") {
		return restError(apiErrorf(codes.InvalidArgument, "Malformed request: OPTIONS"))
	}
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", origin)
	h.Set("Access-Control-Allow-Methods", "POST, GET")
	h.Set("Access-Control-Allow-Headers", "Content-Type")
	return http.StatusOK, nil
}

// restError converts err to TF Serving's HTTP status and {"error": msg}.
func restError(err error) (int, any) {
	code, ok := httpStatus[codeOf(err)]
	if !ok {
		code = http.StatusInternalServerError
	}
	return code, errorBody(err.Error())
}

// errorBody is TF Serving's REST error document.
func errorBody(msg string) any { return map[string]string{"error": msg} }

// curlUnescape decodes %XX sequences like curl_easy_unescape; '+' and
// malformed escapes stay as they are.
func curlUnescape(s string) string {
	if !strings.Contains(s, "%") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
			v, _ := strconv.ParseUint(s[i+1:i+3], 16, 8)
			b.WriteByte(byte(v))
			i += 2
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}
