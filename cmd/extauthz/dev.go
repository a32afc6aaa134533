package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/tfgate/tfgate/envoy"
	"github.com/tfgate/tfgate/internal/devidp"
	"github.com/tfgate/tfgate/internal/envoyemu"
	"github.com/tfgate/tfgate/internal/tfservingstandin"
)

// devListeners are the loopback sockets of `extauthz dev`, bound before
// anything starts so that ":0" ports are known when the parts are wired.
type devListeners struct {
	rest, grpc, idp, checkGRPC, checkHTTP, tfsREST, tfsGRPC net.Listener
}

// devListen is one address of `extauthz dev` and the flag that sets it,
// so that a port already in use is reported with the flag to change.
type devListen struct {
	ln   *net.Listener
	flag string // "" for the internal ports on 127.0.0.1:0
	addr string
}

// listenAll checks every address first and binds only when all are valid,
// so a bad flag is reported as such, whatever holds the other ports.
func listenAll(addrs []devListen) error {
	for _, a := range addrs {
		if err := checkDevAddr(a.addr); err != nil {
			return fmt.Errorf("--%s %w", a.flag, err)
		}
	}
	for _, a := range addrs {
		var err error
		if *a.ln, err = net.Listen("tcp", a.addr); err != nil {
			if a.flag == "" {
				return err
			}
			return fmt.Errorf("%w (choose another address with --%s, e.g. --%s 127.0.0.1:0 for any free port; with make: make run ARGS=\"--%s ...\")",
				err, a.flag, a.flag, a.flag)
		}
	}
	return nil
}

// checkDevAddr accepts host:port on loopback only: the dev stack trusts a
// one-click IdP, so it never listens off this machine.
func checkDevAddr(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q: %w", addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("%q: extauthz dev listens on loopback addresses only", addr)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Errorf("%q: %q is not a port number", addr, port)
	}
	return nil
}

func (l *devListeners) closeAll() {
	for _, ln := range []net.Listener{l.rest, l.grpc, l.idp, l.checkGRPC, l.checkHTTP, l.tfsREST, l.tfsGRPC} {
		if ln != nil {
			ln.Close()
		}
	}
}

// devCmd runs the whole product on one machine with no config, no Redis
// and no IdP: tfgate, the development IdP, a development front proxy in
// Envoy's place on TF Serving's ports, and a TF Serving stand-in serving
// half_plus_two.
func newDevCmd() *cobra.Command {
	var o devOptions
	c := &cobra.Command{
		Use:     "dev",
		GroupID: "run",
		Short:   "The whole stack on loopback, for trying tfgate out",
		Long: `Run the whole product on this machine with no config, no Redis and no IdP:
tfgate, a development IdP (one-click sign-in as a demo user), a development
proxy in Envoy's place on TF Serving's ports, and a TF Serving stand-in
serving half_plus_two. Everything listens on loopback only; nothing here is
for production. "make run" runs this command (pass flags with ARGS="...").`,
		Example: `  extauthz dev
  extauthz dev --rest 127.0.0.1:18501 --grpc 127.0.0.1:18500   # when 8501/8500 are taken
  make run ARGS="--rest 127.0.0.1:18501"`,
		Args: noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return devCmd(c.Context(), o, c.OutOrStdout(), c.ErrOrStderr())
		},
	}
	c.Flags().StringVar(&o.rest, "rest", "127.0.0.1:8501", "front proxy for TF Serving's REST API (loopback)")
	c.Flags().StringVar(&o.grpc, "grpc", "127.0.0.1:8500", "front proxy for TF Serving's gRPC API (loopback)")
	c.Flags().StringVar(&o.idp, "idp", "127.0.0.1:8081", "development IdP (loopback)")
	c.Flags().StringVar(&o.checkGRPC, "check-grpc", "127.0.0.1:9191", "tfgate's ext_authz gRPC listener (loopback)")
	c.Flags().StringVar(&o.checkHTTP, "check-http", "127.0.0.1:8080", "tfgate's HTTP listener: SAML, /token, health (loopback)")
	return c
}

// devOptions are the addresses of `extauthz dev`.
type devOptions struct {
	rest, grpc, idp, checkGRPC, checkHTTP string
}

