package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/health"

	"github.com/tfgate/tfgate/authz"
	"github.com/tfgate/tfgate/authz/session"
	"github.com/tfgate/tfgate/internal/redistest"
	"github.com/tfgate/tfgate/rego"
)

var testPrefixes atomic.Int64

// writeRedisConfig writes a config file with sessions in Redis: redisBody
// is the content of sessions.redis (indented by four spaces), sessionsBody
// more of sessions (two spaces). Every file gets its own key prefix.
func writeRedisConfig(t *testing.T, redisBody, sessionsBody string) (string, Config) {
	t.Helper()
	text := fmt.Sprintf("sessions:\n  store: redis\n%s  redis:\n    prefix: \"cmdtest:%d:\"\n%s",
		sessionsBody, testPrefixes.Add(1), redisBody)
	path := filepath.Join(t.TempDir(), "extauthz.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfig(path)
	if err != nil {
		t.Fatalf("config:\n%s\n%v", text, err)
	}
	return path, cfg
}

func discardLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// replica is one running tfgate's session side and Check pipeline.
type replica struct {
	store *sessionStore
	authz *authz.Authorizer
}

// startReplica wires a session store and an Authorizer as serve does, with
// the embedded policy, and runs the store's background work until the test
// ends.
func startReplica(t *testing.T, cfg Config) *replica {
	t.Helper()
	store, err := newSessionStore(cfg.Sessions, discardLog())
	if err != nil {
		t.Fatal(err)
	}
	policy, err := rego.New(context.Background(), rego.Config{})
	if err != nil {
		t.Fatal(err)
	}
	a, err := authz.New(authz.Config{Sessions: store.Sessions, Policy: policy})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = store.Run(ctx, health.NewServer()) }()
	t.Cleanup(func() { cancel(); <-done; store.Close() })
	return &replica{store: store, authz: a}
}

// checkRequest is a REST predict on a model the default policy grants to
// ml-engineers.
func checkRequest(token string) *authz.Request {
	return &authz.Request{
		Method: "POST", Path: "/v1/models/half_plus_two/versions/1:predict",
		Header: http.Header{"Authorization": {"Bearer " + token}},
	}
}

// allowed runs one Check; an error (could not decide) fails the test.
func (r *replica) allowed(t *testing.T, token string) bool {
	t.Helper()
	d, err := r.authz.Check(context.Background(), checkRequest(token))
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	return d.Allow
}

// signIn stores a session for subject the way the SAML SP does.
func signIn(t *testing.T, cfg Config, subject string, ttl time.Duration, groups ...string) string {
	t.Helper()
	r, client, err := newRedisStore(cfg.Sessions)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	tok, err := authz.NewToken(nil)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	s := authz.Session{Subject: subject, Email: subject, Groups: groups, CreatedAt: now, ExpiresAt: now.Add(ttl)}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := r.Create(ctx, tok, s); err != nil {
		t.Fatalf("Create: %v", err)
	}
	return tok
}

// extauthz runs the command line and returns its exit code and output.
func extauthz(t *testing.T, args ...string) (int, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(context.Background(), args, &out, &errOut)
	return code, out.String() + errOut.String()
}

// TestSessionsAcrossReplicas runs two tfgate replicas on one Redis in each
// deployment mode, configured from a file as `extauthz serve` is: sessions
// created by the SP are allowed on both, cached on both, expire, and
// `extauthz sessions revoke` on the command line (a third process, as it
// were) reaches both within a second although the caches' TTL is a minute:
// only the pub/sub invalidation can do that.
func TestSessionsAcrossReplicas(t *testing.T) {
	t.Parallel()
	deployments := map[string]func(t *testing.T) string{
		"standalone": func(t *testing.T) string {
			return "    addrs: [\"" + redistest.Start(t).Addr + "\"]\n"
		},
		"cluster": func(t *testing.T) string {
			c := redistest.StartCluster(t, 3, 0)
			return "    mode: cluster\n    addrs: [\"" + c.Addrs[0] + "\", \"" + c.Addrs[1] + "\"]\n"
		},
		"sentinel": func(t *testing.T) string {
			s := redistest.StartSentinel(t, 1)
			return "    mode: sentinel\n    url: redis://" + s.Addr + "?master_name=" + s.MasterName + "\n"
		},
	}
	for name, start := range deployments {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			// The 50ms budget is TestOutageFailsClosedUnderLoad's business;
			// here a slow moment of a busy machine must not fail a Check.
			file, cfg := writeRedisConfig(t, start(t)+"    timeout: 1s\n    cache:\n      ttl: 1m\n", "")
			a, b := startReplica(t, cfg), startReplica(t, cfg)
			testRevocationReachesReplicas(t, file, cfg, a, b)
			testExpiryThroughCache(t, cfg, a)
			testSessionsStats(t, file)
		})
	}
}

