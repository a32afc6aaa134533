package main

import (
	"github.com/spf13/cobra"

	"github.com/tfgate/tfgate/internal/cliclient"
)

func newTokenCmd() *cobra.Command {
	var o cliclient.TokenOptions
	var tokenStore string
	c := &cobra.Command{
		Use:     "token",
		GroupID: "client",
		Short:   "Print a valid access token (renewed when needed)",
		Long: `Print a valid access token on stdout and nothing else, renewing it first when it
is about to expire, for programs to send as "Authorization: Bearer TOKEN".
Sign in first with "extauthz login".`,
		Example: `  curl -H "Authorization: Bearer $(extauthz token)" https://serving.example.com/v1/models/half_plus_two
  extauthz token --scope "model:resnet"        # a narrower token for one job
  extauthz token --server https://serving.example.com`,
		Args: noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			env, err := tokenStoreEnv(tokenStore)
			if err != nil {
				return err
			}
			return cliError(cliclient.Token(c.Context(), o, c.OutOrStdout(), c.ErrOrStderr(), env))
		},
	}
	c.Flags().StringVar(&o.Server, "server", "", "the server signed in to with `extauthz login` (optional when there is only one)")
	c.Flags().StringVar(&o.Scope, "scope", "", `a narrower token, e.g. "model:resnet" (default: the login's scope)`)
	addTokenStoreFlag(c, &tokenStore)
	return c
}
