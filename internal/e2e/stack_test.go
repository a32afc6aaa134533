package e2e

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"

	"github.com/tfgate/tfgate/authz"
	"github.com/tfgate/tfgate/authz/session"
	"github.com/tfgate/tfgate/envoy"
	"github.com/tfgate/tfgate/internal/envoyemu"
	"github.com/tfgate/tfgate/internal/redistest"
	"github.com/tfgate/tfgate/internal/tfservingstandin"
	"github.com/tfgate/tfgate/rego"
)

// grants for the end-to-end policy: the default tfgate.rego with data that
// allows ml-engineers version 1 and label stable of half_plus_two only, so
// a forbidden model, version and label can all be exercised against the
// stand-in's half_plus_two (versions 1, 2; labels stable, canary) and
// half_plus_three.
const grants = `
tfgate:
  grants:
    ml-engineers:
      - models: [half_plus_two]
        versions: [1]
        labels: [stable]
        apis: ["*"]
  admin_groups: []
`

// Tokens of the sessions every stack holds.
const (
	aliceToken = "tfg_alice0000000000000000000000000000000000000"
	bobToken   = "tfg_bob000000000000000000000000000000000000000"
)

type stack struct {
	tfs      *tfservingstandin.Server
	redis    *redistest.Server
	store    *session.Redis
	restAddr string // the emulated Envoy REST listener
	grpcAddr string // the emulated Envoy gRPC listener
	auditLog *authz.DecisionLog
	audit    *lockedBuffer
	authz    authv3.AuthorizationClient // tfgate's Check service
}

// lockedBuffer is a bytes.Buffer safe for the decision log's flusher.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startStack wires the whole product as a deployment would: real Redis,
// real policy engine, real gRPC ext_authz server, the Envoy emulator in
// front of the TF Serving stand-in.
func startStack(tb testing.TB) *stack {
	tb.Helper()
	ctx := context.Background()
	s := &stack{tfs: tfservingstandin.Start(tb), redis: redistest.Start(tb)}

	store, err := session.NewRedis(s.redis.Client(), session.RedisConfig{Prefix: "tfgate:"})
	if err != nil {
		tb.Fatal(err)
	}
	s.store = store
	sessionsFor(tb, s)

	policy, err := rego.New(ctx, rego.Config{Dir: policyDir(tb)})
	if err != nil {
		tb.Fatal(err)
	}
	authorizer, err := authz.New(authz.Config{Sessions: store, Policy: policy})
	if err != nil {
		tb.Fatal(err)
	}
	s.audit = &lockedBuffer{}
	s.auditLog = authz.NewDecisionLog(s.audit)
	tb.Cleanup(func() { s.auditLog.Close() })
	checkSrv, err := envoy.NewServer(envoy.Config{Checker: authorizer, Decisions: s.auditLog})
	if err != nil {
		tb.Fatal(err)
	}
	client := serveGRPC(tb, envoy.NewGRPCServer(checkSrv, health.NewServer()))
	s.authz = client

	// Both emulated listeners are configured from envoy/envoy.yaml itself.
	// This stack has no tfgate HTTP listener; its /saml/ and /token routes
	// lead to one that answers 404.
	clusters := map[string]*url.URL{
		"tfserving_rest": s.tfs.RESTURL(),
		"tfserving_grpc": s.tfs.GRPCURL(),
		"extauthz_http":  notFoundURL(tb),
	}
	s.restAddr = startShippedEnvoy(tb, "rest", clusters, client)
	s.grpcAddr = startShippedEnvoy(tb, "grpc", clusters, client)
	return s
}

// startShippedEnvoy starts the Envoy emulator as envoy/envoy.yaml's listener
// called listener, with the route clusters at the given addresses and authz
// as the ext_authz cluster, and returns its address. The one change: the
// Check timeout is 5s instead of envoy.yaml's 0.5s/2s, so a slow first dial
// under -race on a busy machine cannot turn into a spurious 503.
func startShippedEnvoy(tb testing.TB, listener string, clusters map[string]*url.URL, authz authv3.AuthorizationClient) string {
	tb.Helper()
	return startEnvoy(tb, listener, clusters, authz, nil)
}

// envoyConfig is the emulator's configuration.
type envoyConfig = envoyemu.Config

// startShippedEnvoyEdited is startShippedEnvoy for s, with the config
// changed by edit: for tests of a deployment that differs from envoy.yaml.
func startShippedEnvoyEdited(tb testing.TB, listener string, s *stack, edit func(*envoyConfig)) string {
	tb.Helper()
	return startEnvoy(tb, listener, map[string]*url.URL{
		"tfserving_rest": s.tfs.RESTURL(), "tfserving_grpc": s.tfs.GRPCURL(), "extauthz_http": notFoundURL(tb),
	}, s.authz, edit)
}

func startEnvoy(tb testing.TB, listener string, clusters map[string]*url.URL, authz authv3.AuthorizationClient, edit func(*envoyConfig)) string {
	tb.Helper()
	bs, err := envoyemu.ParseBootstrap(envoy.BootstrapYAML)
	if err != nil {
		tb.Fatal(err)
	}
	cfg, err := envoyemu.FromBootstrap(bs, listener, clusters)
	if err != nil {
		tb.Fatal(err)
	}
	cfg.Authz, cfg.Timeout = authz, 5*time.Second
	if edit != nil {
		edit(&cfg)
	}
	_, addr := envoyemu.Start(tb, cfg)
	return addr
}

// notFoundURL serves 404 on loopback, for clusters a stack does not run.
func notFoundURL(tb testing.TB) *url.URL {
	srv := httptest.NewServer(http.NotFoundHandler())
	tb.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL)
	return u
}

// policyDir writes the default policy with the e2e grants to a temp dir.
func policyDir(tb testing.TB) string {
	tb.Helper()
	dir := tb.TempDir()
	src, err := os.ReadFile("../../rego/policies/tfgate.rego")
	if err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tfgate.rego"), src, 0o644); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "data.yaml"), []byte(grants), 0o644); err != nil {
		tb.Fatal(err)
	}
	return dir
}

// serveGRPC serves g on a loopback port and returns an Authorization
// client dialled the way Envoy's cluster would be.
func serveGRPC(tb testing.TB, g *grpc.Server) authv3.AuthorizationClient {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	go func() { _ = g.Serve(ln) }()
	conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithAuthority("extauthz_grpc"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { conn.Close(); g.Stop() })
	return authv3.NewAuthorizationClient(conn)
}

// reached reports how many requests reached the TF Serving stand-in since
// the last reset, and resets.
func (s *stack) reached() []tfservingstandin.Record {
	recs := s.tfs.Requests()
	s.tfs.Reset()
	return recs
}

// sessionsFor signs alice (ml-engineers) and bob (sales) in.
func sessionsFor(tb testing.TB, s *stack) {
	tb.Helper()
	for token, sess := range map[string]authz.Session{
		aliceToken: {Subject: "alice", Email: "alice@example.com", Groups: []string{"ml-engineers"}, IdP: "https://idp.test"},
		bobToken:   {Subject: "bob", Email: "bob@example.com", Groups: []string{"sales"}, IdP: "https://idp.test"},
	} {
		sess.CreatedAt, sess.ExpiresAt = time.Now(), time.Now().Add(time.Hour)
		if err := s.store.Create(context.Background(), token, sess); err != nil {
			tb.Fatal(err)
		}
	}
}