func testRevocationReachesReplicas(t *testing.T, file string, cfg Config, a, b *replica) {
	revocations := map[string]func(tok string) []string{
		"--session": func(tok string) []string { return []string{"--session", authz.SessionHandle(tok)} },
		"--user":    func(string) []string { return []string{"--user", "alice@example.com"} },
		"--group":   func(string) []string { return []string{"--group", "ml-engineers"} },
	}
	for how, args := range revocations {
		tok := signIn(t, cfg, "alice@example.com", time.Hour, "ml-engineers")
		for _, r := range []*replica{a, b} {
			waitFor(t, 5*time.Second, "the session to be allowed and cached", func() bool {
				return r.allowed(t, tok) && r.store.cache.Len() > 0
			})
		}
		code, out := extauthz(t, "sessions", "list", "--user", "alice@example.com", "--config", file)
		if code != 0 || !strings.Contains(out, authz.SessionHandle(tok)) || strings.Contains(out, tok) {
			t.Fatalf("sessions list: exit %d, output:\n%s\nwant the handle and never the token", code, out)
		}
		code, out = extauthz(t, append([]string{"sessions", "revoke", "--config", file}, args(tok)...)...)
		if code != 0 || !strings.Contains(out, "revoked 1 session(s)") {
			t.Fatalf("sessions revoke %s: exit %d, output:\n%s", how, code, out)
		}
		start := time.Now()
		for i, r := range []*replica{a, b} {
			waitFor(t, time.Second, fmt.Sprintf("revoke %s to reach replica %d", how, i), func() bool {
				return !r.allowed(t, tok)
			})
		}
		t.Logf("revoke %s refused on both replicas after %v", how, time.Since(start))
	}
	// Nothing left: revoking again and listing are "not found" (exit 1),
	// with a hint about how subjects are spelled, and no go-redis noise.
	code, out := extauthz(t, "sessions", "revoke", "--user", "alice@example.com", "--config", file)
	if code != 1 || !strings.Contains(out, `nothing to revoke: no live session of user "alice@example.com"`) {
		t.Errorf("revoking nothing: exit %d, output:\n%s", code, out)
	}
	code, out = extauthz(t, "sessions", "list", "--user", "alice", "--config", file)
	if code != 1 || !strings.Contains(out, `no live sessions of "alice"`) || !strings.Contains(out, "SAML NameID") || strings.Contains(out, "SESSION") {
		t.Errorf("listing nobody: exit %d, output:\n%s", code, out)
	}
}

// testExpiryThroughCache: a cached session is never served past its end.
func testExpiryThroughCache(t *testing.T, cfg Config, r *replica) {
	tok := signIn(t, cfg, "bob@example.com", 1500*time.Millisecond, "ml-engineers")
	if !r.allowed(t, tok) {
		t.Fatal("a fresh session was refused")
	}
	time.Sleep(1600 * time.Millisecond)
	if r.allowed(t, tok) {
		t.Error("a cached session was allowed after it expired")
	}
}

func testSessionsStats(t *testing.T, file string) {
	code, out := extauthz(t, "sessions", "stats", "--config", file)
	if code != 0 || !strings.Contains(out, "sessions") || !strings.Contains(out, "       2  servers listening for revocations") {
		t.Errorf("sessions stats: exit %d, output:\n%s\nwant two subscribers (the replicas)", code, out)
	}
	for _, want := range []string{"sign-ins with tokens (families)", "recently revoked families", "sign-ins in progress"} {
		if !strings.Contains(out, want) {
			t.Errorf("sessions stats: output:\n%s\nwant a %s line", out, want)
		}
	}
	code, out = extauthz(t, "sessions", "stats", "--json", "--config", file)
	var m map[string]int
	if code != 0 || json.Unmarshal([]byte(out), &m) != nil {
		t.Fatalf("sessions stats --json: exit %d, output:\n%s\nwant a JSON object", code, out)
	}
	for _, want := range []string{"sessions", "family_indexes", "revoked_families", "cache_subscribers"} {
		if _, ok := m[want]; !ok {
			t.Errorf("sessions stats --json: %v has no %q", m, want)
		}
	}
	if m["cache_subscribers"] != 2 {
		t.Errorf("sessions stats --json: cache_subscribers = %d, want 2", m["cache_subscribers"])
	}
}

