package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// newRootCmd is the command tree. Each command lives in its own file as a
// newXxxCmd function; to add one, write that file and add one line to the
// AddCommand list below (or to its parent's, e.g. newPolicyCmd).
func newRootCmd(stdout, stderr io.Writer) *cobra.Command {
	var configPath string
	root := &cobra.Command{
		Use:   "extauthz",
		Short: "SAML single sign-on and Rego policy for TensorFlow Serving, as an Envoy ext_authz server",
		Long: `extauthz is tfgate: an Envoy ext_authz server that puts SAML single sign-on and
Rego policy in front of TensorFlow Serving, and the command line to try it out,
check its configuration and policy, manage sessions, and sign programs in.

With no command, extauthz runs "serve": with no config file it listens on :9191
(ext_authz gRPC) and :8080 (HTTP: SAML, /token, /healthz, /readyz, /metrics),
keeps sessions in memory and uses the embedded default policy.
extauthz.example.yaml documents every setting and its default.

Exit codes: 0 success; 1 failure (the command could not do what it was asked:
a bad config, a failed policy test, a server that refused); 2 usage (the command
line is wrong; run the command with --help).`,
		Example: `  extauthz dev                                 # the whole stack on loopback, to try tfgate out
  extauthz serve --config /etc/tfgate/extauthz.yaml
  extauthz config check extauthz.yaml
  extauthz login --server https://serving.example.com
  curl -H "Authorization: Bearer $(extauthz token)" https://serving.example.com/v1/models/half_plus_two`,
		Version:       version,
		Args:          cobra.ArbitraryArgs, // RunE names an unknown command, with a suggestion
		SilenceErrors: true,
		SilenceUsage:  true,
		RunE: func(c *cobra.Command, args []string) error {
			if len(args) > 0 {
				return unknownCommand(c, args[0])
			}
			return serveCmd(c.Context(), configPath, c.OutOrStdout(), c.ErrOrStderr())
		},
	}
	root.Flags().StringVar(&configPath, "config", "", `config file for the default "serve" command (default: embedded defaults)`)
	root.SetOut(stdout) // before the completion command, which takes it when made
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return &usageError{cmd: c.CommandPath(), msg: err.Error()}
	})
	root.SetVersionTemplate("extauthz {{.Version}}\n")
	cobra.AddTemplateFunc("flagUsages", flagUsages)
	root.SetUsageTemplate(strings.NewReplacer(
		".LocalFlags.FlagUsages | trimTrailingWhitespaces", "flagUsages .LocalFlags",
		".InheritedFlags.FlagUsages | trimTrailingWhitespaces", "flagUsages .InheritedFlags",
	).Replace(root.UsageTemplate()))
	root.AddGroup(
		&cobra.Group{ID: "run", Title: "Run:"},
		&cobra.Group{ID: "check", Title: "Check configuration and policy:"},
		&cobra.Group{ID: "operate", Title: "Operate:"},
		&cobra.Group{ID: "client", Title: "Sign in (for programs calling TF Serving):"},
	)
	root.AddCommand(
		newServeCmd(),
		newDevCmd(),
		newDevIdPCmd(),
		newConfigCmd(),
		newPolicyCmd(),
		newSessionsCmd(),
		newLoginCmd(),
		newTokenCmd(),
		newLogoutCmd(),
		newVersionCmd(),
	)
	root.InitDefaultCompletionCmd()
	for _, c := range root.Commands() {
		if c.Name() == "completion" {
			groupCmd(c)
			c.Example = `  source <(extauthz completion bash)                              # this shell
  extauthz completion bash > /etc/bash_completion.d/extauthz       # every bash
  extauthz completion zsh > "${fpath[1]}/_extauthz"
  extauthz completion fish > ~/.config/fish/completions/extauthz.fish`
		}
	}
	return root
}

