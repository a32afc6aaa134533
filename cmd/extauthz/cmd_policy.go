package main

import (
	"github.com/spf13/cobra"
)

// newPolicyCmd holds the policy commands; add new ones to its AddCommand.
func newPolicyCmd() *cobra.Command {
	c := groupCmd(&cobra.Command{
		Use:     "policy",
		GroupID: "check",
		Short:   "Test, evaluate, bundle and replay Rego policies",
	})
	c.AddCommand(
		newPolicyTestCmd(),
		newPolicyEvalCmd(),
		newPolicyBuildCmd(),
		newPolicyReplayCmd(),
	)
	return c
}

func newPolicyTestCmd() *cobra.Command {
	var o policyTestOptions
	c := &cobra.Command{
		Use:   "test [DIR]",
		Short: "Run the Rego unit tests of a policy directory",
		Long: `Run the Rego unit tests (files named *_test.rego) of a policy directory, or of
the embedded default policy when no directory is given. Exit 1 when a test
fails, when there are none, or when coverage is below --threshold.`,
		Example: `  extauthz policy test                  # the embedded policy
  extauthz policy test ./policy -v      # every test, not only failures
  extauthz policy test ./policy --coverage --threshold 90
  extauthz policy test ./policy --run 'test_sales' --format json`,
		Args: maxArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if len(args) == 1 {
				o.dir = args[0]
			}
			return policyTestCmd(c.Context(), o, c.OutOrStdout(), c.ErrOrStderr())
		},
	}
	c.Flags().BoolVarP(&o.verbose, "verbose", "v", false, "print every test, not only failures")
	c.Flags().StringVar(&o.run, "run", "", "run only tests whose name matches this regular expression")
	c.Flags().BoolVar(&o.coverage, "coverage", false, "report line coverage of the policy files: per file, lines not covered, total")
	c.Flags().Float64Var(&o.threshold, "threshold", 0, "fail when total coverage is below this percentage (implies --coverage)")
	c.Flags().StringVar(&o.format, "format", "text", "text or json")
	return c
}

func newPolicyEvalCmd() *cobra.Command {
	var o policyEvalOptions
	c := &cobra.Command{
		Use:   "eval --input FILE [--policy DIR|BUNDLE]",
		Short: "Evaluate a policy on one input document or decision-log line",
		Long: `Evaluate a policy on one input document (the JSON tfgate gives the policy; see
the README for its shape) or on one line of the decision log, and print the
decision as JSON (for a log line, next to the logged one). A missing request
or target is an input error.`,
		Example: `  extauthz policy eval --input request.json
  tail -1 decisions.jsonl | extauthz policy eval --policy ./policy --input - --fail`,
		Args: noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if o.input == "" {
				return usagef("--input FILE is required")
			}
			return policyEvalCmd(c.Context(), o, c.InOrStdin(), c.OutOrStdout())
		},
	}
	c.Flags().StringVar(&o.input, "input", "", "JSON input document or decision-log line (- for stdin)")
	c.Flags().StringVar(&o.policy, "policy", "", "policy directory or bundle file (default: the embedded policy)")
	c.Flags().BoolVar(&o.fail, "fail", false, "exit 1 when the decision is a deny (for CI)")
	return c
}

func newPolicyBuildCmd() *cobra.Command {
	var o policyBuildOptions
	c := &cobra.Command{
		Use:   "build [DIR] -o bundle.tar.gz",
		Short: "Write a policy directory as an (optionally signed) OPA bundle",
		Long: `Write a policy directory (or the embedded policy) as an OPA bundle: the
modules, the data as data.json and a .manifest with the revision, signed into
.signatures.json with --signing-key. The policy is compiled first; test files
are left out. Servers load it with policy.bundle.`,
		Example: `  extauthz policy build ./policy -o bundle.tar.gz
  extauthz policy build ./policy -o bundle.tar.gz --revision v42 --signing-key team.pem --signing-alg ES256 --key-id team`,
		Args: maxArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if len(args) == 1 {
				o.dir = args[0]
			}
			return policyBuildCmd(c.Context(), o, c.OutOrStdout())
		},
	}
	c.Flags().StringVarP(&o.out, "output", "o", "bundle.tar.gz", "bundle file to write")
	c.Flags().StringVar(&o.revision, "revision", "", "the bundle's revision (default: a hash of the policy and data files)")
	c.Flags().StringVar(&o.signingKey, "signing-key", "", "PEM private key (RSA or EC) to sign the bundle with")
	c.Flags().StringVar(&o.signingAlg, "signing-alg", "RS256", "JWS algorithm of the signing key: RS256, PS256, ES256, ...")
	c.Flags().StringVar(&o.keyID, "key-id", "", "key id (kid) in the signature, matched against the servers' verification keys")
	return c
}

func newPolicyReplayCmd() *cobra.Command {
	var o policyReplayOptions
	c := &cobra.Command{
		Use:   "replay --log FILE --policy DIR|BUNDLE",
		Short: "Re-decide recorded traffic with a changed policy and show what would change",
		Long: `Re-decide every decision of a decision log with a changed policy and print what
would change: counts by direction, and the first examples per (groups, model,
api). Streams the log in bounded memory. Exit 1 when a denied request would be
allowed (unless --allow-loosening) or a line cannot be re-decided.`,
		Example: `  extauthz policy replay --log /var/log/tfgate/decisions.jsonl --policy ./candidate
  extauthz policy replay --log decisions.jsonl --policy bundle.tar.gz --allow-loosening --format json`,
		Args: noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if o.log == "" {
				return usagef("--log FILE is required")
			}
			return policyReplayCmd(c.Context(), o, c.InOrStdin(), c.OutOrStdout(), c.ErrOrStderr())
		},
	}
	c.Flags().StringVar(&o.log, "log", "", "decision log, JSON lines (- for stdin)")
	c.Flags().StringVar(&o.policy, "policy", "", "the changed policy: a directory or a bundle file (default: the embedded policy)")
	c.Flags().IntVar(&o.examples, "examples", 3, "flips to show per (groups, model, api)")
	c.Flags().BoolVar(&o.allowLoosening, "allow-loosening", false, "exit 0 even when a denied request would be allowed")
	c.Flags().StringVar(&o.format, "format", "text", "text or json")
	return c
}