// devCmd runs the whole product on one machine with no config, no Redis
// and no IdP: tfgate, the development IdP, a development front proxy in
// Envoy's place on TF Serving's ports, and a TF Serving stand-in serving
// half_plus_two.
func devCmd(ctx context.Context, o devOptions, stdout, stderr io.Writer) error {
	var l devListeners
	err := listenAll([]devListen{
		{&l.rest, "rest", o.rest}, {&l.grpc, "grpc", o.grpc}, {&l.idp, "idp", o.idp},
		{&l.checkGRPC, "check-grpc", o.checkGRPC}, {&l.checkHTTP, "check-http", o.checkHTTP},
		{&l.tfsREST, "", "127.0.0.1:0"}, {&l.tfsGRPC, "", "127.0.0.1:0"},
	})
	if err != nil {
		l.closeAll()
		return fmt.Errorf("dev: %w", err)
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	return runDev(ctx, &l, stdout, stderr)
}

func runDev(ctx context.Context, l *devListeners, stdout, stderr io.Writer) error {
	defer l.closeAll()
	dir, err := os.MkdirTemp("", "tfgate-dev-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	base := "http://" + l.rest.Addr().String()
	metadata := filepath.Join(dir, "idp-metadata.xml")
	cfg := devConfig(base, metadata)
	// One log format for the whole process: every part logs through the
	// logger tfgate itself uses, named by component.
	log := newLogger(cfg.Log, stderr)
	adoptLogger(log)
	idp, err := devidp.New(devidp.Config{
		BaseURL: "http://" + l.idp.Addr().String(),
		SPs:     []devidp.SP{{EntityID: base + "/saml/metadata", ACSURLs: []string{base + "/saml/acs"}}},
		Logger:  log.With("component", "dev-idp"),
	})
	if err != nil {
		return fmt.Errorf("dev: %w", err)
	}
	if md, err := idp.Metadata(); err != nil || os.WriteFile(metadata, md, 0o600) != nil {
		return fmt.Errorf("dev: writing the IdP's metadata: %v", err)
	}
	tfs, err := tfservingstandin.New(tfservingstandin.DefaultConfig())
	if err != nil {
		return fmt.Errorf("dev: %w", err)
	}
	conn, err := grpc.NewClient(l.checkGRPC.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	restProxy, grpcProxy, err := devProxies(authv3.NewAuthorizationClient(conn), l, log.With("component", "dev-proxy"))
	if err != nil {
		return fmt.Errorf("dev: %w", err)
	}

	fmt.Fprintf(stdout, devBanner, base, l.grpc.Addr(), idp.BaseURL(), base, base, base)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return idp.Serve(gctx, l.idp) })
	g.Go(func() error { return tfs.Serve(gctx, l.tfsREST, l.tfsGRPC) })
	g.Go(func() error { return restProxy.Serve(gctx, l.rest) })
	g.Go(func() error { return grpcProxy.Serve(gctx, l.grpc) })
	g.Go(func() error { return serveOn(gctx, cfg, l.checkGRPC, l.checkHTTP, stdout, stderr) })
	if err := g.Wait(); err != nil && !errors.Is(err, http.ErrServerClosed) && ctx.Err() == nil {
		return err
	}
	return nil
}

// devConfig is extauthz's configuration in the dev stack: in-memory
// sessions, the default policy, the development IdP, and a cookie without
// the __Host- prefix because the browser talks plain HTTP to loopback.
func devConfig(base, idpMetadata string) Config {
	cfg := DefaultConfig()
	cfg.Log.Format = "text"
	cfg.Sessions.CookieName = "tfgate"
	cfg.SAML.BaseURL = base
	cfg.SAML.IdPs = []IdPConfig{{Name: "dev", MetadataFile: idpMetadata, Default: true}}
	cfg.Listen.ShutdownTimeout = 2 * time.Second
	cfg.Pages.Contact = "Development stack: demo users alice (group ml-engineers), bob, carol and dave (no groups). Nothing here is for production."
	return cfg
}

// devProxies are the development stand-ins for Envoy, configured from
// envoy/envoy.yaml's "rest" and "grpc" listeners (routes, path handling,
// header stripping, ext_authz settings) with its clusters pointed at the
// development listeners.
func devProxies(client authv3.AuthorizationClient, l *devListeners, log *slog.Logger) (*envoyemu.Proxy, *envoyemu.Proxy, error) {
	bs, err := envoyemu.ParseBootstrap(envoy.BootstrapYAML)
	if err != nil {
		return nil, nil, err
	}
	clusters := map[string]*url.URL{
		"extauthz_http":  {Scheme: "http", Host: l.checkHTTP.Addr().String()},
		"tfserving_rest": {Scheme: "http", Host: l.tfsREST.Addr().String()},
		"tfserving_grpc": {Scheme: "http", Host: l.tfsGRPC.Addr().String()},
	}
	var proxies [2]*envoyemu.Proxy
	for i, name := range []string{"rest", "grpc"} {
		cfg, err := envoyemu.FromBootstrap(bs, name, clusters)
		if err != nil {
			return nil, nil, err
		}
		cfg.Authz, cfg.Logger = client, log
		if proxies[i], err = envoyemu.New(cfg); err != nil {
			return nil, nil, err
		}
	}
	return proxies[0], proxies[1], nil
}

const devBanner = `
tfgate development stack: everything on loopback, nothing here is for production.

  TF Serving REST   %s          (through the development proxy, in Envoy's place)
  TF Serving gRPC   %s
  Development IdP   %s          (demo users: alice, bob, carol, dave)

Open in a browser, sign in as alice (group ml-engineers) and see the model's status:
  %s/v1/models/half_plus_two
Sign in as dave (no groups) to see a 403. Without a credential, an API client gets 401:
  curl -i %s/v1/models/half_plus_two
Who am I (after signing in): %s/saml/whoami
Stop with Ctrl-C.

`
