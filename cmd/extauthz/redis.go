package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tfgate/tfgate/authz/session"
)

// Limits validate enforces on the sessions block.
const (
	// minIdleTimeout keeps the idle timeout well above the once-a-minute
	// touch, so that its granularity does not dominate it.
	minIdleTimeout = 2 * time.Minute
	// maxCacheTTL keeps a lost invalidation from being served for long.
	maxCacheTTL = time.Minute
)

type badFunc func(path, format string, args ...any)

// validate checks the lifetimes and, when sessions are in Redis, the
// Redis block.
func (c *SessionsConfig) validate(bad badFunc) {
	for _, d := range []struct {
		path string
		v    time.Duration
	}{{"sessions.max_lifetime", c.MaxLifetime}, {"sessions.idle_timeout", c.IdleTimeout}, {"sessions.max_auth_age", c.MaxAuthAge}} {
		if d.v < 0 {
			bad(d.path, "must not be negative (0 turns it off)")
		}
	}
	if c.IdleTimeout > 0 && c.IdleTimeout < minIdleTimeout {
		bad("sessions.idle_timeout", "%v is too short: use 0 (off) or at least %v, since use is recorded once a minute", c.IdleTimeout, minIdleTimeout)
	}
	r := &c.Redis
	if r.Timeout <= 0 {
		bad("sessions.redis.timeout", "must be positive (e.g. 50ms)")
	}
	if c.Store == "redis" {
		r.validate(bad)
	}
}

func (r *RedisConfig) validate(bad badFunc) {
	oneOf(bad, "sessions.redis.mode", "sessions.redis.mode", r.Mode)
	addrs, err := r.resolve()
	if err != nil {
		bad("sessions.redis.url", "%v", err)
		return
	}
	switch {
	case len(addrs.addrs) == 0:
		bad("sessions.redis.addrs", "needs at least one host:port")
	case r.Mode == "standalone" && len(addrs.addrs) > 1:
		bad("sessions.redis.addrs", "a standalone server has one address; for several, set mode to cluster or sentinel")
	}
	for _, a := range addrs.addrs {
		if _, _, err := net.SplitHostPort(a); err != nil {
			bad("sessions.redis.addrs", "%q is not host:port", a)
		}
	}
	if r.Mode == "sentinel" && addrs.masterName == "" {
		bad("sessions.redis.master_name", "is required in sentinel mode")
	}
	if r.Mode != "sentinel" && (addrs.masterName != "" || r.SentinelUsername != "" || r.SentinelPassword != "") {
		bad("sessions.redis.master_name", "master_name and sentinel_* are for sentinel mode only")
	}
	if addrs.db < 0 || (r.Mode == "cluster" && addrs.db != 0) {
		bad("sessions.redis.db", "must be 0 in cluster mode and not negative otherwise")
	}
	if r.Password != "" && r.PasswordFile != "" {
		bad("sessions.redis.password_file", "set password or password_file, not both")
	}
	r.validateNumbers(bad)
	r.validateFiles(bad, addrs.tls)
}

func (r *RedisConfig) validateNumbers(bad badFunc) {
	for _, d := range []struct {
		path string
		v    time.Duration
	}{
		{"sessions.redis.dial_timeout", r.DialTimeout}, {"sessions.redis.read_timeout", r.ReadTimeout},
		{"sessions.redis.write_timeout", r.WriteTimeout}, {"sessions.redis.wait_timeout", r.WaitTimeout},
	} {
		if d.v <= 0 {
			bad(d.path, "must be positive")
		}
	}
	if r.PoolSize < 0 {
		bad("sessions.redis.pool_size", "must not be negative (0 is go-redis's default)")
	}
	if r.WaitReplicas < 0 {
		bad("sessions.redis.wait_replicas", "must not be negative")
	}
	if r.Cache.TTL < 0 || r.Cache.TTL > maxCacheTTL {
		bad("sessions.redis.cache.ttl", "must be between 0 (off) and %v", maxCacheTTL)
	}
	if r.Cache.MaxEntries < 1 {
		bad("sessions.redis.cache.max_entries", "must be at least 1")
	}
}

func (r *RedisConfig) validateFiles(bad badFunc, tlsOn bool) {
	readable := func(path, file string) {
		if file == "" {
			return
		}
		if f, err := os.Open(file); err != nil {
			bad(path, "%v", err)
		} else {
			f.Close()
		}
	}
	readable("sessions.redis.password_file", r.PasswordFile)
	t := r.TLS
	if !tlsOn && (t.CAFile != "" || t.CertFile != "" || t.KeyFile != "" || t.ServerName != "") {
		bad("sessions.redis.tls.enabled", "tls settings are given but TLS is off: set enabled: true or use a rediss:// url")
	}
	if (t.CertFile == "") != (t.KeyFile == "") {
		bad("sessions.redis.tls.cert_file", "cert_file and key_file go together")
	}
	readable("sessions.redis.tls.ca_file", t.CAFile)
	readable("sessions.redis.tls.cert_file", t.CertFile)
	readable("sessions.redis.tls.key_file", t.KeyFile)
}

// redisTarget is where and as whom to connect, after the URL is applied.
type redisTarget struct {
	addrs              []string
	username, password string
	masterName         string
	db                 int
	tls                bool
}

