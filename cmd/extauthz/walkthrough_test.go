package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestServeWalkthrough runs every sh block of docs/serve-walkthrough.md in
// order, in one bash, with the extauthz built from this tree on PATH and
// free loopback ports instead of the page's: the page's commands must work
// as written and print what the page says they print.
func TestServeWalkthrough(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl not found (scripts/install-deps.sh installs it)")
	}
	doc, err := os.ReadFile("../../docs/serve-walkthrough.md")
	if err != nil {
		t.Fatal(err)
	}
	var script strings.Builder
	for _, m := range regexp.MustCompile("(?s)```sh\n(.*?)```").FindAllStringSubmatch(string(doc), -1) {
		script.WriteString(m[1])
	}
	const exportLine = "export IDP=127.0.0.1:8081 HTTP=127.0.0.1:8080 GRPC=127.0.0.1:9191\n"
	if !strings.Contains(script.String(), exportLine) || !strings.Contains(script.String(), "kill %1 %2") {
		t.Fatalf("the walkthrough's blocks changed shape:\n%s", script.String())
	}
	free := func() string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		return ln.Addr().String()
	}
	idp := free()
	body := strings.Replace(script.String(), exportLine, fmt.Sprintf("export IDP=%s HTTP=%s GRPC=%s\n", idp, free(), free()), 1)

	bin := t.TempDir()
	build := exec.Command("go", "build", "-o", filepath.Join(bin, "extauthz"), ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	dir := t.TempDir()
	// If a step fails, the background servers must not outlive the test.
	cmd := exec.Command("bash", "-euo", "pipefail", "-c", "trap 'kill $(jobs -p) 2>/dev/null || true' EXIT\n"+body)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		logs, _ := exec.Command("sh", "-c", "cat tfgate-demo/*.log").CombinedOutput()
		t.Fatalf("the walkthrough failed: %v\n%s\nlogs:\n%s", err, out, logs)
	}
	for _, want := range []string{"extauthz.yaml: ok (online", `{"status":"ready"}`, "302 http://" + idp + "/"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the walkthrough's output has no %q:\n%s", want, out)
		}
	}
}