// groupCmd is a command that only holds subcommands: run alone or with an
// unknown subcommand it is a usage error, not a silent help page.
func groupCmd(c *cobra.Command) *cobra.Command {
	c.Args = cobra.ArbitraryArgs
	c.RunE = func(c *cobra.Command, args []string) error {
		if len(args) > 0 {
			return unknownCommand(c, args[0])
		}
		var names []string
		for _, sub := range c.Commands() {
			if sub.IsAvailableCommand() {
				names = append(names, sub.Name())
			}
		}
		return &usageError{msg: "missing command: one of " + strings.Join(names, ", ")}
	}
	return c
}

func unknownCommand(c *cobra.Command, name string) error {
	msg := fmt.Sprintf("unknown command %q", name)
	if s := c.SuggestionsFor(name); len(s) > 0 {
		msg += fmt.Sprintf(" (did you mean %q?)", s[0])
	}
	return &usageError{msg: msg}
}

// noArgs refuses positional arguments.
func noArgs(_ *cobra.Command, args []string) error {
	if len(args) > 0 {
		return &usageError{msg: fmt.Sprintf("unexpected argument %q", args[0])}
	}
	return nil
}

// exactArgs wants exactly the named positional arguments.
func exactArgs(names ...string) cobra.PositionalArgs {
	return func(_ *cobra.Command, args []string) error {
		switch {
		case len(args) < len(names):
			return &usageError{msg: "missing " + strings.Join(names[len(args):], " ")}
		case len(args) > len(names):
			return &usageError{msg: fmt.Sprintf("unexpected argument %q", args[len(names)])}
		}
		return nil
	}
}

// maxArgs allows at most n positional arguments.
func maxArgs(n int) cobra.PositionalArgs {
	return func(_ *cobra.Command, args []string) error {
		if len(args) > n {
			return &usageError{msg: fmt.Sprintf("unexpected argument %q", args[n])}
		}
		return nil
	}
}

// usagef is a usage error in the command being run.
func usagef(format string, a ...any) error {
	return &usageError{msg: fmt.Sprintf(format, a...)}
}

// legacyCommand registers a command still written in the older style,
// func(ctx, args, stdout, stderr) error parsing its own flags with
// newFlagSet/parseFlags: it gets its arguments as they are. Prefer a
// native cobra command (flags in --help, completion); this keeps such a
// command working in the tree with one line.
func legacyCommand(use, short string, fn func(ctx context.Context, args []string, stdout, stderr io.Writer) error) *cobra.Command {
	return &cobra.Command{
		Use: use, Short: short, DisableFlagParsing: true,
		RunE: func(c *cobra.Command, args []string) error {
			err := fn(c.Context(), args, c.OutOrStdout(), c.ErrOrStderr())
			if errors.Is(err, errHelp) {
				return c.Help()
			}
			return err
		},
	}
}

// flagUsages lists flags as pflag does, except that a bool flag reads
// "--json", not pflag 1.1's "--json[=true|false]": --json is what to type.
func flagUsages(fs *pflag.FlagSet) string {
	type row struct{ left, usage string }
	var rows []row
	width := 0
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Hidden {
			return
		}
		left := "      --" + f.Name
		if f.Shorthand != "" {
			left = "  -" + f.Shorthand + ", --" + f.Name
		}
		varname, usage := pflag.UnquoteUsage(f)
		if varname != "" && f.Value.Type() != "bool" {
			left += " " + varname
		}
		switch f.DefValue {
		case "", "false", "0", "0s", "[]":
		default:
			if f.Value.Type() == "string" {
				usage += fmt.Sprintf(" (default %q)", f.DefValue)
			} else {
				usage += fmt.Sprintf(" (default %s)", f.DefValue)
			}
		}
		rows = append(rows, row{left, usage})
		width = max(width, len(left))
	})
	var b strings.Builder
	for i, r := range rows {
		if i > 0 {
			b.WriteByte('\n')
		}
		fmt.Fprintf(&b, "%-*s   %s", width, r.left, r.usage)
	}
	return b.String()
}
