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
	"syscall"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/tfgate/tfgate/internal/devidp"
	"github.com/tfgate/tfgate/internal/envoytest"
	"github.com/tfgate/tfgate/internal/tfservingtest"
)

// devListeners are the loopback sockets of `extauthz dev`, bound before
// anything starts so that ":0" ports are known when the parts are wired.
type devListeners struct {
	rest, grpc, idp, checkGRPC, checkHTTP, tfsREST, tfsGRPC net.Listener
}

func listenAll(addrs map[*net.Listener]string) error {
	for ln, addr := range addrs {
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			return fmt.Errorf("%q: %w", addr, err)
		}
		if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			// The dev stack trusts a one-click IdP: never off this machine.
			return fmt.Errorf("%q: extauthz dev listens on loopback addresses only", addr)
		}
		if *ln, err = net.Listen("tcp", addr); err != nil {
			return err
		}
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
func devCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("dev", stderr)
	restAddr := fs.String("rest", "127.0.0.1:8501", "front proxy for TF Serving's REST API (loopback)")
	grpcAddr := fs.String("grpc", "127.0.0.1:8500", "front proxy for TF Serving's gRPC API (loopback)")
	idpAddr := fs.String("idp", "127.0.0.1:8081", "development IdP (loopback)")
	checkGRPC := fs.String("check-grpc", "127.0.0.1:9191", "tfgate's ext_authz gRPC listener (loopback)")
	checkHTTP := fs.String("check-http", "127.0.0.1:8080", "tfgate's HTTP listener: SAML, /token, health (loopback)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	var l devListeners
	err := listenAll(map[*net.Listener]string{
		&l.rest: *restAddr, &l.grpc: *grpcAddr, &l.idp: *idpAddr, &l.checkGRPC: *checkGRPC,
		&l.checkHTTP: *checkHTTP, &l.tfsREST: "127.0.0.1:0", &l.tfsGRPC: "127.0.0.1:0",
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
	tfs, err := tfservingtest.New(tfservingtest.DefaultConfig())
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
	return cfg
}

// devProxies are the development stand-ins for Envoy, configured like
// envoy/envoy.yaml: /saml/ and /token go to tfgate's HTTP listener with
// ext_authz disabled, everything else to TF Serving after a Check; the gRPC
// listener buffers whole bodies as raw bytes.
func devProxies(client authv3.AuthorizationClient, l *devListeners, log *slog.Logger) (*envoytest.Proxy, *envoytest.Proxy, error) {
	tfgateHTTP := &url.URL{Scheme: "http", Host: l.checkHTTP.Addr().String()}
	rest, err := envoytest.New(envoytest.Config{
		Routes: []envoytest.Route{
			{Prefix: "/saml/", Upstream: tfgateHTTP, DisableAuthz: true},
			{Prefix: "/token", Upstream: tfgateHTTP, DisableAuthz: true},
			{Prefix: "/", Upstream: &url.URL{Scheme: "http", Host: l.tfsREST.Addr().String()}, Timeout: 60 * time.Second},
		},
		Authz: client, Timeout: 500 * time.Millisecond, StatusOnError: http.StatusServiceUnavailable, Logger: log,
	})
	if err != nil {
		return nil, nil, err
	}
	grpcProxy, err := envoytest.New(envoytest.Config{
		Routes: []envoytest.Route{{Prefix: "/", Upstream: &url.URL{Scheme: "http", Host: l.tfsGRPC.Addr().String()}, HTTP2: true, Timeout: 60 * time.Second}},
		Authz:  client, Timeout: 2 * time.Second, StatusOnError: http.StatusServiceUnavailable, Logger: log,
		WithRequestBody: &envoytest.BufferSettings{MaxRequestBytes: 64 << 20, PackAsBytes: true},
	})
	return rest, grpcProxy, err
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
