package tfservingstandin

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

// doREST sends one request with a raw target and decodes the JSON answer.
func doREST(tb testing.TB, s *Server, method, target, body string) (int, map[string]any) {
	tb.Helper()
	req, err := http.NewRequest(method, "http://"+s.RESTAddr()+"/", strings.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	req.URL.Opaque = target // send the target exactly as written
	if i := strings.IndexByte(target, '?'); i >= 0 {
		req.URL.Opaque, req.URL.RawQuery = target[:i], target[i+1:]
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out); err != nil {
			tb.Fatalf("%s %s: bad JSON %q: %v", method, target, raw, err)
		}
	}
	return resp.StatusCode, out
}

func TestRESTPredict(t *testing.T) {
	s := Start(t)
	tests := map[string]struct {
		target, body string
		status       int
		key          string
		want         []any
	}{
		"instances":        {target: "/v1/models/half_plus_two:predict", body: `{"instances":[1.0,2.0,5.0]}`, status: 200, key: "predictions", want: []any{2.5, 3.0, 4.5}},
		"instance objects": {target: "/v1/models/half_plus_two:predict", body: `{"instances":[{"x":1}]}`, status: 200, key: "predictions", want: []any{2.5}},
		"columnar":         {target: "/v1/models/half_plus_three/versions/1:predict", body: `{"inputs":{"x":[1]}}`, status: 200, key: "outputs", want: []any{3.5}},
		"label":            {target: "/v1/models/half_plus_two/labels/stable:predict", body: `{"instances":[0]}`, status: 200, key: "predictions", want: []any{2.0}},
		"regress":          {target: "/v1/models/half_plus_two:regress", body: `{"signature_name":"regress_x_to_y","examples":[{"x":2}]}`, status: 200, key: "results", want: []any{3.0}},
		"unknown model":    {target: "/v1/models/nope:predict", body: `{"instances":[1]}`, status: 404},
		"unknown version":  {target: "/v1/models/half_plus_two/versions/9:predict", body: `{"instances":[1]}`, status: 404},
		"unknown label":    {target: "/v1/models/half_plus_two/labels/beta:predict", body: `{"instances":[1]}`, status: 400},
		"bad signature":    {target: "/v1/models/half_plus_two:predict", body: `{"signature_name":"x","instances":[1]}`, status: 400},
		"bad json":         {target: "/v1/models/half_plus_two:predict", body: `{`, status: 400},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			s.Reset()
			status, out := doREST(t, s, "POST", tc.target, tc.body)
			if rec := s.Requests()[0]; rec.Verb == "regress" && rec.Spec.Signature != SignatureRegress {
				t.Fatalf("record spec = %+v, want the body's signature_name", rec.Spec)
			}
			if status != tc.status {
				t.Fatalf("status = %d (%v), want %d", status, out, tc.status)
			}
			if tc.status != 200 {
				if _, ok := out["error"].(string); !ok {
					t.Fatalf("error body = %v, want {\"error\": ...}", out)
				}
				return
			}
			got, _ := json.Marshal(out[tc.key])
			want, _ := json.Marshal(tc.want)
			if string(got) != string(want) {
				t.Fatalf("%s = %s, want %s", tc.key, got, want)
			}
		})
	}
}

func TestRESTMatchingRules(t *testing.T) {
	s := Start(t)
	tests := map[string]struct {
		method, target string
		status         int
		model          string
		verb           string
	}{
		"case-insensitive path":   {method: "POST", target: "/V1/Models/half_plus_two/VERSIONS/2:predict", status: 200, model: "half_plus_two", verb: "predict"},
		"upper-case verb":         {method: "POST", target: "/v1/models/half_plus_two:PREDICT", status: 400},
		"percent-decoded name":    {method: "POST", target: "/v1/models/half%5Fplus_two:predict", status: 200, model: "half_plus_two", verb: "predict"},
		"query breaks POST":       {method: "POST", target: "/v1/models/half_plus_two:predict?x=1", status: 400},
		"query swallowed in name": {method: "POST", target: "/v1/models/m?a=b:predict", status: 404, model: "m?a=b", verb: "predict"},
		"GET query in name":       {method: "GET", target: "/v1/models/half_plus_two?x=1", status: 404, model: "half_plus_two?x=1", verb: "status"},
		"version 007":             {method: "GET", target: "/v1/models/half_plus_two/versions/001", status: 200, model: "half_plus_two", verb: "status"},
		"version overflow":        {method: "GET", target: "/v1/models/half_plus_two/versions/99999999999999999999", status: 400},
		"missing name":            {method: "GET", target: "/v1/models", status: 400},
		"METADATA is status":      {method: "GET", target: "/v1/models/half_plus_two/METADATA", status: 200, model: "half_plus_two", verb: "status"},
		"PUT":                     {method: "PUT", target: "/v1/models/half_plus_two:predict", status: 400},
		"not v1":                  {method: "GET", target: "/v2/models/half_plus_two", status: 404},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			s.Reset()
			status, out := doREST(t, s, tc.method, tc.target, `{"instances":[1]}`)
			if status != tc.status {
				t.Fatalf("status = %d (%v), want %d", status, out, tc.status)
			}
			recs := s.Requests()
			if len(recs) != 1 {
				t.Fatalf("recorded %d requests, want 1", len(recs))
			}
			if r := recs[0]; r.Spec.Name != tc.model || r.Verb != tc.verb || r.Path != tc.target || r.Code != status {
				t.Fatalf("record = %+v, want model %q verb %q path %q", r, tc.model, tc.verb, tc.target)
			}
		})
	}
}

