package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
)

// openPolicy allows anonymous calls to the models listed in data.open.
const openPolicy = `package tfgate.authz

decision := {"allow": true, "reason": "open model"} if {
	input.target.model in data.open
} else := {"allow": false, "reason": "closed model"}
`

func writeTempFile(tb testing.TB, path, content string) string {
	tb.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		tb.Fatal(err)
	}
	return path
}

func openPolicyDir(tb testing.TB, models ...string) string {
	tb.Helper()
	dir := tb.TempDir()
	writeTempFile(tb, filepath.Join(dir, "policy.rego"), openPolicy)
	writeTempFile(tb, filepath.Join(dir, "data.yaml"), "open: ["+strings.Join(models, ", ")+"]\n")
	return dir
}

// ecKeyFiles writes an ES256 key pair as PEM files.
func ecKeyFiles(tb testing.TB) (priv, pub string) {
	tb.Helper()
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p8, _ := x509.MarshalPKCS8PrivateKey(k)
	px, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)
	dir := tb.TempDir()
	return writeTempFile(tb, filepath.Join(dir, "k.pem"), string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p8}))),
		writeTempFile(tb, filepath.Join(dir, "k.pub"), string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: px})))
}

// cli runs one extauthz command line and returns its exit code and output.
func cli(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(context.Background(), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// build runs `policy build` and returns the bundle's bytes.
func build(t *testing.T, dir, rev string, signing ...string) []byte {
	t.Helper()
	out := filepath.Join(t.TempDir(), "b.tar.gz")
	args := append([]string{"policy", "build", dir, "-o", out, "--revision", rev}, signing...)
	if code, stdout, stderr := cli(t, args...); code != 0 || !strings.Contains(stdout, "revision "+rev) {
		t.Fatalf("policy build: %d %s %s", code, stdout, stderr)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type swapServer struct {
	mu   sync.Mutex
	body []byte
}

func (s *swapServer) set(b []byte) { s.mu.Lock(); s.body = b; s.mu.Unlock() }
func (s *swapServer) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, _ = w.Write(s.body)
}

func checkModel(t *testing.T, client authv3.AuthorizationClient, model string) bool {
	t.Helper()
	path := "/v1/models/" + model + ":predict"
	cr, err := client.Check(context.Background(), &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
			Method: "POST", Path: path, Headers: map[string]string{":path": path},
		}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	return codes.Code(cr.GetStatus().GetCode()) == codes.OK
}

func metricsOf(t *testing.T, httpAddr string) string {
	t.Helper()
	resp, err := http.Get("http://" + httpAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// TestBundleReplicas runs two real servers polling one signed bundle over
// HTTP, and two over OCI (go-containerregistry's registry in the test
// process): a grant flipped in a new bundle reaches both, a bundle signed
// by another key is refused and the last good one keeps serving, and the
// revision and failures show in /metrics.
func TestBundleReplicas(t *testing.T) {
	t.Run("http", func(t *testing.T) {
		srv := &swapServer{}
		ts := httptest.NewServer(srv)
		defer ts.Close()
		testBundleReplicas(t, ts.URL+"/bundle.tar.gz", func(b []byte) { srv.set(b) })
	})
	t.Run("oci", func(t *testing.T) {
		ts := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
		defer ts.Close()
		ref := strings.TrimPrefix(ts.URL, "http://") + "/policies/tfgate:live"
		testBundleReplicas(t, "oci://"+ref, func(b []byte) {
			r, err := name.ParseReference(ref)
			if err != nil {
				t.Fatal(err)
			}
			img, err := mutate.AppendLayers(empty.Image, static.NewLayer(b, types.OCILayer))
			if err != nil {
				t.Fatal(err)
			}
			img = mutate.ConfigMediaType(mutate.MediaType(img, types.OCIManifestSchema1), types.OCIConfigJSON)
			if err := remote.Write(r, img); err != nil {
				t.Fatal(err)
			}
		})
	})
}

func testBundleReplicas(t *testing.T, url string, publish func([]byte)) {
	priv, pub := ecKeyFiles(t)
	otherPriv, _ := ecKeyFiles(t)
	sign := func(k string) []string {
		return []string{"--signing-key", k, "--signing-alg", "ES256", "--key-id", "team"}
	}
	publish(build(t, openPolicyDir(t, "resnet"), "r1", sign(priv)...))
	config := fmt.Sprintf(`listen: {grpc: 127.0.0.1:0, http: 127.0.0.1:0, shutdown_timeout: 2s}
decision_log: {path: "off"}
policy:
  bundle:
    url: %s
    poll_interval: 20ms
    verification:
      keys:
        team: {key_file: %s, algorithm: ES256}
`, url, pub)

	type replica struct {
		client   authv3.AuthorizationClient
		httpAddr string
	}
	var replicas []replica
	for range 2 {
		grpcAddr, httpAddr, _ := startServe(t, config)
		conn, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		replicas = append(replicas, replica{authv3.NewAuthorizationClient(conn), httpAddr})
	}
	for i, r := range replicas {
		if !checkModel(t, r.client, "resnet") || checkModel(t, r.client, "bert") {
			t.Fatalf("replica %d does not serve r1", i)
		}
	}

	publish(build(t, openPolicyDir(t, "bert"), "r2", sign(priv)...))
	waitFor(t, 10*time.Second, "every replica on r2", func() bool {
		for _, r := range replicas {
			if !strings.Contains(metricsOf(t, r.httpAddr), `tfgate_policy_info{revision="r2",source="bundle"} 1`) {
				return false
			}
		}
		return true
	})
	for i, r := range replicas {
		if checkModel(t, r.client, "resnet") || !checkModel(t, r.client, "bert") {
			t.Errorf("replica %d did not flip the grant", i)
		}
	}

	publish(build(t, openPolicyDir(t, "resnet", "bert", "gpt"), "evil", sign(otherPriv)...))
	waitFor(t, 10*time.Second, "both replicas to refuse the wrongly signed bundle", func() bool {
		for _, r := range replicas {
			if strings.Contains(metricsOf(t, r.httpAddr), "tfgate_policy_bundle_failures_total 0") {
				return false
			}
		}
		return true
	})
	for i, r := range replicas {
		m := metricsOf(t, r.httpAddr)
		if !strings.Contains(m, `revision="r2"`) || checkModel(t, r.client, "gpt") || !checkModel(t, r.client, "bert") {
			t.Errorf("replica %d after the wrongly signed bundle:\n%s", i, grepLines(m, "tfgate_policy"))
		}
	}
}

// logLine is a decision-log line for policy eval and replay tests.
func logLine(id string, allow bool, model string) string {
	return fmt.Sprintf(`{"time":"2026-12-05T08:00:00Z","decision_id":%q,"allow":%v,"reason":"x","method":"POST","path":"/v1/models/%s:predict","protocol":"rest","targets":[{"api":"predict","model":%q,"version":null,"label":null,"signature":""}],"policy_revision":"r1","latency_us":10,"request_id":"added-by-another-issue"}`, id, allow, model, model)
}

func TestPolicyEvalDecisionLogLine(t *testing.T) {
	dir := openPolicyDir(t, "resnet")
	tmp := t.TempDir()
	line := writeTempFile(t, filepath.Join(tmp, "line.json"), logLine("d1", false, "resnet")+"\n")
	code, out, errOut := cli(t, "policy", "eval", "--input", line, "--policy", dir, "--fail")
	if code != 0 || !strings.Contains(out, `"allow": true`) || !strings.Contains(out, `"decision_id": "d1"`) || !strings.Contains(out, `"logged"`) {
		t.Errorf("eval of a log line: %d %s %s", code, out, errOut)
	}
	closed := writeTempFile(t, filepath.Join(tmp, "closed.json"), logLine("d2", true, "bert"))
	if code, out, _ := cli(t, "policy", "eval", "--fail", "--policy", dir, "--input", closed); code != 1 || !strings.Contains(out, `"allow": false`) {
		t.Errorf("--fail on a deny: exit %d, %s", code, out)
	}
	if code, _, _ := cli(t, "policy", "eval", "--policy", dir, "--input", closed); code != 0 {
		t.Errorf("a deny without --fail: exit %d", code)
	}
	// A bundle works where a directory does.
	bundle := filepath.Join(tmp, "b.tar.gz")
	if err := os.WriteFile(bundle, build(t, dir, "b1"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out, _ := cli(t, "policy", "eval", "--policy", bundle, "--input", line); code != 0 || !strings.Contains(out, `"policy_revision": "b1"`) {
		t.Errorf("eval with a bundle: %d %s", code, out)
	}
	noTarget := writeTempFile(t, filepath.Join(tmp, "nt.json"), `{"subject":null,"request":{"method":"GET","path":"/","host":"h","protocol":"rest"}}`)
	if code, _, errOut := cli(t, "policy", "eval", "--policy", dir, "--input", noTarget); code != 1 || !strings.Contains(errOut, `missing "target"`) {
		t.Errorf("input without target: %d %s", code, errOut)
	}
	refused := writeTempFile(t, filepath.Join(tmp, "refused.json"), `{"time":"2026-12-05T08:00:00Z","decision_id":"d3","allow":false,"reason":"malformed credential","method":"GET","path":"/","protocol":"rest","latency_us":1}`)
	if code, _, errOut := cli(t, "policy", "eval", "--policy", dir, "--input", refused); code != 1 || !strings.Contains(errOut, "refused before the policy") {
		t.Errorf("log line refused before the policy: %d %s", code, errOut)
	}
}

func TestPolicyReplayCLI(t *testing.T) {
	tmp := t.TempDir()
	var log strings.Builder
	// Recorded under a policy opening resnet only.
	log.WriteString(logLine("a", true, "resnet") + "\n")
	log.WriteString(logLine("b", false, "bert") + "\n")
	log.WriteString(logLine("c", false, "bert") + "\n")
	log.WriteString(`{"time":"2026-12-05T08:00:00Z","decision_id":"d","allow":false,"reason":"malformed credential","method":"GET","path":"/","protocol":"rest","latency_us":1}` + "\n")
	logPath := writeTempFile(t, filepath.Join(tmp, "decisions.jsonl"), log.String())

	same := openPolicyDir(t, "resnet")
	if code, out, errOut := cli(t, "policy", "replay", "--log", logPath, "--policy", same); code != 0 || !strings.Contains(out, "deny -> allow: 0") {
		t.Errorf("replay with the same policy: %d %s %s", code, out, errOut)
	}
	looser := openPolicyDir(t, "resnet", "bert")
	code, out, errOut := cli(t, "policy", "replay", "--log", logPath, "--policy", looser, "--examples", "1")
	if code != 1 || !strings.Contains(out, "deny -> allow: 2") || !strings.Contains(errOut, "--allow-loosening") ||
		!strings.Contains(out, "line 2 decision b") || strings.Contains(out, "decision c") || !strings.Contains(out, "skipped 1") {
		t.Errorf("loosening replay: %d\n%s\n%s", code, out, errOut)
	}
	if code, _, _ := cli(t, "policy", "replay", "--allow-loosening", "--log", logPath, "--policy", looser); code != 0 {
		t.Errorf("--allow-loosening: exit %d", code)
	}
	code, out, _ = cli(t, "policy", "replay", "--log", logPath, "--policy", openPolicyDir(t), "--format", "json")
	var rep struct {
		AllowToDeny int64 `json:"allow_to_deny"`
		Replayed    int64
		Examples    []struct {
			DecisionID string `json:"decision_id"`
		}
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil || code != 0 || rep.AllowToDeny != 1 || rep.Replayed != 3 || len(rep.Examples) != 1 || rep.Examples[0].DecisionID != "a" {
		t.Errorf("tightening replay, json: %d %v %s", code, err, out)
	}
}

func TestPolicyTestCLI(t *testing.T) {
	dir := openPolicyDir(t, "resnet")
	writeTempFile(t, filepath.Join(dir, "policy_test.rego"), `package tfgate.authz

test_open if decision.allow with input as {"target": {"model": "resnet"}}
test_closed if not decision.allow with input as {"target": {"model": "bert"}}
`)
	// Flags after the directory count (they used to be ignored).
	code, out, _ := cli(t, "policy", "test", dir, "-v", "--run", "test_open")
	if code != 0 || !strings.Contains(out, "test_open") || strings.Contains(out, "test_closed") || !strings.Contains(out, "PASS: 1/1") {
		t.Errorf("policy test DIR -v --run: %d\n%s", code, out)
	}
	code, out, _ = cli(t, "policy", "test", dir, "--coverage")
	if code != 0 || !strings.Contains(out, "policy.rego: 100.0%") || !strings.Contains(out, "total: 100.0%") {
		t.Errorf("coverage: %d\n%s", code, out)
	}
	code, out, errOut := cli(t, "policy", "test", dir, "--run", "test_open", "--threshold", "100")
	if code != 1 || !strings.Contains(out, "not covered: lines") || !strings.Contains(errOut, "below the threshold") {
		t.Errorf("coverage below threshold: %d\n%s\n%s", code, out, errOut)
	}
	code, out, _ = cli(t, "policy", "test", "--format", "json", "--coverage", dir)
	var rep struct {
		Passed   int
		Tests    []struct{ Name string }
		Coverage struct{ Coverage float64 }
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil || code != 0 || rep.Passed != 2 || len(rep.Tests) != 2 || rep.Coverage.Coverage != 100 {
		t.Errorf("json: %d %v\n%s", code, err, out)
	}
}

// TestAuditChainThroughServe runs the server with a chained, signed
// decision log, then verifies it with `audit verify`, before and after
// changing one line.
func TestAuditChainThroughServe(t *testing.T) {
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	p8, _ := x509.MarshalPKCS8PrivateKey(key)
	tmp := t.TempDir()
	keyFile := writeTempFile(t, filepath.Join(tmp, "audit.pem"), string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p8})))
	px, _ := x509.MarshalPKIXPublicKey(key.Public())
	pubFile := writeTempFile(t, filepath.Join(tmp, "audit.pub"), string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: px})))
	_, otherKey, _ := ed25519.GenerateKey(rand.Reader)
	ox, _ := x509.MarshalPKIXPublicKey(otherKey.Public())
	otherPub := writeTempFile(t, filepath.Join(tmp, "other.pub"), string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: ox})))
	logPath := filepath.Join(tmp, "decisions.jsonl")

	grpcAddr, _, stop := startServe(t, fmt.Sprintf(`listen: {grpc: 127.0.0.1:0, http: 127.0.0.1:0, shutdown_timeout: 2s}
decision_log:
  path: %s
  audit: {chain: true, signing_key_file: %s, checkpoint_lines: 3, rotate_bytes: 2000}
`, logPath, keyFile))
	conn, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := authv3.NewAuthorizationClient(conn)
	for i := range 12 {
		checkModel(t, client, fmt.Sprintf("m%d", i))
	}
	if code := stop(); code != 0 {
		t.Fatalf("serve exited %d", code)
	}
	files, _ := filepath.Glob(logPath + "*")
	if len(files) < 2 {
		t.Fatalf("want rotated files, got %v", files)
	}
	code, out, _ := cli(t, append([]string{"audit", "verify", "--key", pubFile}, files...)...)
	if code != 0 || !strings.HasPrefix(out, "ok: ") || !strings.Contains(out, "signed through") {
		t.Fatalf("verify: %d %s", code, out)
	}
	if code, out, _ := cli(t, append([]string{"audit", "verify", "--key", otherPub}, files...)...); code != 1 || !strings.Contains(out, "not signed by a trusted key") {
		t.Errorf("verify with another key: %d %s", code, out)
	}
	oldest := files[1] // decisions.jsonl, then decisions.jsonl.<first seq>...
	b, _ := os.ReadFile(oldest)
	if !bytes.Contains(b, []byte(`"model":"m0"`)) {
		t.Fatalf("%s does not start with the first decision:\n%s", oldest, b)
	}
	if err := os.WriteFile(oldest, bytes.Replace(b, []byte(`"model":"m0"`), []byte(`"model":"x0"`), 1), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out, _ := cli(t, append([]string{"audit", "verify", "--key", pubFile}, files...)...); code != 1 || !strings.Contains(out, oldest+":1: line modified") {
		t.Errorf("verify after an edit: %d %s", code, out)
	}
}

// TestShadowPolicyThroughServe configures a candidate policy: the live
// answer stands, and the disagreement shows in /metrics by direction.
func TestShadowPolicyThroughServe(t *testing.T) {
	grpcAddr, httpAddr, _ := startServe(t, fmt.Sprintf(`listen: {grpc: 127.0.0.1:0, http: 127.0.0.1:0, shutdown_timeout: 2s}
decision_log: {path: "off"}
policy:
  dir: %s
  shadow: {policy: %s}
`, openPolicyDir(t, "resnet"), openPolicyDir(t, "bert")))
	conn, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := authv3.NewAuthorizationClient(conn)
	if !checkModel(t, client, "resnet") || checkModel(t, client, "bert") || checkModel(t, client, "gpt") {
		t.Fatal("the shadow policy changed a live answer")
	}
	waitFor(t, 10*time.Second, "the shadow counters", func() bool {
		m := metricsOf(t, httpAddr)
		return strings.Contains(m, `tfgate_policy_shadow_evaluated_total 3`) &&
			strings.Contains(m, `tfgate_policy_shadow_disagreements_total{direction="allow_to_deny"} 1`) &&
			strings.Contains(m, `tfgate_policy_shadow_disagreements_total{direction="deny_to_allow"} 1`)
	})
}
