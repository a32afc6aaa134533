package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"
)

func newConfigCmd() *cobra.Command {
	c := groupCmd(&cobra.Command{
		Use:     "config",
		GroupID: "check",
		Short:   "Check a config file",
	})
	c.AddCommand(newConfigCheckCmd())
	return c
}

func newConfigCheckCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "check FILE",
		Short: "Validate a config file, printing every problem with its line",
		Long: `Validate a config file as "extauthz serve --config FILE" would read it, printing
every problem with its line and field. Exit 0 and "FILE: ok" when it is valid,
1 when it is not.`,
		Example: `  extauthz config check /etc/tfgate/extauthz.yaml`,
		Args:    exactArgs("FILE"),
		RunE: func(c *cobra.Command, args []string) error {
			return configCheckCmd(args[0], c.OutOrStdout(), c.ErrOrStderr())
		},
	}
}

func configCheckCmd(path string, stdout, stderr io.Writer) error {
	if _, err := LoadConfig(path); err != nil {
		fmt.Fprintf(stderr, "%v\n", err)
		return errFailed
	}
	fmt.Fprintf(stdout, "%s: ok\n", path)
	return nil
}