func TestSessionsCommandErrors(t *testing.T) {
	t.Parallel()
	memory := filepath.Join(t.TempDir(), "memory.yaml")
	if err := os.WriteFile(memory, []byte("sessions:\n  store: memory\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := map[string]struct {
		args []string
		code int
		want string
	}{
		"no subcommand": {[]string{"sessions"}, 2, "missing command: one of list, revoke, stats"},
		"unknown":       {[]string{"sessions", "purge"}, 2, `unknown command "purge"`},
		"no config":     {[]string{"sessions", "stats"}, 2, "--config FILE is required"},
		"memory store":  {[]string{"sessions", "stats", "--config", memory}, 1, `sessions.store is "memory"`},
		// A mistake in the command line is found before the config is read.
		"list without user": {[]string{"sessions", "list", "--config", memory}, 2, "--user is required"},
		"two targets":       {[]string{"sessions", "revoke", "--user", "a", "--group", "b", "--config", memory}, 2, "exactly one of"},
	}
	for name, tc := range tests {
		code, out := extauthz(t, tc.args...)
		if code != tc.code || !strings.Contains(out, tc.want) {
			t.Errorf("%s: exit %d, output %q; want exit %d mentioning %q", name, code, out, tc.code, tc.want)
		}
	}
	// Argument checks that need a Redis config (nothing is dialled first).
	file, _ := writeRedisConfig(t, "    addrs: [\"127.0.0.1:1\"]\n", "")
	for args, want := range map[string]string{
		"revoke --user a --group b": "exactly one of --user, --group, --session",
		"revoke":                    "exactly one of --user, --group, --session",
		"revoke --session nothex":   "not a session handle",
		"list":                      "sessions list: --user is required",
	} {
		code, out := extauthz(t, append(append([]string{"sessions"}, strings.Fields(args)...), "--config", file)...)
		if code != 2 || !strings.Contains(out, want) {
			t.Errorf("sessions %s: exit %d, output %q; want exit 2 mentioning %q", args, code, out, want)
		}
	}
}

// waitFor polls cond every few milliseconds until it holds or d passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(d); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s", d, what)
		}
	}
}