// resolve merges URL into the other fields: what the URL says wins.
func (r *RedisConfig) resolve() (redisTarget, error) {
	t := redisTarget{
		addrs: r.Addrs, username: r.Username, password: r.Password,
		masterName: r.MasterName, db: r.DB, tls: r.TLS.Enabled,
	}
	if r.URL == "" {
		return t, nil
	}
	u, err := url.Parse(r.URL)
	if err != nil {
		return t, errors.New("not a URL") // url.Parse's error would echo a password
	}
	switch u.Scheme {
	case "rediss":
		t.tls = true
	case "redis":
	default:
		return t, fmt.Errorf("scheme %q is not redis or rediss", u.Scheme)
	}
	if u.Host == "" {
		return t, errors.New("no host:port")
	}
	t.addrs = []string{u.Host}
	if u.User != nil {
		t.username = u.User.Username()
		if p, ok := u.User.Password(); ok {
			t.password = p
		}
	}
	if p := strings.Trim(u.Path, "/"); p != "" {
		if t.db, err = strconv.Atoi(p); err != nil {
			return t, fmt.Errorf("path %q is not a database number", u.Path)
		}
	}
	for k, vs := range u.Query() {
		switch k {
		case "addr":
			t.addrs = append(t.addrs, vs...)
		case "master_name":
			t.masterName = vs[len(vs)-1]
		default:
			return t, fmt.Errorf("unknown query parameter %q (known: addr, master_name)", k)
		}
	}
	return t, nil
}

// newRedisClient returns the go-redis client for cfg (validated): a
// *redis.Client for standalone, a *redis.ClusterClient for cluster, a
// sentinel-backed failover *redis.Client for sentinel.
func newRedisClient(cfg RedisConfig) (redis.UniversalClient, error) {
	t, err := cfg.resolve()
	if err != nil {
		return nil, fmt.Errorf("sessions.redis.url: %w", err)
	}
	if cfg.PasswordFile != "" {
		b, err := os.ReadFile(cfg.PasswordFile)
		if err != nil {
			return nil, fmt.Errorf("sessions.redis.password_file: %w", err)
		}
		t.password = strings.TrimRight(string(b), "\r\n")
	}
	opts := &redis.UniversalOptions{
		Addrs: t.addrs, Username: t.username, Password: t.password, DB: t.db,
		MasterName: t.masterName, SentinelUsername: cfg.SentinelUsername, SentinelPassword: cfg.SentinelPassword,
		IsClusterMode: cfg.Mode == "cluster",
		DialTimeout:   cfg.DialTimeout, ReadTimeout: cfg.ReadTimeout, WriteTimeout: cfg.WriteTimeout,
		PoolSize: cfg.PoolSize,
		// Without this go-redis ignores context deadlines on the socket and
		// the per-Check time budget could not bound a hung Redis.
		ContextTimeoutEnabled: true,
		// RESP2: tfgate uses no RESP3 feature (client-side caching, push
		// notifications), and under RESP3 go-redis peeks for pending push
		// notifications around every command: about 12% of a lookup's
		// client CPU (BenchmarkRedisLookup/resp2 vs resp3, CPU profiles).
		Protocol: 2,
	}
	if t.tls {
		tc, err := redisTLS(cfg.TLS)
		if err != nil {
			return nil, err
		}
		opts.TLSConfig = tc
		opts.Dialer = tlsDialer(tc, cfg.DialTimeout)
	}
	if cfg.Mode == "standalone" && len(opts.Addrs) > 1 {
		// NewUniversalClient picks a cluster client for several addresses;
		// validate allows one, and this keeps a stray URL addr out.
		opts.Addrs = opts.Addrs[:1]
	}
	return redis.NewUniversalClient(opts), nil
}

// tlsDialer dials TLS within the caller's context. go-redis's own TLS
// dialer (tls.DialWithDialer) ignores the context, so a dial to an
// unreachable node could outlast the Check budget by the whole DialTimeout.
func tlsDialer(tc *tls.Config, timeout time.Duration) func(context.Context, string, string) (net.Conn, error) {
	d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}, Config: tc}
	return d.DialContext
}

// redisTLS builds the client TLS configuration: TLS 1.2 or later, the CA
// bundle (or the system's roots), an optional client certificate.
func redisTLS(cfg RedisTLSConfig) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: cfg.ServerName}
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("sessions.redis.tls.ca_file: %w", err)
		}
		tc.RootCAs = x509.NewCertPool()
		if !tc.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("sessions.redis.tls.ca_file: no PEM certificate in %s", cfg.CAFile)
		}
	}
	if cfg.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(cfg.CertFile, cfg.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("sessions.redis.tls: client certificate: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// newRedisStore connects the Redis session store of cfg, without the
// cache: what `extauthz sessions` uses, and what the server's cache wraps.
func newRedisStore(cfg SessionsConfig) (*session.Redis, redis.UniversalClient, error) {
	client, err := newRedisClient(cfg.Redis)
	if err != nil {
		return nil, nil, err
	}
	s, err := session.NewRedis(client, session.RedisConfig{
		Prefix: cfg.Redis.Prefix, Timeout: cfg.Redis.Timeout, Lifetime: lifetime(cfg),
		WaitReplicas: cfg.Redis.WaitReplicas, WaitTimeout: cfg.Redis.WaitTimeout,
	})
	if err != nil {
		client.Close()
		return nil, nil, fmt.Errorf("sessions: %w", err)
	}
	return s, client, nil
}

func lifetime(cfg SessionsConfig) session.Lifetime {
	return session.Lifetime{Max: cfg.MaxLifetime, Idle: cfg.IdleTimeout, MaxAuthAge: cfg.MaxAuthAge}
}
