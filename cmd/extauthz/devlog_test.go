package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestDevSubprocess is not a test: TestDevLogsOneFormat runs the test
// binary again with TFGATE_DEV_SUBPROCESS set, and this is the process it
// runs: `extauthz dev` as main runs it.
func TestDevSubprocess(t *testing.T) {
	if os.Getenv("TFGATE_DEV_SUBPROCESS") == "" {
		t.Skip("only run as TestDevLogsOneFormat's process")
	}
	adoptProcessLogs = true
	os.Exit(run(context.Background(), []string{"dev", "--rest", "127.0.0.1:0", "--grpc", "127.0.0.1:0",
		"--idp", "127.0.0.1:0", "--check-grpc", "127.0.0.1:0", "--check-http", "127.0.0.1:0"}, os.Stdout, os.Stderr))
}

// slogTextLine is one line of slog's text format.
var slogTextLine = regexp.MustCompile(`^time=\S+ level=(DEBUG|INFO|WARN|ERROR)(\+\d+)? msg=`)

// TestDevLogsOneFormat runs the real dev command with gRPC's logging
// turned up (GRPC_GO_LOG_SEVERITY_LEVEL=info, what an operator sets to
// debug a connection), serves a request through its proxy, stops it, and
// checks that every stderr line is in the one format, gRPC's included.
// (Before, grpclog wrote its own "INFO: [core] ..." lines beside slog's.)
func TestDevLogsOneFormat(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestDevSubprocess$")
	cmd.Env = append(os.Environ(), "TFGATE_DEV_SUBPROCESS=1", "GRPC_GO_LOG_SEVERITY_LEVEL=info", "GRPC_GO_LOG_VERBOSITY_LEVEL=2")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	rest := ""
	lines := bufio.NewScanner(stdout)
	for rest == "" && lines.Scan() {
		if f := strings.Fields(lines.Text()); len(f) >= 4 && f[0] == "TF" && f[2] == "REST" {
			rest = f[3]
		}
	}
	go func() { _, _ = io.Copy(io.Discard, stdout) }()
	if rest == "" {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Fatalf("no banner; stderr:\n%s", stderr.String())
	}
	// Anonymous: 401 through the proxy, tfgate and back.
	resp, err := http.Get(rest + "/v1/models/half_plus_two")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("anonymous request: %d", resp.StatusCode)
	}
	_ = cmd.Process.Signal(os.Interrupt)
	if err := cmd.Wait(); err != nil {
		t.Errorf("dev exited: %v", err)
	}
	var grpcLines, n int
	for l := range strings.SplitSeq(stderr.String(), "\n") {
		if l == "" {
			continue
		}
		n++
		if !slogTextLine.MatchString(l) {
			t.Errorf("a stderr line not in slog's text format: %q", l)
		}
		if strings.Contains(l, "component=grpc") {
			grpcLines++
		}
	}
	if grpcLines == 0 {
		t.Errorf("no gRPC log line among %d (GRPC_GO_LOG_SEVERITY_LEVEL=info): routed nowhere?\n%s", n, stderr.String())
	}
}
