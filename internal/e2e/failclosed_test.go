package e2e

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

func post(t *testing.T, s *stack, path, token string) int {
	t.Helper()
	req, err := http.NewRequest("POST", "http://"+s.restAddr+path, strings.NewReader(`{"instances":[1.0]}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestRedisOutageFailsClosed stops Redis under a signed-in user: tfgate
// cannot decide, the Check RPC fails, and Envoy (failure_mode_allow: false)
// denies; nothing reaches TF Serving. When Redis returns, requests succeed
// again without restarting anything.
func TestRedisOutageFailsClosed(t *testing.T) {
	s := startStack(t)
	const path = "/v1/models/half_plus_two/versions/1:predict"
	if code := post(t, s, path, aliceToken); code != 200 {
		t.Fatalf("before the outage: %d", code)
	}
	s.reached()
	s.redis.Stop()
	for range 5 {
		if code := post(t, s, path, aliceToken); code != http.StatusForbidden {
			t.Fatalf("during the outage: %d, want Envoy's status_on_error 403", code)
		}
	}
	if n := len(s.reached()); n != 0 {
		t.Fatalf("%d requests reached TF Serving during the outage", n)
	}
	s.redis.Restart()
	// Restart loses the data (no persistence): sign alice in again.
	sessionsFor(t, s)
	deadline := time.Now().Add(5 * time.Second)
	for post(t, s, path, aliceToken) != 200 {
		if time.Now().After(deadline) {
			t.Fatal("tfgate did not recover after Redis came back")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestDecisionLog checks the audit trail: one line per decision, with the
// decision and identity, and never a token, cookie or query string.
func TestDecisionLog(t *testing.T) {
	s := startStack(t)
	post(t, s, "/v1/models/half_plus_two/versions/1:predict", aliceToken)
	post(t, s, "/v1/models/half_plus_three:predict?access_token=querysecret", aliceToken)
	post(t, s, "/v1/models/half_plus_two:predict", "tfg_notarealsession")
	if err := s.auditLog.Flush(); err != nil {
		t.Fatal(err)
	}
	out := s.audit.String()
	for _, secret := range []string{aliceToken, "tfg_notarealsession", "querysecret", "Bearer"} {
		if strings.Contains(out, secret) {
			t.Errorf("decision log contains %q:\n%s", secret, out)
		}
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d lines, want 3:\n%s", len(lines), out)
	}
	var first struct {
		DecisionID string `json:"decision_id"`
		Allow      bool
		Subject    string
		Groups     []string
		Targets    []struct{ API, Model string }
	}
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil {
		t.Fatal(err)
	}
	if !first.Allow || first.Subject != "alice" || len(first.DecisionID) != 32 || len(first.Targets) != 1 || first.Targets[0].Model != "half_plus_two" {
		t.Errorf("first line: %+v", first)
	}
	if !strings.Contains(lines[1], `"allow":false`) || !strings.Contains(lines[1], `"path":"/v1/models/half_plus_three:predict?…"`) {
		t.Errorf("second line: %s", lines[1])
	}
}
