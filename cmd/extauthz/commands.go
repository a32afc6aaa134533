package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
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
