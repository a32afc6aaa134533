package e2e

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tfgate/tfgate/internal/tfpb"
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
		if code := post(t, s, path, aliceToken); code != http.StatusServiceUnavailable {
			t.Fatalf("during the outage: %d, want envoy.yaml's status_on_error 503", code)
		}
	}
	// gRPC clients get status_on_error 503 as UNAVAILABLE (trailers-only).
	conn := dial(t, s.grpcAddr, aliceToken)
	var resp []byte
	err := conn.Invoke(t.Context(), tfpb.MethodPredict, tfpb.PredictRequest(tfpb.ModelSpec{Name: "half_plus_two", Version: tfpb.V(1)}, map[string][]float32{"x": {1}}),
		&resp, grpc.ForceCodecV2(tfpb.Codec{}))
	if status.Code(err) != codes.Unavailable {
		t.Fatalf("gRPC during the outage: %v, want UNAVAILABLE", err)
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
