package main

import (
	"time"

	"github.com/spf13/cobra"

	"github.com/tfgate/tfgate/internal/cliclient"
)

// clientEnv is what login, token and logout take from their surroundings;
// tests replace it.
var clientEnv = cliclient.DefaultEnv

func newLoginCmd() *cobra.Command {
	var o cliclient.LoginOptions
	var tokenStore string
	c := &cobra.Command{
		Use:     "login --server URL",
		GroupID: "client",
		Short:   "Sign in through the browser and store a token for programs",
		Long: `Sign in through the browser (your organisation's SAML sign-in) and store an
access token and a refresh token for "extauthz token".

Where they are kept (--token-store, default $TFGATE_TOKEN_STORE, else auto):
  auto     the OS keyring when one answers (macOS Keychain, Windows Credential
           Manager, a Secret Service such as GNOME Keyring or KWallet), else the
           file, with a one-line notice
  keyring  the OS keyring, or fail
  file     tokens.json in your config directory ($TFGATE_CONFIG_DIR, else
           ~/.config/tfgate), readable by you only
Tokens found in the file are moved to the keyring on its first use.`,
		Example: `  extauthz login --server https://serving.example.com
  extauthz login --server http://127.0.0.1:8501 --no-browser       # print the URL to open
  extauthz login --server https://serving.example.com --scope "model:resnet"`,
		Args: noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if o.Server == "" {
				return usagef("--server URL is required")
			}
			env, err := tokenStoreEnv(tokenStore)
			if err != nil {
				return err
			}
			return cliError(cliclient.Login(c.Context(), o, c.ErrOrStderr(), env))
		},
	}
	c.Flags().StringVar(&o.Server, "server", "", "tfgate's URL: the origin in front of Envoy, e.g. https://serving.example.com (required)")
	c.Flags().BoolVar(&o.NoBrowser, "no-browser", false, "print the sign-in URL instead of opening a browser")
	c.Flags().StringVar(&o.Scope, "scope", "", `limit the token, e.g. "model:resnet model:bert:predict" (default: what your groups allow)`)
	c.Flags().DurationVar(&o.Timeout, "timeout", 5*time.Minute, "how long to wait for the sign-in in the browser")
	addTokenStoreFlag(c, &tokenStore)
	return c
}

// addTokenStoreFlag adds --token-store, for login, token and logout.
func addTokenStoreFlag(c *cobra.Command, v *string) {
	c.Flags().StringVar(v, "token-store", "", "where tokens are kept: auto, keyring or file (default $"+cliclient.TokenStoreEnv+", else auto)")
}

// tokenStoreEnv is clientEnv with --token-store's value, checked.
func tokenStoreEnv(flag string) (cliclient.Env, error) {
	env := clientEnv()
	switch flag {
	case "", cliclient.TokenStoreAuto, cliclient.TokenStoreKeyring, cliclient.TokenStoreFile:
		if flag != "" {
			env.TokenStore = flag
		}
		return env, nil
	}
	return env, usagef("--token-store %q: want auto, keyring or file", flag)
}

// cliError maps the client's "already reported" to the CLI's.
func cliError(err error) error {
	if err == cliclient.ErrReported {
		return errFailed
	}
	return err
}
