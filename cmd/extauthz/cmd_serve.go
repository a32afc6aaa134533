package main

import (
	"context"
	"io"

	"github.com/spf13/cobra"
)

func newServeCmd() *cobra.Command {
	var configPath string
	c := &cobra.Command{
		Use:     "serve",
		GroupID: "run",
		Short:   "Run the ext_authz server (the default command)",
		Long: `Run tfgate: the ext_authz gRPC server Envoy calls for every request, and the HTTP
listener for SAML sign-in, /token, /healthz, /readyz and /metrics. It stops
gracefully on SIGINT or SIGTERM.

With no --config it uses the embedded defaults: :9191 (gRPC), :8080 (HTTP),
sessions in memory, the embedded policy. The listen addresses are the config's
listen.grpc and listen.http.`,
		Example: `  extauthz serve --config /etc/tfgate/extauthz.yaml
  extauthz config check /etc/tfgate/extauthz.yaml && extauthz serve --config /etc/tfgate/extauthz.yaml`,
		Args: noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return serveCmd(c.Context(), configPath, c.OutOrStdout(), c.ErrOrStderr())
		},
	}
	c.Flags().StringVar(&configPath, "config", "", "config file (default: embedded defaults)")
	return c
}

func serveCmd(ctx context.Context, configPath string, stdout, stderr io.Writer) error {
	cfg := DefaultConfig()
	if configPath != "" {
		var err error
		if cfg, err = LoadConfig(configPath); err != nil {
			return err
		}
	}
	return serve(ctx, cfg, stdout, stderr)
}
