package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/tfgate/tfgate/authz"
	"github.com/tfgate/tfgate/authz/session"
	"github.com/tfgate/tfgate/internal/envoyemu"
	"github.com/tfgate/tfgate/internal/otlptest"
	"github.com/tfgate/tfgate/internal/redistest"
	"github.com/tfgate/tfgate/internal/tfservingstandin"
)

// obsGrants allow ml-engineers half_plus_two version 1 only.
const obsGrants = `
tfgate:
  grants:
    ml-engineers:
      - models: [half_plus_two]
        versions: [1]
        apis: ["*"]
  admin_groups: []
`

// Tokens of the sessions the observability stack holds.
const (
	obsAlice = "tfg_alice0000000000000000000000000000000000000"
	obsBob   = "tfg_bob000000000000000000000000000000000000000"
	obsCarol = "tfg_carol0000000000000000000000000000000000000"
)

// obsStack is `extauthz serve` with Redis sessions, a policy directory,
// tracing to an in-test OTLP receiver and a decision log file, behind the
// Envoy emulator (with Envoy's Zipkin tracer) in front of the TF Serving
// stand-in.
type obsStack struct {
	rcv       *otlptest.Receiver
	redis     *redistest.Server
	policyDir string
	decisions string
	httpAddr  string
	envoyAddr string
	logs      *lockedLog

	mu    sync.Mutex
	trace map[string]envoyemu.Trace // by x-request-id
}

