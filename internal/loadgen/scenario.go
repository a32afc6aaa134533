package loadgen

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"google.golang.org/grpc"

	"github.com/tfgate/tfgate/authz"
	"github.com/tfgate/tfgate/authz/session"
)

// Scenario names, in the order Scenarios lists them.
const (
	Noop            = "noop"
	DenyAnonymous   = "deny-anonymous"
	AllowMemory     = "allow-memory"
	AllowRedis      = "allow-redis"
	AllowGRPCMemory = "allow-grpc-memory"
	// AllowMemoryUncached is AllowMemory with the policy decision cache
	// off: every Check evaluates the Rego policy, as for a caller whose
	// every request differs (another model, path or user).
	AllowMemoryUncached = "allow-memory-uncached"
	// ManyUsers defeats both caches: manyUsers callers, each with a
	// session of their own in Redis (no local session cache) and a
	// group of their own, so every Check reads Redis and evaluates Rego.
	ManyUsers = "many-users"
)

// manyUsers is how many sessions ManyUsers signs in.
const manyUsers = 1024

// Per-Check timeouts, as envoy/envoy.yaml sets grpc_service.timeout on each
// listener; a Check slower than this fails as it would behind Envoy.
const (
	restTimeout = 500 * time.Millisecond
	grpcTimeout = 2 * time.Second
)

// Subject is the benchmark session's user, the x-tfgate-user of an allow.
const Subject = "bench@example.com"

// RedisPrefix prefixes the session key the Redis scenario writes, so that
// it cannot collide with a deployment's keys when -redis names a shared
// Redis. The key is deleted at Close and has a TTL in any case.
const RedisPrefix = "tfgate-bench:"

// defaultVariants is Options.Variants when unset.
const defaultVariants = 64

type storeKind int

const (
	noStore storeKind = iota // the no-op server
	memoryStore
	redisStore
)

// spec describes one scenario.
type spec struct {
	name  string
	about string
	store storeKind
	grpc  bool
	token bool
	// uncached turns the policy decision cache off.
	uncached bool
	// users is how many sessions (users) the requests spread over; 0 is 1.
	users int
}

var specs = []spec{
	{Noop, "no-op Authorization server answering OK (baseline); REST predict request", noStore, false, true, false, 0},
	{DenyAnonymous, "REST predict, no credential: 401", memoryStore, false, false, false, 0},
	{AllowMemory, "REST predict, bearer token, in-memory session store", memoryStore, false, true, false, 0},
	{AllowMemoryUncached, "as allow-memory with the policy decision cache off (Rego evaluated on every Check)", memoryStore, false, true, true, 0},
	{AllowMemoryTraced1, "as allow-memory with OpenTelemetry tracing on, 1% of Checks sampled (allow-memory: tracing off)", memoryStore, false, true, false, 0},
	{AllowRedis, "REST predict, bearer token, Redis session store without the local cache: every Check goes to Redis", redisStore, false, true, false, 0},
	{AllowRedisCached, "as allow-redis behind the local session cache (extauthz's default): Checks hit the cache", redisCachedStore, false, true, false, 0},
	{AllowGRPCMemory, "gRPC Predict with a 1 KiB tensor in raw_body, bearer token, in-memory store", memoryStore, true, true, false, 0},
	{ManyUsers, "REST predict from 1024 users with a session each in Redis, no session cache, decision cache off: Redis and Rego on every Check", redisStore, false, true, true, manyUsers},
}

// Scenarios returns every scenario name, baseline first.
func Scenarios() []string {
	names := make([]string, len(specs))
	for i, s := range specs {
		names[i] = s.name
	}
	return names
}

// Describe returns a one-line description of a scenario, or "".
func Describe(name string) string {
	if s, ok := lookup(name); ok {
		return s.about
	}
	return ""
}

func lookup(name string) (spec, bool) {
	for _, s := range specs {
		if s.name == name {
			return s, true
		}
	}
	return spec{}, false
}

// Options configures Start.
type Options struct {
	// RedisAddr is the Redis the allow-redis scenario stores its session
	// in; that scenario fails with ErrNeedRedis without it.
	RedisAddr string
	// Variants is how many distinct CheckRequests a scenario cycles
	// through (they differ in stream id, x-request-id and client port).
	// default: 64.
	Variants int
	// RedisTimeout is the Redis budget of one Check (extauthz's
	// sessions.redis.timeout, 50ms by default there). default: 500ms, the
	// Check timeout, so that only a failed Redis fails a Check.
	RedisTimeout time.Duration
}

// Server is one scenario's Authorization server, listening on a loopback
// port, with the requests to send it and the answer they must get.
type Server struct {
	// Name is the scenario's name.
	Name string
	// Addr is the "127.0.0.1:port" the gRPC server listens on.
	Addr string
	// Requests are sent in turn.
	Requests []*authv3.CheckRequest
	// Expect is the answer every request must get.
	Expect Expectation
	// Timeout bounds each Check, like Envoy's grpc_service.timeout.
	Timeout time.Duration

	grpc    *grpc.Server
	metrics *prometheus.Registry
	cleanup []func()
	// redisTimeout is Options.RedisTimeout.
	redisTimeout time.Duration
}

// Shed returns tfgate_checks_shed_total as the server's /metrics would
// show it (summed over reasons); 0 for the no-op server.
func (s *Server) Shed() float64 {
	if s.metrics == nil {
		return 0
	}
	mfs, err := s.metrics.Gather()
	if err != nil {
		return 0
	}
	var n float64
	for _, mf := range mfs {
		if mf.GetName() == "tfgate_checks_shed_total" {
			for _, m := range mf.GetMetric() {
				n += m.GetCounter().GetValue()
			}
		}
	}
	return n
}

