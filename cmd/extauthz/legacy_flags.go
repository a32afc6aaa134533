package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
)

// newFlagSet and parseFlags serve commands registered with legacyCommand,
// which parse their own flags with the standard flag package.
func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// parseFlags parses args, turning -h into errHelp and bad flags into
// usage errors.
func parseFlags(fs *flag.FlagSet, args []string) error {
	fs.SetOutput(io.Discard) // the one-line error and the pointer to --help say it
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return errHelp
		}
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	return nil
}
