package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/tfgate/tfgate/internal/cliclient"
)

// TestClientExamples runs every example of the README's client guide
// (examples/) against `extauthz dev`, signed in with `extauthz login`, with
// the real extauthz binary on the PATH.
func TestClientExamples(t *testing.T) {
	stack := startDevStack(t)
	devLogin(t, stack.rest, "alice") // sets $TFGATE_CONFIG_DIR for the commands below
	bin := t.TempDir()
	goBuild(t, filepath.Join(bin, "extauthz"), ".")
	goBuild(t, filepath.Join(bin, "go-grpc"), "../../examples/go-grpc")
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	t.Setenv("PYTHONDONTWRITEBYTECODE", "1")
	examples := filepath.Join("..", "..", "examples")
	const python = "/usr/bin/python3" // Debian's, where python3-requests and python3-grpcio install
	const want = "[2.5, 3.0, 4.5]"

	t.Run("curl", func(t *testing.T) {
		out := runExample(t, nil, "sh", filepath.Join(examples, "curl.sh"), stack.rest)
		if !strings.Contains(strings.ReplaceAll(out, " ", ""), `"predictions":[2.5,3.0,4.5]`) {
			t.Errorf("curl.sh printed %s", out)
		}
	})
	t.Run("curl not signed in", func(t *testing.T) {
		cmd := exec.CommandContext(t.Context(), "sh", filepath.Join(examples, "curl.sh"), stack.rest)
		cmd.Env = append(os.Environ(), cliclient.ConfigDirEnv+"="+t.TempDir())
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err == nil || stdout.Len() != 0 ||
			!strings.Contains(stderr.String(), "not signed in to "+stack.rest+": run `extauthz login --server "+stack.rest+"`") {
			t.Errorf("%v\nstdout: %s\nstderr: %s", err, stdout.String(), stderr.String())
		}
	})
	t.Run("go grpc", func(t *testing.T) {
		out := runExample(t, nil, "go-grpc", "-addr", stack.grpc, "-server", stack.rest, "-plaintext")
		if strings.TrimSpace(out) != "y = [2.5 3 4.5]" {
			t.Errorf("go-grpc printed %q", out)
		}
	})
	t.Run("python requests", func(t *testing.T) {
		needPython(t, python, "requests")
		out := runExample(t, nil, python, filepath.Join(examples, "predict_requests.py"), stack.rest)
		if strings.TrimSpace(out) != want {
			t.Errorf("predict_requests.py printed %q", out)
		}
	})
	t.Run("python grpc", func(t *testing.T) {
		// Real grpcio; tensorflow and tensorflow-serving-api are stand-ins
		// (testdata/pyshim/README.md) that send TF Serving's own bytes.
		needPython(t, python, "grpc", "google.protobuf")
		shim, err := filepath.Abs(filepath.Join("testdata", "pyshim"))
		if err != nil {
			t.Fatal(err)
		}
		env := []string{"PYTHONPATH=" + shim}
		for _, args := range [][]string{nil, {"--renew"}} {
			argv := append([]string{filepath.Join(examples, "predict_grpc.py"), stack.grpc, stack.rest}, args...)
			if out := runExample(t, env, python, argv...); strings.TrimSpace(out) != want {
				t.Errorf("predict_grpc.py %v printed %q", args, out)
			}
		}
	})
	t.Run("python syntax", func(t *testing.T) {
		// py_compile with the system python, whatever is installed.
		runExample(t, []string{"PYTHONPYCACHEPREFIX=" + t.TempDir()}, python, "-m", "py_compile",
			filepath.Join(examples, "predict_requests.py"), filepath.Join(examples, "predict_grpc.py"))
	})
}

// runExample runs a command with extra environment and returns its stdout,
// failing the test with its stderr when it fails.
func runExample(t *testing.T, env []string, name string, args ...string) string {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), name, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\nstdout: %s\nstderr: %s", name, strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String()
}

// goBuild builds the package in dir into out with the go command running
// the tests.
func goBuild(t *testing.T, out, dir string) {
	t.Helper()
	goCmd, err := exec.LookPath("go")
	if err != nil {
		goCmd = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	cmd := exec.CommandContext(t.Context(), goCmd, "build", "-o", out, dir)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", dir, err, b)
	}
}

// needPython checks python can import every module, and fails (never
// skips) with the Debian packages to install when it cannot.
func needPython(t *testing.T, python string, modules ...string) {
	t.Helper()
	script := "import " + strings.Join(modules, ", ")
	if b, err := exec.CommandContext(t.Context(), python, "-c", script).CombinedOutput(); err != nil {
		t.Fatalf("%s cannot %q (%v: %s): install Debian's packages with "+
			"`apt-get install -y python3-requests python3-grpcio python3-protobuf`", python, script, err, bytes.TrimSpace(b))
	}
}