// Start starts the named scenario's server on 127.0.0.1:0 and, for the
// scenarios with a session, creates it. Close the Server when done.
func Start(ctx context.Context, name string, opts Options) (*Server, error) {
	sp, ok := lookup(name)
	if !ok {
		return nil, fmt.Errorf("%w %q (have %s)", ErrUnknownScenario, name, strings.Join(Scenarios(), ", "))
	}
	if opts.Variants <= 0 {
		opts.Variants = defaultVariants
	}
	s := &Server{Name: name, Timeout: restTimeout, Expect: Expectation{Allow: true, User: Subject}, redisTimeout: opts.RedisTimeout}
	tokens := make([]string, max(sp.users, 1))
	for i := range tokens {
		t, err := authz.NewToken(nil)
		if err != nil {
			return nil, err
		}
		tokens[i] = t
	}
	if err := s.build(ctx, sp, tokens, opts.RedisAddr); err != nil {
		s.Close()
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("loadgen: listening on loopback: %w", err)
	}
	s.Addr = ln.Addr().String()
	g := s.grpc
	go func() { _ = g.Serve(ln) }() // returns when Close stops the server
	s.requests(sp, tokens, max(opts.Variants, len(tokens)))
	return s, nil
}

// build makes the gRPC server and the session store sp needs.
func (s *Server) build(ctx context.Context, sp spec, tokens []string, redisAddr string) error {
	var store interface {
		authz.SessionStore
		Create(context.Context, string, authz.Session) error
	}
	switch sp.store {
	case noStore:
		s.grpc = newNoopGRPC()
		s.Expect.User = "" // the no-op server sets no identity headers
		return nil
	case memoryStore:
		store = session.NewMemory(session.MemoryConfig{})
	case redisStore:
		r, err := s.redisStore(redisAddr)
		if err != nil {
			return err
		}
		store = r
		s.cleanup = append(s.cleanup, func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			for _, token := range tokens {
				_ = r.Delete(ctx, token)
			}
		})
	case redisCachedStore:
		c, err := s.cachedRedisStore(ctx, redisAddr)
		if err != nil {
			return err
		}
		store = c
		s.cleanup = append(s.cleanup, func() { _ = c.redis.Delete(context.Background(), tokens[0]) })
	}
	if sp.token {
		for i, token := range tokens {
			sess := BenchSession()
			if len(tokens) > 1 {
				// A group of one's own makes every user's input differ.
				sess.Groups = append(sess.Groups, fmt.Sprintf("bench-user-%04d", i))
			}
			if err := store.Create(ctx, token, sess); err != nil {
				return fmt.Errorf("loadgen: creating the benchmark session: %w", err)
			}
		}
	} else {
		s.Expect = Expectation{HTTPStatus: http.StatusUnauthorized}
	}
	srv, reg, closeSrv, err := newCheckServer(ctx, store, sp.uncached, nil)
	if ratio, ok := tracedRatio[sp.name]; ok {
		srv, closeSrv, err = NewTracedCheckServer(ctx, store, ratio)
		reg = nil
	}
	if err != nil {
		return err
	}
	s.cleanup = append(s.cleanup, closeSrv)
	s.grpc, s.metrics = newTFGateGRPC(srv), reg
	return nil
}

// redisStore connects to addr the way cmd/extauthz does.
func (s *Server) redisStore(addr string) (*session.Redis, error) {
	if addr == "" {
		return nil, ErrNeedRedis
	}
	client := redis.NewUniversalClient(&redis.UniversalOptions{Addrs: []string{addr}, ContextTimeoutEnabled: true, Protocol: 2})
	cfg := benchRedisConfig()
	if s.redisTimeout > 0 {
		cfg.Timeout = s.redisTimeout
	}
	r, err := session.NewRedis(client, cfg)
	if err != nil {
		client.Close()
		return nil, err
	}
	// Runs after the session is deleted: cleanup runs in reverse.
	s.cleanup = append(s.cleanup, func() { client.Close() })
	return r, nil
}

// requests fills s.Requests (and the gRPC timeout) for sp.
func (s *Server) requests(sp spec, tokens []string, n int) {
	var body []byte
	if sp.grpc {
		body = PredictBody()
		s.Timeout = grpcTimeout
	}
	s.Requests = make([]*authv3.CheckRequest, n)
	for i := range s.Requests {
		token := tokens[i%len(tokens)]
		if !sp.token {
			token = ""
		}
		if sp.grpc {
			s.Requests[i] = GRPCPredict(token, body, i)
		} else {
			s.Requests[i] = RESTPredict(token, i)
		}
	}
}

// BenchSession returns the session the allow scenarios sign in with:
// Subject in Groups, valid for a day.
func BenchSession() authz.Session {
	now := time.Now()
	return authz.Session{
		Subject: Subject, Email: Subject, Groups: slices.Clone(Groups),
		IdP: "https://idp.example.com/saml", CreatedAt: now, ExpiresAt: now.Add(24 * time.Hour),
	}
}

// Close stops the server at once (in-flight Checks fail) and releases what
// Start created. It is safe to call more than once.
func (s *Server) Close() {
	if s.grpc != nil {
		s.grpc.Stop()
		s.grpc = nil
	}
	for i := len(s.cleanup) - 1; i >= 0; i-- {
		s.cleanup[i]()
	}
	s.cleanup = nil
}
