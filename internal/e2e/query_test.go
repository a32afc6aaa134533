package e2e

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestQueryNeverShown (issue 8 item 4): TF Serving reads a REST query as
// part of the model name, so "GET /v1/models/m?access_token=SECRET" names
// model "m?access_token=SECRET". The secret must reach neither the 403
// body (the policy's reason) nor the decision log (reason and targets).
// (Before, it reached targets[].model, the reason and the 403 body.)
func TestQueryNeverShown(t *testing.T) {
	s := startStack(t)
	const secret = "SECRETq8f2"
	for _, path := range []string{
		"/v1/models/half_plus_three?access_token=" + secret,
		"/v1/models/half_plus_three/labels/stable?access_token=" + secret,
		"/v1/models/half_plus_three?x=%53" + secret[1:], // percent-decoded into the model name
	} {
		req, err := http.NewRequest("GET", "http://"+s.restAddr+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+aliceToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("GET %s: %d, want 403", path, resp.StatusCode)
		}
		if strings.Contains(string(body), secret) || (strings.HasPrefix(path, "/v1/models/half_plus_three?") && !strings.Contains(string(body), "half_plus_three?…")) {
			t.Errorf("GET %s: 403 body %s", path, body)
		}
	}
	if err := s.auditLog.Flush(); err != nil {
		t.Fatal(err)
	}
	out := s.audit.String()
	if strings.Contains(out, secret) {
		t.Errorf("decision log contains the query's secret:\n%s", out)
	}
	if !strings.Contains(out, `"model":"half_plus_three?…"`) {
		t.Errorf("decision log lacks the redacted model:\n%s", out)
	}
}
