package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
)

func TestREST(t *testing.T) {
	s := startStack(t)
	bearer := func(tok string) http.Header { return http.Header{"Authorization": {"Bearer " + tok}} }
	tests := map[string]struct {
		method, path string
		header       http.Header
		wantStatus   int
		wantReached  bool
		check        func(t *testing.T, resp *http.Response, body string, up http.Header)
	}{
		"allowed model and version": {
			method: "POST", path: "/v1/models/half_plus_two/versions/1:predict", header: bearer(aliceToken),
			wantStatus: 200, wantReached: true,
			check: func(t *testing.T, _ *http.Response, body string, up http.Header) {
				var out struct{ Predictions []float64 }
				if err := json.Unmarshal([]byte(body), &out); err != nil || fmt.Sprint(out.Predictions) != "[2.5 3 4.5]" {
					t.Errorf("predictions: %s", body)
				}
				if up.Get("X-Tfgate-User") != "alice" || up.Get("X-Tfgate-Groups") != `"ml-engineers"` || up.Get("X-Tfgate-Email") != "alice@example.com" {
					t.Errorf("identity headers upstream: %v", up)
				}
				if up.Get("Authorization") != "" {
					t.Error("the bearer token reached TF Serving")
				}
				if len(up.Get("X-Tfgate-Decision-Id")) != 32 || len(up.Get("X-Tfgate-Session")) != 16 {
					t.Errorf("decision/session headers: %v", up)
				}
			},
		},
		"allowed label by cookie, other cookies kept": {
			method: "POST", path: "/v1/models/half_plus_two/labels/stable:predict",
			header:     http.Header{"Cookie": {"theme=dark; __Host-tfgate=" + aliceToken + "; lang=en"}},
			wantStatus: 200, wantReached: true,
			check: func(t *testing.T, _ *http.Response, _ string, up http.Header) {
				if got := up.Get("Cookie"); got != "theme=dark; lang=en" {
					t.Errorf("upstream Cookie = %q", got)
				}
			},
		},
		"spoofed identity headers are replaced": {
			method: "POST", path: "/v1/models/half_plus_two/versions/1:predict",
			header: http.Header{"Authorization": {"Bearer " + aliceToken}, "X-Tfgate-User": {"root"},
				"X-Tfgate-Groups": {"admins"}, "X-Tfgate-Role": {"admin"}},
			wantStatus: 200, wantReached: true,
			check: func(t *testing.T, _ *http.Response, _ string, up http.Header) {
				if up.Values("X-Tfgate-User")[0] != "alice" || len(up.Values("X-Tfgate-User")) != 1 || up.Get("X-Tfgate-Groups") != `"ml-engineers"` {
					t.Errorf("identity upstream: %v", up)
				}
				if up.Get("X-Tfgate-Role") != "" {
					t.Error("client-sent x-tfgate-role reached TF Serving")
				}
			},
		},
		"forbidden model":                   {method: "POST", path: "/v1/models/half_plus_three:predict", header: bearer(aliceToken), wantStatus: 403, check: wantJSONError("half_plus_three")},
		"forbidden model, percent-encoded":  {method: "POST", path: "/v1/models/half_plus_%74hree:predict", header: bearer(aliceToken), wantStatus: 403},
		"forbidden model, case games":       {method: "POST", path: "/V1/MODELS/half_plus_three/VERSIONS/1:predict", header: bearer(aliceToken), wantStatus: 403},
		"forbidden version":                 {method: "POST", path: "/v1/models/half_plus_two/versions/2:predict", header: bearer(aliceToken), wantStatus: 403, check: wantJSONError("version 2")},
		"forbidden version, leading zeros":  {method: "POST", path: "/v1/models/half_plus_two/versions/0002:predict", header: bearer(aliceToken), wantStatus: 403},
		"forbidden label":                   {method: "POST", path: "/v1/models/half_plus_two/labels/canary:predict", header: bearer(aliceToken), wantStatus: 403},
		"forbidden group":                   {method: "POST", path: "/v1/models/half_plus_two/versions/1:predict", header: bearer(bobToken), wantStatus: 403},
		"unknown path":                      {method: "GET", path: "/admin/config", header: bearer(aliceToken), wantStatus: 404},
		"uppercase verb TF Serving rejects": {method: "POST", path: "/v1/models/half_plus_two/versions/1:PREDICT", header: bearer(aliceToken), wantStatus: 400},
		"anonymous browser is sent to sign in": {
			method: "GET", path: "/v1/models/half_plus_two", header: http.Header{"Accept": {"text/html,application/xhtml+xml"}, "Sec-Fetch-Mode": {"navigate"}},
			wantStatus: 302,
			check: func(t *testing.T, resp *http.Response, _ string, _ http.Header) {
				if loc := resp.Header.Get("Location"); loc != "/saml/login?return_to=%2Fv1%2Fmodels%2Fhalf_plus_two" {
					t.Errorf("Location = %q", loc)
				}
			},
		},
		"anonymous API client gets 401": {
			method: "POST", path: "/v1/models/half_plus_two/versions/1:predict", header: http.Header{},
			wantStatus: 401,
			check: func(t *testing.T, resp *http.Response, body string, _ http.Header) {
				if resp.Header.Get("Www-Authenticate") != `Bearer realm="tfgate"` {
					t.Errorf("WWW-Authenticate = %q", resp.Header.Get("Www-Authenticate"))
				}
				wantJSONError("authentication required")(t, resp, body, nil)
			},
		},
		"unknown token is anonymous": {
			method: "POST", path: "/v1/models/half_plus_two/versions/1:predict", header: bearer("tfg_forged"),
			wantStatus: 401,
			check: func(t *testing.T, resp *http.Response, body string, _ http.Header) {
				// RFC 6750 §3.1: a token that names no live session is invalid_token.
				if h := resp.Header.Get("Www-Authenticate"); !strings.Contains(h, `error="invalid_token"`) {
					t.Errorf("WWW-Authenticate = %q", h)
				}
				wantJSONError("extauthz login")(t, resp, body, nil)
			},
		},
		"cookie and bearer at once": {
			method: "POST", path: "/v1/models/half_plus_two/versions/1:predict",
			header:     http.Header{"Authorization": {"Bearer " + aliceToken}, "Cookie": {"__Host-tfgate=" + bobToken}},
			wantStatus: 400,
		},
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			s.reached()
			body := io.Reader(nil)
			if tc.method == "POST" {
				body = strings.NewReader(`{"instances": [1.0, 2.0, 5.0]}`)
			}
			req, err := http.NewRequest(tc.method, "http://"+s.restAddr+tc.path, body)
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range tc.header {
				req.Header[k] = v
			}
			// Go's client would clean "/V1/MODELS/..": send the raw target.
			req.URL.Opaque = tc.path
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("status %d, want %d; body %s", resp.StatusCode, tc.wantStatus, b)
			}
			recs := s.reached()
			if tc.wantReached != (len(recs) == 1) || len(recs) > 1 {
				t.Fatalf("%d requests reached TF Serving; want reached=%v", len(recs), tc.wantReached)
			}
			if tc.check != nil {
				var up http.Header
				if len(recs) == 1 {
					up = recs[0].Header
				}
				tc.check(t, resp, string(b), up)
			}
		})
	}
}

// wantJSONError checks for TF Serving's error shape with a reason
// containing substr.
func wantJSONError(substr string) func(*testing.T, *http.Response, string, http.Header) {
	return func(t *testing.T, resp *http.Response, body string, _ http.Header) {
		t.Helper()
		var e struct {
			Error string `json:"error"`
		}
		if err := json.Unmarshal([]byte(body), &e); err != nil || !strings.Contains(e.Error, substr) {
			t.Errorf("body %q is not {\"error\": \"...%s...\"}", body, substr)
		}
		if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("Content-Type = %q", ct)
		}
	}
}
