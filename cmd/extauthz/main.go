// Command extauthz is tfgate: an Envoy ext_authz server that puts SAML
// single sign-on and Rego policy in front of TensorFlow Serving.
//
// Run "extauthz --help" for the commands.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// Exit codes, documented in `extauthz --help` and the README.
const (
	exitOK      = 0 // the command did what it was asked
	exitFailure = 1 // it could not (a bad config, a server that refused, a test that failed)
	exitUsage   = 2 // the command line itself is wrong: see the command's --help
)

func main() {
	adoptProcessLogs = true
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

// errUsage marks a mistake in the command line (exit 2).
var errUsage = errors.New("usage")

// errFailed marks a failure the command has already explained (exit 1,
// nothing more printed).
var errFailed = errors.New("failed")

// errHelp is returned by commands still parsing their own flags with the
// standard flag package (see legacyCommand) when asked for -h.
var errHelp = errors.New("help requested")

// usageError is a mistake in the command line: one line, then a pointer
// to the help of the command it was made in.
type usageError struct {
	cmd string // "extauthz sessions list"
	msg string
}

func (e *usageError) Error() string { return e.msg }
func (e *usageError) Unwrap() error { return errUsage }

// run executes a command line and returns the process exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return execute(ctx, newRootCmd(stdout, stderr), args, stderr)
}

// execute runs args on a command tree and returns the exit code.
func execute(ctx context.Context, root *cobra.Command, args []string, stderr io.Writer) int {
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return exitOK
	}
	if errors.Is(err, errFailed) {
		return exitFailure
	}
	if ue, ok := asUsage(cmd, err); ok {
		fmt.Fprintf(stderr, "%s: %s\nRun '%s --help' for usage.\n", ue.cmd, firstLine(ue.msg), ue.cmd)
		return exitUsage
	}
	fmt.Fprintf(stderr, "extauthz: %v\n", err)
	return exitFailure
}

// asUsage recognises usage errors: ours, and cobra's own (unknown command,
// unknown flag, wrong number of arguments), which it returns as plain errors.
func asUsage(cmd *cobra.Command, err error) (*usageError, bool) {
	path := "extauthz"
	if cmd != nil {
		path = cmd.CommandPath()
	}
	var ue *usageError
	if errors.As(err, &ue) {
		if ue.cmd == "" {
			ue.cmd = path
		}
		return ue, true
	}
	if errors.Is(err, errUsage) {
		return &usageError{cmd: path, msg: strings.TrimPrefix(err.Error(), "usage: ")}, true
	}
	msg := err.Error()
	for _, p := range []string{"unknown command ", "unknown flag", "unknown shorthand flag", "flag needs an argument",
		"invalid argument ", "accepts ", "requires at least", "required flag", "if any flags in the group"} {
		if strings.HasPrefix(msg, p) {
			return &usageError{cmd: path, msg: msg}, true
		}
	}
	return nil, false
}

// firstLine keeps the first line of a message.
func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
