package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/tfgate/tfgate/rego"
)

func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// parseFlags parses args, turning -h into errHelp and bad flags into
// errUsage (the flag package has already printed the problem).
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return errHelp
		}
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	return nil
}

func serveCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("serve", stderr)
	configPath := fs.String("config", "", "config file (default: embedded defaults)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	cfg := DefaultConfig()
	if *configPath != "" {
		var err error
		if cfg, err = LoadConfig(*configPath); err != nil {
			return err
		}
	}
	return serve(ctx, cfg, stdout, stderr)
}

func configCheckCmd(args []string, stdout, stderr io.Writer) error {
	if len(args) != 1 {
		return fmt.Errorf("%w: extauthz config check FILE", errUsage)
	}
	if _, err := LoadConfig(args[0]); err != nil {
		fmt.Fprintf(stderr, "%v\n", err)
		return errFailed
	}
	fmt.Fprintf(stdout, "%s: ok\n", args[0])
	return nil
}

func policyTestCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("policy test", stderr)
	verbose := fs.Bool("v", false, "print every test, not only failures")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	dir := fs.Arg(0)
	passed, failed, err := rego.RunTests(ctx, dir, stdout, *verbose)
	if err != nil {
		return fmt.Errorf("running policy tests: %w", err)
	}
	if failed > 0 || passed == 0 {
		if passed == 0 && failed == 0 {
			fmt.Fprintln(stderr, "no policy tests found (files named *_test.rego)")
		}
		return errFailed
	}
	return nil
}

func policyEvalCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("policy eval", stderr)
	input := fs.String("input", "", "JSON input document (- for stdin); see the README for its shape")
	dir := fs.String("policy", "", "policy directory (default: the embedded policy)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *input == "" {
		return fmt.Errorf("%w: --input FILE is required", errUsage)
	}
	var data []byte
	var err error
	if *input == "-" {
		data, err = io.ReadAll(os.Stdin)
	} else {
		data, err = os.ReadFile(*input)
	}
	if err != nil {
		return fmt.Errorf("reading input: %w", err)
	}
	v, err := rego.EvalInput(ctx, *dir, data)
	if err != nil {
		return err
	}
	out := map[string]any{"allow": v.Allow, "reason": v.Reason}
	if v.Status != 0 {
		out["status"] = v.Status
	}
	if len(v.Headers) > 0 {
		out["headers"] = v.Headers
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}
