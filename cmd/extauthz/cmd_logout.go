package main

import (
	"github.com/spf13/cobra"

	"github.com/tfgate/tfgate/internal/cliclient"
)

func newLogoutCmd() *cobra.Command {
	var server, tokenStore string
	c := &cobra.Command{
		Use:     "logout",
		GroupID: "client",
		Short:   "Revoke and forget the stored tokens",
		Long: `Revoke the tokens "extauthz login" stored for a server and forget them. They are
forgotten even when the server cannot be reached (exit 1: they stay valid on
the server until they expire).`,
		Example: `  extauthz logout
  extauthz logout --server https://serving.example.com`,
		Args: noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			env, err := tokenStoreEnv(tokenStore)
			if err != nil {
				return err
			}
			return cliError(cliclient.Logout(c.Context(), server, c.ErrOrStderr(), env))
		},
	}
	c.Flags().StringVar(&server, "server", "", "the server to sign out of (optional when there is only one)")
	addTokenStoreFlag(c, &tokenStore)
	return c
}
