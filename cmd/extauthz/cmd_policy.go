package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/tfgate/tfgate/rego"
)

// newPolicyCmd holds the policy commands; add new ones to its AddCommand.
func newPolicyCmd() *cobra.Command {
	c := groupCmd(&cobra.Command{
		Use:     "policy",
		GroupID: "check",
		Short:   "Test and evaluate Rego policies",
	})
	c.AddCommand(
		newPolicyTestCmd(),
		newPolicyEvalCmd(),
	)
	return c
}

func newPolicyTestCmd() *cobra.Command {
	var verbose bool
	c := &cobra.Command{
		Use:   "test [DIR]",
		Short: "Run the Rego unit tests of a policy directory",
		Long: `Run the Rego unit tests (files named *_test.rego) of a policy directory, or of
the embedded default policy when no directory is given. Exit 1 when a test
fails or when there are none.`,
		Example: `  extauthz policy test                  # the embedded policy
  extauthz policy test ./policy -v      # every test, not only failures`,
		Args: maxArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			dir := ""
			if len(args) == 1 {
				dir = args[0]
			}
			return policyTestCmd(c.Context(), dir, verbose, c.OutOrStdout(), c.ErrOrStderr())
		},
	}
	c.Flags().BoolVarP(&verbose, "verbose", "v", false, "print every test, not only failures")
	return c
}

func policyTestCmd(ctx context.Context, dir string, verbose bool, stdout, stderr io.Writer) error {
	passed, failed, err := rego.RunTests(ctx, dir, stdout, verbose)
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

func newPolicyEvalCmd() *cobra.Command {
	var input, dir string
	c := &cobra.Command{
		Use:   "eval --input FILE [--policy DIR]",
		Short: "Evaluate a policy on one input document and print the decision",
		Long: `Evaluate a policy on one input document (the JSON tfgate gives the policy; see
the README for its shape) and print the decision as JSON.`,
		Example: `  extauthz policy eval --input request.json
  extauthz policy eval --policy ./policy --input - < request.json`,
		Args: noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if input == "" {
				return usagef("--input FILE is required")
			}
			return policyEvalCmd(c.Context(), input, dir, c.InOrStdin(), c.OutOrStdout())
		},
	}
	c.Flags().StringVar(&input, "input", "", "JSON input document (- for stdin); see the README for its shape")
	c.Flags().StringVar(&dir, "policy", "", "policy directory (default: the embedded policy)")
	return c
}

func policyEvalCmd(ctx context.Context, input, dir string, stdin io.Reader, stdout io.Writer) error {
	var data []byte
	var err error
	if input == "-" {
		data, err = io.ReadAll(stdin)
	} else {
		data, err = os.ReadFile(input)
	}
	if err != nil {
		return fmt.Errorf("reading input: %w", err)
	}
	v, err := rego.EvalInput(ctx, dir, data)
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
