package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tfgate/tfgate/internal/redistest"
)

// TestConfigCheckGolden: one run of `config check` on a file with every
// kind of mistake lists them all, sorted by line, each with its line and
// field (type errors included), on stderr, and exits 1.
func TestConfigCheckGolden(t *testing.T) {
	t.Parallel()
	code, out, errOut := runOut(t, "config", "check", "testdata/config/bad.yaml")
	if code != 1 || out != "" {
		t.Fatalf("exit %d, stdout %q", code, out)
	}
	golden(t, "config-check-bad.golden", errOut)
	lines := strings.Split(strings.TrimSpace(errOut), "\n")[1:]
	last := 0
	for _, l := range lines {
		var n int
		if _, err := fmt.Sscanf(l, "  line %d:", &n); err != nil || n < last {
			t.Errorf("not sorted by line, or no line: %q", l)
		}
		last = n
	}
	if len(lines) < 15 {
		t.Errorf("%d problems, want every one in the file", len(lines))
	}

	code, out, _ = runOut(t, "config", "check", "../../extauthz.example.yaml")
	if code != 0 || out != "../../extauthz.example.yaml: ok\n" {
		t.Errorf("example config: exit %d, %q", code, out)
	}
}

// TestConfigCheckOnline: --online finds what only serve's start would:
// a Redis that does not answer, an IdP metadata URL that does not answer,
// a policy directory whose Rego does not compile, a decision log that
// cannot be created; and passes a config whose services are all there.
func TestConfigCheckOnline(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	policy := filepath.Join(dir, "policy")
	if err := os.MkdirAll(policy, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(policy, "p.rego"), []byte("package tfgate.authz\n\ndecision := {\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	readOnly := filepath.Join(dir, "ro")
	if err := os.MkdirAll(readOnly, 0o555); err != nil {
		t.Fatal(err)
	}
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := dead.Addr().String()
	dead.Close() // nothing listens there now

	bad := filepath.Join(dir, "bad.yaml")
	writeFile(t, bad, fmt.Sprintf(`decision_log:
  path: %s/decisions.log
sessions:
  store: redis
  redis:
    addrs: [%q]
    dial_timeout: 200ms
policy:
  dir: %s
saml:
  base_url: https://serving.example.com
  idps:
    - name: corp
      metadata_url: https://%s/metadata
`, readOnly, deadAddr, policy, deadAddr))
	code, out, errOut := runOut(t, "config", "check", bad)
	if code != 0 {
		t.Fatalf("offline check of a valid file: exit %d %s%s", code, out, errOut)
	}
	code, out, errOut = runOut(t, "config", "check", "--online", bad)
	if code != 1 || out != "" {
		t.Fatalf("exit %d, stdout %q", code, out)
	}
	for _, want := range []string{"line 2: decision_log.path: cannot create it", "line 5: sessions.redis: Redis does not answer",
		"line 9: policy.dir: the policy does not load", "line 14: saml.idps[0].metadata_url:"} {
		if os.Getuid() == 0 && strings.HasPrefix(want, "line 2:") {
			continue // root writes into a read-only directory
		}
		if !strings.Contains(errOut, want) {
			t.Errorf("no %q in:\n%s", want, errOut)
		}
	}

	good := filepath.Join(dir, "good.yaml")
	writeFile(t, good, fmt.Sprintf("decision_log:\n  path: %s/decisions.log\nsessions:\n  store: redis\n  redis:\n    addrs: [%q]\n",
		dir, redistest.Start(t).Addr))
	code, out, errOut = runOut(t, "config", "check", "--online", good)
	if code != 0 || !strings.Contains(out, "ok (online") {
		t.Fatalf("exit %d: %s%s", code, out, errOut)
	}
	if _, err := os.Stat(filepath.Join(dir, "decisions.log")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the check created the decision log: %v", err)
	}
}

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}