func TestRESTStatusAndMetadata(t *testing.T) {
	s := Start(t)
	status, out := doREST(t, s, "GET", "/v1/models/half_plus_two", "")
	if status != 200 {
		t.Fatalf("status = %d", status)
	}
	got, _ := json.Marshal(out)
	want := `{"model_version_status":[{"state":"AVAILABLE","status":{"error_code":"OK","error_message":""},"version":"2"},` +
		`{"state":"AVAILABLE","status":{"error_code":"OK","error_message":""},"version":"1"}]}`
	if string(got) != want {
		t.Fatalf("status body = %s\nwant %s", got, want)
	}
	if status, _ := doREST(t, s, "GET", "/v1/models/half_plus_two/labels/nope", ""); status != 200 {
		t.Fatalf("status by unknown label = %d, want 200 (label ignored)", status)
	}
	if status, _ := doREST(t, s, "GET", "/v1/models/half_plus_two/versions/3", ""); status != 404 {
		t.Fatalf("status of missing version = %d, want 404", status)
	}

	status, out = doREST(t, s, "GET", "/v1/models/half_plus_two/labels/stable/metadata", "")
	spec, _ := out["model_spec"].(map[string]any)
	if status != 200 || spec["version"] != "1" {
		t.Fatalf("metadata = %d %v", status, out)
	}
	sigs := out["metadata"].(map[string]any)["signature_def"].(map[string]any)["signature_def"].(map[string]any)
	if _, ok := sigs["serving_default"]; !ok {
		t.Fatalf("metadata lacks serving_default: %v", sigs)
	}
	if status, _ := doREST(t, s, "GET", "/v1/models/nope/metadata", ""); status != 404 {
		t.Fatalf("metadata of unknown model = %d, want 404", status)
	}
}

func TestRESTCORS(t *testing.T) {
	s := Start(t)
	req, _ := http.NewRequest("OPTIONS", "http://"+s.RESTAddr()+"/v1/models/half_plus_two:predict", nil)
	req.Header.Set("Origin", "https://app.example")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Access-Control-Allow-Origin") != "https://app.example" {
		t.Fatalf("preflight = %d %v", resp.StatusCode, resp.Header)
	}
	if r := s.Requests()[0]; r.Verb != "" || r.Served != 0 {
		t.Fatalf("preflight touched a model: %+v", r)
	}
}

func TestRecorderRecordsHeadersAndSize(t *testing.T) {
	s := Start(t)
	req, _ := http.NewRequest("POST", "http://"+s.RESTAddr()+"/v1/models/half_plus_two:predict", strings.NewReader(`{"instances":[1]}`))
	req.Header.Set("X-Tfgate-User", "alice")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	recs := s.Requests()
	if len(recs) != 1 {
		t.Fatalf("recorded %d", len(recs))
	}
	r := recs[0]
	if r.API != APIREST || r.Method != "POST" || r.Header.Get("X-Tfgate-User") != "alice" ||
		r.BodySize != len(`{"instances":[1]}`) || r.Served != 2 || r.Code != 200 || r.Host != s.RESTAddr() {
		t.Fatalf("record = %+v", r)
	}
	s.Reset()
	if n := len(s.Requests()); n != 0 {
		t.Fatalf("after Reset: %d records", n)
	}
}
