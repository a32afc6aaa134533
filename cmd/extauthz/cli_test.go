package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

var update = flag.Bool("update", false, "rewrite the golden files of the CLI tests")

// runOut runs a command line in-process and returns its exit code, stdout
// and stderr.
func runOut(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(t.Context(), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// golden compares got with testdata/cli/name, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", "cli", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -run %s -update to create it)", err, t.Name())
	}
	if got != string(want) {
		t.Errorf("%s differs from the golden file (go test -run '%s' -update rewrites it):\n--- got\n%s\n--- want\n%s", path, t.Name(), got, want)
	}
}

// allCommands walks the command tree.
func allCommands(c *cobra.Command) []*cobra.Command {
	out := []*cobra.Command{c}
	for _, sub := range c.Commands() {
		out = append(out, allCommands(sub)...)
	}
	return out
}

// TestEveryCommandHasHelp: "CMD --help", "CMD -h" and "help CMD" print
// the command's help on stdout and exit 0, for every command in the tree;
// every command a person runs has an example.
func TestEveryCommandHasHelp(t *testing.T) {
	t.Parallel()
	for _, c := range allCommands(newRootCmd(io.Discard, io.Discard)) {
		path := strings.Fields(c.CommandPath())[1:]
		name := strings.Join(append([]string{"extauthz"}, path...), " ")
		for _, args := range [][]string{append(path[:len(path):len(path)], "--help"), append(path[:len(path):len(path)], "-h"), append([]string{"help"}, path...)} {
			code, out, errOut := runOut(t, args...)
			if code != 0 || errOut != "" || !strings.Contains(out, "Usage:\n  "+name) {
				t.Errorf("extauthz %v: exit %d\nstdout: %s\nstderr: %s", args, code, out, errOut)
			}
		}
		if c.Runnable() && !c.HasSubCommands() && c.Example == "" && !strings.HasPrefix(c.CommandPath(), "extauthz completion") &&
			c.Name() != "version" && c.Name() != "help" {
			t.Errorf("%s has no example", name)
		}
	}
}

// TestHelpGolden pins the help pages a newcomer reads first.
func TestHelpGolden(t *testing.T) {
	t.Parallel()
	for name, args := range map[string][]string{
		"help-root":          {"--help"},
		"help-sessions":      {"sessions", "--help"},
		"help-sessions-list": {"help", "sessions", "list"},
		"help-dev":           {"dev", "--help"},
		"help-login":         {"login", "-h"},
		"help-policy-test":   {"policy", "test", "--help"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			code, out, errOut := runOut(t, args...)
			if code != 0 || errOut != "" {
				t.Fatalf("exit %d, stderr %q", code, errOut)
			}
			golden(t, name+".golden", out)
		})
	}
}

// TestUsageErrors: a mistake in the command line is one line naming the
// command, a pointer to its --help, and exit 2; nothing on stdout.
func TestUsageErrors(t *testing.T) {
	t.Parallel()
	var all strings.Builder
	cases := [][]string{
		{"sesions"},
		{"sessions"},
		{"sessions", "foo"},
		{"sessions", "list", "--config", "x.yaml"},
		{"sessions", "revoke", "--config", "x.yaml"},
		{"serve", "--confg", "x"},
		{"policy", "test", "./dir", "-v", "nonsense"},
		{"policy", "eval"},
		{"config", "check"},
		{"config", "check", "a", "b"},
		{"login"},
		{"login", "--server", "https://x", "--timeout", "soon"},
		{"token", "--nope"},
		{"token", "--token-store", "vault"},
		{"logout", "extra"},
		{"dev", "--rest"},
		{"completion", "tcsh"},
	}
	for _, args := range cases {
		code, out, errOut := runOut(t, args...)
		if code != 2 || out != "" || strings.Count(errOut, "\n") != 2 || !strings.Contains(errOut, "--help' for usage.") {
			t.Errorf("extauthz %v: exit %d\nstdout: %s\nstderr: %s", args, code, out, errOut)
		}
		all.WriteString("$ extauthz " + strings.Join(args, " ") + "\n" + errOut)
	}
	golden(t, "usage-errors.golden", all.String())
}

// TestFlagsInAnyPosition: flags after positional arguments count, so
// "policy test DIR -v" is verbose like "policy test -v DIR".
func TestFlagsInAnyPosition(t *testing.T) {
	t.Parallel()
	dir := filepath.Join("..", "..", "rego", "policies")
	_, quiet, _ := runOut(t, "policy", "test", dir)
	for _, args := range [][]string{{"policy", "test", dir, "-v"}, {"policy", "test", "-v", dir}, {"policy", "test", dir, "--verbose"}} {
		code, out, errOut := runOut(t, args...)
		if code != 0 || strings.Count(out, ": PASS") < 10 || strings.Count(quiet, ": PASS") != 0 {
			t.Errorf("extauthz %v: exit %d, %d PASS lines (quiet run: %d)\n%s", args, code, strings.Count(out, ": PASS"), strings.Count(quiet, ": PASS"), errOut)
		}
	}
}

// TestCompletion: the shells' completion scripts are generated.
func TestCompletion(t *testing.T) {
	t.Parallel()
	for shell, want := range map[string]string{"bash": "__start_extauthz", "zsh": "#compdef extauthz", "fish": "complete -c extauthz"} {
		code, out, _ := runOut(t, "completion", shell)
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("completion %s: exit %d, no %q in %d bytes", shell, code, want, len(out))
		}
	}
}

// TestDevBindErrorNamesTheFlag: a port in use is reported with the flag
// that moves it.
func TestDevBindErrorNamesTheFlag(t *testing.T) {
	t.Parallel()
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	code, _, errOut := runOut(t, "dev", "--rest", "127.0.0.1:0", "--grpc", "127.0.0.1:0", "--idp", "127.0.0.1:0",
		"--check-grpc", "127.0.0.1:0", "--check-http", taken.Addr().String())
	if code != 1 || !regexp.MustCompile(`address already in use \(choose another address with --check-http`).MatchString(errOut) {
		t.Errorf("exit %d: %s", code, errOut)
	}
}

// TestLegacyCommand: a command in the older func(ctx, args, stdout,
// stderr) style registers with one line and keeps its flags, its help
// and the exit codes.
func TestLegacyCommand(t *testing.T) {
	t.Parallel()
	legacy := func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
		fs := newFlagSet("legacy", stderr)
		name := fs.String("name", "", "who")
		if err := parseFlags(fs, args); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "hello %s\n", *name)
		return nil
	}
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"legacy", "--name", "x"}, 0, "hello x\n"},
		{[]string{"legacy", "-h"}, 0, "Usage:\n  extauthz legacy"},
		{[]string{"legacy", "--nope"}, 2, "extauthz legacy: flag provided but not defined: -nope\nRun 'extauthz legacy --help' for usage.\n"},
	} {
		var out, errOut bytes.Buffer
		root := newRootCmd(&out, &errOut)
		root.AddCommand(legacyCommand("legacy", "a command in the older style", legacy))
		code := execute(t.Context(), root, tc.args, &errOut)
		if code != tc.code || !strings.Contains(out.String()+errOut.String(), tc.want) {
			t.Errorf("%v: exit %d\nstdout: %s\nstderr: %s", tc.args, code, out.String(), errOut.String())
		}
	}
}