type lockedLog struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (l *lockedLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *lockedLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func startObsStack(t *testing.T) *obsStack {
	t.Helper()
	// Export spans at once rather than every 5s.
	t.Setenv("OTEL_BSP_SCHEDULE_DELAY", "50")
	s := &obsStack{rcv: otlptest.Start(t), redis: redistest.Start(t), policyDir: t.TempDir(),
		decisions: filepath.Join(t.TempDir(), "decisions.jsonl"), logs: &lockedLog{}, trace: map[string]envoyemu.Trace{}}
	src, err := os.ReadFile("../../rego/policies/tfgate.rego")
	if err != nil {
		t.Fatal(err)
	}
	writeFileAtomic(t, filepath.Join(s.policyDir, "tfgate.rego"), []byte(string(src)))
	writeFileAtomic(t, filepath.Join(s.policyDir, "data.yaml"), []byte(obsGrants))

	prefix := fmt.Sprintf("obstest:%d:", testPrefixes.Add(1))
	store, err := session.NewRedis(s.redis.Client(), session.RedisConfig{Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	for token, sess := range map[string]authz.Session{
		obsAlice: {Subject: "alice", Email: "alice@example.com", Groups: []string{"ml-engineers"}, IdP: "https://idp.test"},
		obsBob:   {Subject: "bob", Email: "bob@example.com", Groups: []string{"sales"}, IdP: "https://idp.test"},
		obsCarol: {Subject: "carol", Email: "carol@example.com", Groups: []string{"ml-engineers"}, IdP: "https://idp.test"},
	} {
		sess.CreatedAt, sess.ExpiresAt = time.Now(), time.Now().Add(time.Hour)
		if err := store.Create(context.Background(), token, sess); err != nil {
			t.Fatal(err)
		}
	}

	config := fmt.Sprintf(`listen: {grpc: "127.0.0.1:0", http: "127.0.0.1:0", shutdown_timeout: 2s}
decision_log: {path: %q, skip_browser_noise: true}
sessions:
  store: redis
  redis:
    addrs: [%q]
    prefix: %q
    timeout: 200ms
    cache: {ttl: 1m}
policy: {dir: %q, reload_interval: 20ms}
tracing: {enabled: true, endpoint: %q, sample_ratio: 1}
`, s.decisions, s.redis.Addr, prefix, s.policyDir, s.rcv.URL)
	var grpcAddr string
	grpcAddr, s.httpAddr = s.serve(t, config)

	conn, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithAuthority("extauthz_grpc"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	tfs := tfservingstandin.Start(t)
	_, s.envoyAddr = envoyemu.Start(t, envoyemu.Config{
		Routes:  []envoyemu.Route{{Prefix: "/", Upstream: tfs.RESTURL()}},
		Authz:   authv3.NewAuthorizationClient(conn),
		Timeout: 5 * time.Second, ZipkinTracing: true,
		OnCheck: func(e envoyemu.Exchange) {
			id := e.Request.GetAttributes().GetRequest().GetHttp().GetHeaders()["x-request-id"]
			s.mu.Lock()
			s.trace[id] = e.Trace
			s.mu.Unlock()
		},
	})
	// Sessions are cached only while invalidations are heard.
	waitFor(t, 5*time.Second, "the invalidation subscription", func() bool {
		return metric(s.metrics(t, ""), "tfgate_session_invalidation_subscribed") == 1
	})
	return s
}

// serve runs `extauthz serve` and keeps its log.
func (s *obsStack) serve(t *testing.T, config string) (grpcAddr, httpAddr string) {
	t.Helper()
	cfgFile := filepath.Join(t.TempDir(), "c.yaml")
	writeFileAtomic(t, cfgFile, []byte(config))
	ctx, cancel := context.WithCancel(context.Background())
	logR, logW := io.Pipe()
	done := make(chan int, 1)
	go func() { done <- run(ctx, []string{"serve", "--config", cfgFile}, io.Discard, logW); logW.Close() }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Error("serve did not stop")
		}
	})
	lines := bufio.NewScanner(logR)
	var started struct{ GRPC, HTTP string }
	for lines.Scan() {
		fmt.Fprintln(s.logs, lines.Text())
		if strings.Contains(lines.Text(), "extauthz started") {
			if err := json.Unmarshal(lines.Bytes(), &started); err != nil {
				t.Fatal(err)
			}
			break
		}
	}
	if started.GRPC == "" {
		t.Fatalf("no start line in the log:\n%s", s.logs.String())
	}
	go func() { _, _ = io.Copy(s.logs, logR) }()
	return started.GRPC, started.HTTP
}

// request is one client request through the emulated Envoy, with its own
// x-request-id and B3 trace, as a Zipkin-traced client would send.
type request struct {
	requestID, traceID string
	status             int
	trace              envoyemu.Trace
}

func (s *obsStack) do(t *testing.T, path string, header http.Header) request {
	t.Helper()
	r := request{requestID: newHex(8), traceID: newHex(16)}
	req, err := http.NewRequest("GET", "http://"+s.envoyAddr+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	req.Header.Set("X-Request-Id", r.requestID)
	req.Header.Set("B3", r.traceID+"-"+newHex(8)+"-1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	r.status = resp.StatusCode
	s.mu.Lock()
	r.trace = s.trace[r.requestID]
	s.mu.Unlock()
	if r.trace.TraceID != r.traceID {
		t.Fatalf("Envoy traced %+v, want the client's trace %s", r.trace, r.traceID)
	}
	return r
}

func newHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func bearer(token string) http.Header { return http.Header{"Authorization": {"Bearer " + token}} }

// spans waits for r's Check span and its n-1 stage spans and checks that
// the Check span continues Envoy's ext_authz span.
func (s *obsStack) spans(t *testing.T, r request, n int) (root *otlptest.Span, stages map[string]*otlptest.Span) {
	t.Helper()
	spans := s.rcv.Wait(t, r.traceID, n, 10*time.Second)
	root = otlptest.Named(spans, "tfgate.Check")
	if root == nil || root.ParentSpanID != r.trace.CheckSpanID {
		t.Fatalf("Check span %+v, want a child of Envoy's ext_authz span %s", root, r.trace.CheckSpanID)
	}
	stages = map[string]*otlptest.Span{}
	for i := range spans {
		if sp := &spans[i]; sp != root {
			if sp.ParentSpanID != root.SpanID {
				t.Errorf("span %s is not a child of the Check span", sp.Name)
			}
			stages[sp.Name] = sp
		}
	}
	if len(spans) != n {
		t.Errorf("trace %s has %d spans, want %d: %v", r.traceID, len(spans), n, stages)
	}
	for _, sp := range spans {
		for k, v := range sp.Attrs {
			for _, secret := range []string{"tfg_", "@example.com", "ml-engineers", "sales"} {
				if strings.Contains(v, secret) {
					t.Errorf("span %s attribute %s=%q carries a credential, e-mail or group", sp.Name, k, v)
				}
			}
		}
	}
	return root, stages
}

func wantAttrs(t *testing.T, sp *otlptest.Span, want map[string]string) {
	t.Helper()
	for k, v := range want {
		got, ok := sp.Attrs[k]
		if v == "" && ok {
			t.Errorf("span %s has %s=%q, want it absent", sp.Name, k, got)
		} else if v != "" && !strings.Contains(got, v) {
			t.Errorf("span %s %s=%q, want %q", sp.Name, k, got, v)
		}
	}
}

// decision waits for r's decision-log line.
func (s *obsStack) decision(t *testing.T, r request) map[string]any {
	t.Helper()
	var line map[string]any
	waitFor(t, 5*time.Second, "decision line of "+r.requestID, func() bool {
		data, _ := os.ReadFile(s.decisions)
		for l := range strings.SplitSeq(string(data), "\n") {
			if strings.Contains(l, r.requestID) {
				line = nil
				return json.Unmarshal([]byte(l), &line) == nil
			}
		}
		return false
	})
	if line["request_id"] != r.requestID || line["trace_id"] != r.traceID || line["decision_id"] == "" || line["decision_id"] == nil {
		t.Errorf("decision line %v, want request_id %s, trace_id %s and a decision id", line, r.requestID, r.traceID)
	}
	return line
}

// metrics scrapes /metrics as Prometheus text.
func (s *obsStack) metrics(t *testing.T, accept string) string {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+s.httpAddr+"/metrics", nil)
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return string(body)
}

// metric returns the value of the series "name{labels}" exactly as
// exposed (labels in Prometheus' sorted order), or -1 if absent.
func metric(text, series string) float64 {
	for l := range strings.SplitSeq(text, "\n") {
		if rest, ok := strings.CutPrefix(l, series+" "); ok {
			v, err := strconv.ParseFloat(strings.Fields(rest)[0], 64)
			if err == nil {
				return v
			}
		}
	}
	return -1
}

func (s *obsStack) statusz(t *testing.T) statusz {
	t.Helper()
	resp, err := http.Get("http://" + s.httpAddr + "/statusz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st statusz
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	return st
}

// TestObservability drives allow, deny, anonymous, a failed policy reload
// and a Redis outage through the Envoy emulator and checks the metrics,
// spans and decision-log lines of each.
func TestObservability(t *testing.T) {
	s := startObsStack(t)
	const model = "/v1/models/half_plus_two/versions/1"
	revision := s.statusz(t).Policy.Revision
	if st := s.statusz(t).Policy; st.Engine != "compiled" || st.EngineNote != "" {
		t.Errorf("/statusz policy engine %q (%s), want compiled", st.Engine, st.EngineNote)
	}

	// Allow: the session comes from Redis, then from the local cache;
	// the verdict is evaluated, then cached.
	allow := s.do(t, model, bearer(obsAlice))
	if allow.status != http.StatusOK {
		t.Fatalf("allow: status %d", allow.status)
	}
	root, stages := s.spans(t, allow, 4)
	wantAttrs(t, root, map[string]string{"tfgate.outcome": "allow", "tfgate.model": "half_plus_two", "tfgate.version": "1",
		"tfgate.api": "model_status", "tfgate.policy_revision": revision, "tfgate.request_id": allow.requestID, "tfgate.denial": ""})
	wantAttrs(t, stages["tfgate.session_lookup"], map[string]string{"tfgate.session.source": "redis", "tfgate.session.found": "true"})
	wantAttrs(t, stages["tfgate.policy_evaluate"], map[string]string{"tfgate.policy.cached": "false"})
	if stages["tfgate.parse_target"] == nil {
		t.Error("no target parsing span")
	}
	line := s.decision(t, allow)
	if line["allow"] != true || line["policy_revision"] != revision {
		t.Errorf("allow line %v", line)
	}
	again := s.do(t, model, bearer(obsAlice))
	_, stages = s.spans(t, again, 4)
	wantAttrs(t, stages["tfgate.session_lookup"], map[string]string{"tfgate.session.source": "cache"})
	wantAttrs(t, stages["tfgate.policy_evaluate"], map[string]string{"tfgate.policy.cached": "true"})

	// Deny: bob's group has no grant.
	deny := s.do(t, model, bearer(obsBob))
	if deny.status != http.StatusForbidden {
		t.Fatalf("deny: status %d", deny.status)
	}
	root, _ = s.spans(t, deny, 4)
	wantAttrs(t, root, map[string]string{"tfgate.outcome": "deny", "tfgate.denial": "forbidden", "tfgate.model": "half_plus_two"})
	if line := s.decision(t, deny); line["allow"] != false || line["subject"] != "bob" {
		t.Errorf("deny line %v", line)
	}

	// Anonymous: no session lookup at all.
	anon := s.do(t, model, http.Header{"Accept": {"application/json"}})
	if anon.status != http.StatusUnauthorized {
		t.Fatalf("anonymous: status %d", anon.status)
	}
	root, stages = s.spans(t, anon, 3)
	wantAttrs(t, root, map[string]string{"tfgate.outcome": "deny", "tfgate.denial": "unauthenticated", "tfgate.auth": ""})
	if stages["tfgate.session_lookup"] != nil {
		t.Error("anonymous Check has a session span")
	}
	if line := s.decision(t, anon); line["subject"] != nil {
		t.Errorf("anonymous line %v", line)
	}

	// Browser noise is counted, not logged.
	noise := s.do(t, "/favicon.ico", http.Header{"Accept": {"image/avif,image/*"}, "Sec-Fetch-Mode": {"no-cors"}})

	// A policy reload that fails: the last good policy keeps deciding,
	// readiness stays, and the failure shows in /statusz, metrics and log.
	good, err := os.ReadFile(filepath.Join(s.policyDir, "tfgate.rego"))
	if err != nil {
		t.Fatal(err)
	}
	writeFileAtomic(t, filepath.Join(s.policyDir, "tfgate.rego"), []byte("package tfgate.authz\ndecision := {\n"))
	waitFor(t, 5*time.Second, "the failed reload in /statusz", func() bool { return !s.statusz(t).Policy.LastReloadOK })
	st := s.statusz(t)
	if st.Policy.Revision != revision || st.Policy.LastReloadError == "" || st.Policy.FailedRevision == "" || !st.Ready {
		t.Errorf("/statusz during a failed reload: %+v", st)
	}
	if resp, err := http.Get("http://" + s.httpAddr + "/readyz"); err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("/readyz during a failed reload: %v %v", resp, err)
	}
	m := s.metrics(t, "")
	if metric(m, "tfgate_policy_last_reload_ok") != 0 || metric(m, `tfgate_policy_reloads_total{result="failure"}`) != 1 ||
		metric(m, fmt.Sprintf(`tfgate_policy_info{revision=%q,source="dir"}`, revision)) != 1 {
		t.Errorf("policy metrics during a failed reload:\n%s", grepLines(m, "tfgate_policy"))
	}
	if !strings.Contains(s.logs.String(), "policy reload failed") {
		t.Error("no \"policy reload failed\" in the log")
	}
	stale := s.do(t, model, bearer(obsAlice))
	root, _ = s.spans(t, stale, 4)
	wantAttrs(t, root, map[string]string{"tfgate.outcome": "allow", "tfgate.policy_revision": revision})
	writeFileAtomic(t, filepath.Join(s.policyDir, "tfgate.rego"), []byte(string(good)))
	waitFor(t, 5*time.Second, "\"policy restored\" in the log", func() bool { return strings.Contains(s.logs.String(), "policy restored") })
	if st := s.statusz(t); !st.Policy.LastReloadOK || st.Policy.Revision != revision {
		t.Errorf("/statusz after the fix: %+v", st.Policy)
	}

	// Redis down: carol's session is in no cache, so the Check cannot be
	// decided; Envoy fails closed with status_on_error (403).
	s.redis.Stop()
	down := s.do(t, model, bearer(obsCarol))
	if down.status != http.StatusForbidden {
		t.Fatalf("Redis down: status %d, want Envoy's 403", down.status)
	}
	root, stages = s.spans(t, down, 3)
	wantAttrs(t, root, map[string]string{"tfgate.outcome": "error", "tfgate.request_id": down.requestID})
	if !root.StatusError || !stages["tfgate.session_lookup"].StatusError {
		t.Errorf("Redis down: spans not in error: %+v %+v", root, stages["tfgate.session_lookup"])
	}
	if line := s.decision(t, down); line["reason"] != "could not decide" || line["error"] == nil {
		t.Errorf("could-not-decide line %v", line)
	}
	waitFor(t, 5*time.Second, "tfgate_redis_up 0", func() bool { return metric(s.metrics(t, ""), "tfgate_redis_up") == 0 })
	if st := s.statusz(t); st.Sessions.Healthy || st.Sessions.Mode != "standalone" || st.Sessions.Error == "" || st.Ready {
		t.Errorf("/statusz with Redis down: %+v", st.Sessions)
	}
	s.redis.Restart()

	// Every outcome in the metrics, and the allow trace as an exemplar.
	m = s.metrics(t, "")
	for series, want := range map[string]float64{
		`tfgate_checks_total{kind="",result="allow"}`:               3,
		`tfgate_checks_total{kind="forbidden",result="deny"}`:       1,
		`tfgate_checks_total{kind="unauthenticated",result="deny"}`: 2, // and the favicon
		`tfgate_checks_total{kind="",result="error"}`:               1,
		`tfgate_check_duration_seconds_count{result="allow"}`:       3,
		`tfgate_check_duration_seconds_count{result="error"}`:       1,
		`tfgate_decision_log_skipped_total`:                         1,
		`tfgate_checks_in_flight`:                                   0,
		`tfgate_session_cache_lookups_total{result="hit"}`:          2,
		`tfgate_policy_decision_cache_lookups_total{result="hit"}`:  2,
		`tfgate_policy_engine{engine="compiled"}`:                   1,
		`tfgate_policy_engine{engine="topdown"}`:                    0,
	} {
		if got := metric(m, series); got != want {
			t.Errorf("%s = %v, want %v", series, got, want)
		}
	}
	// Redis saw alice, bob and carol once each; alice's other Checks hit
	// the cache.
	if lookups := metric(m, `tfgate_session_lookup_duration_seconds_count{source="store",store="redis"}`); lookups != 3 {
		t.Errorf("Redis lookups %v, want 3", lookups)
	}
	if hits := metric(m, `tfgate_session_lookup_duration_seconds_count{source="cache",store="redis"}`); hits != 2 {
		t.Errorf("timed cache hits %v, want 2:\n%s", hits, grepLines(m, "lookup_duration_seconds_count"))
	}
	if metric(m, "tfgate_session_invalidation_lag_seconds_count") < 0 {
		t.Error("no tfgate_session_invalidation_lag_seconds")
	}
	if metric(m, `tfgate_session_redis_errors_total{kind="connection"}`)+metric(m, `tfgate_session_redis_errors_total{kind="timeout"}`)+
		metric(m, `tfgate_session_redis_errors_total{kind="other"}`) != 1 {
		t.Errorf("Redis errors:\n%s", grepLines(m, "redis_errors"))
	}
	if !strings.Contains(m, `tfgate_build_info{goversion=`) {
		t.Error("no tfgate_build_info")
	}
	om := s.metrics(t, "application/openmetrics-text; version=1.0.0")
	if !strings.Contains(grepLines(om, "tfgate_check_duration_seconds_bucket"), `# {trace_id="`+allow.traceID+`"}`) &&
		!strings.Contains(grepLines(om, "tfgate_check_duration_seconds_bucket"), `trace_id="`+again.traceID+`"`) &&
		!strings.Contains(grepLines(om, "tfgate_check_duration_seconds_bucket"), `trace_id="`+stale.traceID+`"`) {
		t.Errorf("no allow trace id as an exemplar:\n%s", grepLines(om, "tfgate_check_duration_seconds_bucket"))
	}
	data, _ := os.ReadFile(s.decisions)
	if strings.Contains(string(data), noise.requestID) || strings.Contains(string(data), "favicon") {
		t.Error("browser noise reached the decision log")
	}
	if strings.Contains(string(data), "tfg_") || strings.Contains(s.logs.String(), "tfg_") {
		t.Error("a token reached a log")
	}
}

func grepLines(text, substr string) string {
	var out []string
	for l := range strings.SplitSeq(text, "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