// TestSessionsListGolden lists one user's sessions of every kind, stored
// in a real redis-server as the servers store them, and compares the table
// with testdata/cli/sessions-list.golden: kind, IdP, creation, last use,
// expiry (the idle timeout's when sooner) and groups, read from each
// session's sealed metadata record; "-" for a session stored without one.
// Tokens are fixed, so the handles are too; times are relative to the
// minute, so the table does not depend on when the test runs.
func TestSessionsListGolden(t *testing.T) {
	t.Parallel()
	file, cfg := writeRedisConfig(t, "    addrs: [\""+redistest.Start(t).Addr+"\"]\n", "  idle_timeout: 30m\n")
	store, client, err := newRedisStore(cfg.Sessions)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	ctx := context.Background()
	now := time.Now()
	const idp = "https://idp.example.com/saml/metadata"
	root := authz.SessionHandle("tfg_golden_browser")
	sessions := []struct {
		token string
		s     authz.Session
	}{
		{"tfg_golden_browser", authz.Session{IdP: idp, CreatedAt: now.Add(-2 * time.Hour), ExpiresAt: now.Add(time.Hour)}},
		{"tfg_golden_cli", authz.Session{IdP: idp, Family: root + "/g1", CreatedAt: now.Add(-time.Hour), ExpiresAt: now.Add(2 * time.Hour)}},
		{"tfg_golden_cli_refresh", authz.Session{IdP: idp, Family: root + "/g1", Access: "x", CreatedAt: now.Add(-time.Hour), ExpiresAt: now.Add(3 * time.Hour)}},
		{"tfg_golden_token", authz.Session{IdP: idp, Family: "f2", CreatedAt: now.Add(-30 * time.Minute), ExpiresAt: now.Add(4 * time.Hour)}},
		{"tfg_golden_token_refresh", authz.Session{IdP: idp, Family: "f2", Access: "x", CreatedAt: now.Add(-30 * time.Minute), ExpiresAt: now.Add(5 * time.Hour)}},
		{"tfg_golden_k8s", authz.Session{Auth: authz.AuthK8s, Family: "f3", Groups: []string{"system:serviceaccounts"}, CreatedAt: now.Add(-3 * time.Minute), ExpiresAt: now.Add(6*time.Hour + 30*time.Minute)}},
		{"tfg_golden_old", authz.Session{IdP: idp, CreatedAt: now.Add(-3 * time.Hour), ExpiresAt: now.Add(7 * time.Hour)}},
	}
	for _, c := range sessions {
		c.s.Subject, c.s.Email = "alice", "alice@example.com"
		if c.s.Groups == nil {
			c.s.Groups = []string{"ml-engineers", "ml-readers"}
		}
		if err := store.Create(ctx, c.token, c.s); err != nil {
			t.Fatalf("Create %s: %v", c.token, err)
		}
	}
	// A session stored before metadata records existed has none.
	old := cfg.Sessions.Redis.Prefix + "m:{" + authz.SessionHandle("tfg_golden_old") + "}"
	if n, err := client.Del(ctx, old).Result(); err != nil || n != 1 {
		t.Fatalf("DEL %s = %d, %v", old, n, err)
	}
	// Uses five minutes ago, by a server whose clock says so: the idle
	// write (every millisecond here) records the browser's, and the
	// once-a-minute write the CLI token's.
	fiveAgo, err := session.NewRedis(client, session.RedisConfig{
		Prefix: cfg.Sessions.Redis.Prefix, Timeout: time.Second,
		Lifetime: session.Lifetime{Idle: 30 * time.Minute, TouchInterval: time.Millisecond},
		Now:      func() time.Time { return time.Now().Add(-5 * time.Minute) },
	})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Millisecond) // so the idle deadline has run down by TouchInterval
	for _, tok := range []string{"tfg_golden_browser", "tfg_golden_cli"} {
		if _, err := fiveAgo.Lookup(ctx, tok); err != nil {
			t.Fatalf("Lookup %s: %v", tok, err)
		}
	}

	code, out, errOut := runOut(t, "sessions", "list", "--user", "alice", "--config", file)
	if code != 0 || errOut != "" {
		t.Fatalf("sessions list: exit %d, stderr:\n%s", code, errOut)
	}
	golden(t, "sessions-list.golden", out)

	code, out, errOut = runOut(t, "sessions", "list", "--user", "alice", "--json", "--config", file)
	var rows []struct {
		Session   string    `json:"session"`
		Kind      string    `json:"kind"`
		IdP       string    `json:"idp"`
		CreatedAt time.Time `json:"created_at"`
		LastUsed  time.Time `json:"last_used"`
		ExpiresAt time.Time `json:"expires_at"`
		IdleUntil time.Time `json:"idle_until"`
		Groups    []string  `json:"groups"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &rows) != nil || len(rows) != len(sessions) {
		t.Fatalf("sessions list --json: exit %d, output:\n%s%s\nwant %d rows", code, out, errOut, len(sessions))
	}
	b := rows[0]
	if b.Session != root || b.Kind != session.KindBrowser || b.IdP != idp ||
		!b.CreatedAt.Equal(sessions[0].s.CreatedAt.Truncate(time.Nanosecond).UTC()) ||
		b.LastUsed.IsZero() || !b.IdleUntil.Before(b.ExpiresAt) || strings.Join(b.Groups, ",") != "ml-engineers,ml-readers" {
		t.Errorf("sessions list --json: the browser session is %+v", b)
	}
	if last := rows[len(rows)-1]; last.Kind != "" || !last.CreatedAt.IsZero() {
		t.Errorf("sessions list --json: the session without a record is %+v, want no kind or times", last)
	}
	if strings.Contains(out, "tfg_golden") {
		t.Errorf("sessions list --json prints a token:\n%s", out)
	}
}
