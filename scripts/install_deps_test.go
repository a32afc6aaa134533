// Package scripts holds the shell scripts shared by make and CI; this test
// runs install-deps.sh.
package scripts_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestInstallDepsNamesWhatIsMissing runs install-deps.sh with a PATH that
// has a shell but none of the tools: it must not try to install anything
// (no apt-get on that PATH), exit 1, and name each missing package with
// the command that installs it.
func TestInstallDepsNamesWhatIsMissing(t *testing.T) {
	t.Parallel()
	bin := t.TempDir()
	for _, tool := range []string{"bash", "id", "env"} {
		p, err := exec.LookPath(tool)
		if err != nil {
			t.Skipf("%s: %v", tool, err)
		}
		if err := os.Symlink(p, filepath.Join(bin, tool)); err != nil {
			t.Fatal(err)
		}
	}
	for _, args := range [][]string{{"--check"}, nil} {
		cmd := exec.Command(filepath.Join(bin, "bash"), append([]string{"install-deps.sh"}, args...)...)
		cmd.Env = []string{"PATH=" + bin}
		out, err := cmd.CombinedOutput()
		if code := cmd.ProcessState.ExitCode(); code != 1 {
			t.Fatalf("install-deps.sh %v: exit %d (%v)\n%s", args, code, err, out)
		}
		for _, want := range []string{"redis-server: session store tests", "make:", "redis-tools:", "php-cli:"} {
			if !strings.Contains(string(out), want) {
				t.Errorf("install-deps.sh %v does not name %q:\n%s", args, want, out)
			}
		}
		if strings.Contains(string(out), "installing") {
			t.Errorf("install-deps.sh %v tried to install without apt-get:\n%s", args, out)
		}
	}
}

// TestInstallDepsOnThisMachine: on a machine set up for the tests the
// script finds everything and says nothing.
func TestInstallDepsOnThisMachine(t *testing.T) {
	t.Parallel()
	out, err := exec.Command("bash", "install-deps.sh", "--check").CombinedOutput()
	if err != nil || len(out) != 0 {
		t.Fatalf("install-deps.sh --check: %v\n%s", err, out)
	}
}
