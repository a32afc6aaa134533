package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/tfgate/tfgate/authz"
)

// Config is extauthz's configuration file. Every field documents its
// default; extauthz.example.yaml shows them all. Unknown fields are errors.
type Config struct {
	Listen      ListenConfig      `yaml:"listen"`
	Log         LogConfig         `yaml:"log"`
	DecisionLog DecisionLogConfig `yaml:"decision_log"`
	Sessions    SessionsConfig    `yaml:"sessions"`
	Policy      PolicyConfig      `yaml:"policy"`
	SAML        SAMLConfig        `yaml:"saml"`
	// WorkloadIdentity: programs in a cluster, by mTLS peer identity or
	// service-account token exchange (workload.go).
	WorkloadIdentity WorkloadIdentityConfig `yaml:"workload_identity"`
}

// ListenConfig says where extauthz listens.
type ListenConfig struct {
	// GRPC is the ext_authz gRPC address. Default: ":9191".
	GRPC string `yaml:"grpc"`
	// HTTP is the address of the SAML, token, health and metrics endpoints.
	// Default: ":8080".
	HTTP string `yaml:"http"`
	// MaxRequestBytes bounds one CheckRequest; keep it above Envoy's
	// with_request_body.max_request_bytes. Default: 83886080 (80 MiB).
	MaxRequestBytes int `yaml:"max_request_bytes"`
	// ShutdownTimeout is how long in-flight requests get on SIGTERM.
	// Default: 10s.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
}

// LogConfig configures the server log (not the decision log).
type LogConfig struct {
	// Level is debug, info, warn or error. Default: info.
	Level string `yaml:"level"`
	// Format is json or text. Default: json.
	Format string `yaml:"format"`
}

// DecisionLogConfig configures the audit trail.
type DecisionLogConfig struct {
	// Path is "-" for stdout, "off" to disable, or a file to append to.
	// Default: "-".
	Path string `yaml:"path"`
}

// SessionsConfig says where sessions live, how long, and how callers
// present them.
type SessionsConfig struct {
	// Store is memory (one replica, the default) or redis.
	Store string `yaml:"store"`
	// CookieName is the browser session cookie. Default: "__Host-tfgate".
	CookieName string `yaml:"cookie_name"`
	// MaxLifetime caps every session's lifetime from when it is stored,
	// whatever the IdP's SessionNotOnOrAfter; 0 means no cap. Default: 12h.
	MaxLifetime time.Duration `yaml:"max_lifetime"`
	// IdleTimeout ends a session unused for this long; 0 turns it off. It
	// is recorded at most once a minute per session, so a session ends
	// between IdleTimeout-1m and IdleTimeout after its last use. Default: 1h.
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// MaxAuthAge ends a session this long after the sign-in that asserted
	// its groups, so group membership is never older than this; 0 means
	// no limit. Default: 12h.
	MaxAuthAge time.Duration `yaml:"max_auth_age"`
	// Memory configures the in-memory store.
	Memory MemoryConfig `yaml:"memory"`
	// Redis configures the Redis store.
	Redis RedisConfig `yaml:"redis"`
}

// MemoryConfig configures the in-memory session store.
type MemoryConfig struct {
	// MaxEntries bounds the store. Default: 100000.
	MaxEntries int `yaml:"max_entries"`
}

// RedisConfig configures the Redis session store: one block for a
// standalone server, a Redis Cluster or a Sentinel deployment.
type RedisConfig struct {
	// Addrs are host:port addresses: the server (standalone), any cluster
	// nodes to discover the rest from (cluster), or the sentinels
	// (sentinel). Default: ["127.0.0.1:6379"].
	Addrs []string `yaml:"addrs"`
	// Mode is standalone, cluster or sentinel. Default: standalone.
	Mode string `yaml:"mode"`
	// URL, when set, replaces Addrs: redis:// or rediss:// (TLS), user info,
	// host:port, /DB, and the query parameters addr (more addresses, any
	// number of times) and master_name. What it sets overrides Username,
	// Password, DB, MasterName and TLS.Enabled. Default: "".
	URL string `yaml:"url"`
	// MasterName is the name the sentinels know the master by (sentinel
	// only). Default: "".
	MasterName string `yaml:"master_name"`
	// Username for Redis ACLs. Default: "".
	Username string `yaml:"username"`
	// Password; use ${ENV} or PasswordFile rather than writing it here.
	// Default: "".
	Password string `yaml:"password"`
	// PasswordFile is a file holding the password (a trailing newline is
	// ignored), read at start; not with Password. Default: "".
	PasswordFile string `yaml:"password_file"`
	// SentinelUsername and SentinelPassword authenticate to the sentinels
	// themselves, when they require it (sentinel only). Default: "".
	SentinelUsername string `yaml:"sentinel_username"`
	SentinelPassword string `yaml:"sentinel_password"`
	// DB is the database number (standalone and sentinel). Default: 0.
	DB int `yaml:"db"`
	// Prefix starts every key tfgate writes. Default: "tfgate:".
	Prefix string `yaml:"prefix"`
	// Timeout is the Redis time budget of one Check. Default: 50ms.
	Timeout time.Duration `yaml:"timeout"`
	// DialTimeout, ReadTimeout and WriteTimeout bound connecting, reading
	// and writing when no shorter budget applies (the invalidation
	// subscription, extauthz sessions). Default: 1s each.
	DialTimeout  time.Duration `yaml:"dial_timeout"`
	ReadTimeout  time.Duration `yaml:"read_timeout"`
	WriteTimeout time.Duration `yaml:"write_timeout"`
	// PoolSize is the most connections per Redis node; 0 means go-redis's
	// default, 10 per CPU. Default: 0.
	PoolSize int `yaml:"pool_size"`
	// WaitReplicas, when positive, makes each session write wait until
	// that many replicas have it (Redis WAIT), so a failover right after a
	// sign-in or a revocation cannot lose it. Default: 0.
	WaitReplicas int `yaml:"wait_replicas"`
	// WaitTimeout bounds that wait. Default: 100ms.
	WaitTimeout time.Duration `yaml:"wait_timeout"`
	// TLS configures TLS to Redis (and to the sentinels).
	TLS RedisTLSConfig `yaml:"tls"`
	// Cache configures the in-process cache in front of Redis.
	Cache CacheConfig `yaml:"cache"`
}

// RedisTLSConfig configures TLS to Redis.
type RedisTLSConfig struct {
	// Enabled turns TLS on (a rediss:// URL does too). Default: false.
	Enabled bool `yaml:"enabled"`
	// CAFile is a PEM bundle of the CAs to trust; empty means the system's.
	// Default: "".
	CAFile string `yaml:"ca_file"`
	// CertFile and KeyFile are a PEM client certificate and key, for a
	// Redis with tls-auth-clients. Default: "".
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// ServerName is the name to verify in Redis's certificate; empty means
	// each node's host. Default: "".
	ServerName string `yaml:"server_name"`
}

// CacheConfig configures the in-process session cache of the Check path.
type CacheConfig struct {
	// TTL is how long a session is served from memory; 0 turns the cache
	// off. Revocations reach every replica's cache at once over Redis
	// pub/sub; TTL bounds the delay when that subscription is down.
	// Default: 1s.
	TTL time.Duration `yaml:"ttl"`
	// MaxEntries bounds the cache. Default: 10000.
	MaxEntries int `yaml:"max_entries"`
}

// PolicyConfig says which Rego policy decides.
type PolicyConfig struct {
	// Dir holds .rego files and data.yaml; empty means the embedded default
	// policy. Default: "".
	Dir string `yaml:"dir"`
	// ReloadInterval is how often Dir is checked for changes; 0 turns hot
	// reload off. Default: 2s.
	ReloadInterval time.Duration `yaml:"reload_interval"`
	// DecisionCacheEntries bounds the cache of decisions by their complete
	// input (emptied on every reload; never used for policies that call
	// time.now_ns, http.send or other non-deterministic built-ins); 0
	// disables it. Default: 10000.
	DecisionCacheEntries int `yaml:"decision_cache_entries"`
}

// DefaultConfig returns the embedded defaults: everything a config file
// leaves out.
func DefaultConfig() Config {
	return Config{
		Listen:      ListenConfig{GRPC: ":9191", HTTP: ":8080", MaxRequestBytes: 80 << 20, ShutdownTimeout: 10 * time.Second},
		Log:         LogConfig{Level: "info", Format: "json"},
		DecisionLog: DecisionLogConfig{Path: "-"},
		Sessions: SessionsConfig{
			Store: "memory", CookieName: authz.DefaultCookieName,
			MaxLifetime: 12 * time.Hour, IdleTimeout: time.Hour, MaxAuthAge: 12 * time.Hour,
			Memory: MemoryConfig{MaxEntries: 100000},
			Redis: RedisConfig{
				Mode: "standalone", Addrs: []string{"127.0.0.1:6379"}, Prefix: "tfgate:", Timeout: 50 * time.Millisecond,
				DialTimeout: time.Second, ReadTimeout: time.Second, WriteTimeout: time.Second,
				WaitTimeout: 100 * time.Millisecond,
				Cache:       CacheConfig{TTL: time.Second, MaxEntries: 10000},
			},
		},
		Policy: PolicyConfig{ReloadInterval: 2 * time.Second, DecisionCacheEntries: 10000},
		SAML:   defaultSAMLConfig(),

		WorkloadIdentity: defaultWorkloadIdentityConfig(),
	}
}

// ConfigError lists everything wrong with a config file, each with its line.
type ConfigError struct {
	File     string
	Problems []string
}

func (e *ConfigError) Error() string {
	return e.File + ":\n  " + strings.Join(e.Problems, "\n  ")
}

// LoadConfig reads, expands and validates a config file. The error, when
// not nil, is a *ConfigError naming every problem with its line.
func LoadConfig(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("reading config: %w", err)
	}
	return ParseConfig(path, data, os.LookupEnv)
}

// ParseConfig is LoadConfig on bytes, with the environment as a function.
func ParseConfig(name string, data []byte, env func(string) (string, bool)) (Config, error) {
	cfg := DefaultConfig()
	cerr := &ConfigError{File: name}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		cerr.Problems = append(cerr.Problems, strings.TrimPrefix(err.Error(), "yaml: "))
		return cfg, cerr
	}
	if len(root.Content) == 0 {
		return cfg, nil // an empty file means all defaults
	}
	doc := root.Content[0]
	expandEnv(doc, env, cerr)
	checkFields(doc, reflect.TypeFor[Config](), "", cerr)
	// Decode and validate even after unknown fields, so one run of
	// "config check" lists every problem.
	if err := doc.Decode(&cfg); err != nil {
		var te *yaml.TypeError
		if errors.As(err, &te) {
			cerr.Problems = append(cerr.Problems, te.Errors...)
		} else {
			cerr.Problems = append(cerr.Problems, err.Error())
		}
	} else {
		cfg.validate(doc, cerr)
	}
	if len(cerr.Problems) > 0 {
		return cfg, cerr
	}
	return cfg, nil
}

// expandEnv replaces ${NAME} in every scalar value; $$ is a literal $.
func expandEnv(n *yaml.Node, env func(string) (string, bool), cerr *ConfigError) {
	if n.Kind == yaml.ScalarNode && strings.Contains(n.Value, "$") {
		n.Value = os.Expand(n.Value, func(name string) string {
			if name == "$" {
				return "$"
			}
			v, ok := env(name)
			if !ok {
				cerr.Problems = append(cerr.Problems, fmt.Sprintf("line %d: environment variable %s is not set", n.Line, name))
			}
			return v
		})
		return
	}
	for i, c := range n.Content {
		if n.Kind == yaml.MappingNode && i%2 == 0 {
			continue // keys are not expanded
		}
		expandEnv(c, env, cerr)
	}
}

// checkFields rejects mapping keys that name no field, with the line and
// the fields that do exist.
func checkFields(n *yaml.Node, t reflect.Type, path string, cerr *ConfigError) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() == reflect.Slice && n.Kind == yaml.SequenceNode {
		for i, item := range n.Content {
			checkFields(item, t.Elem(), fmt.Sprintf("%s[%d]", path, i), cerr)
		}
		return
	}
	if t.Kind() != reflect.Struct || n.Kind != yaml.MappingNode {
		return
	}
	known := map[string]reflect.Type{}
	var names []string
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		known[name] = f.Type
		names = append(names, name)
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		ft, ok := known[k.Value]
		if !ok {
			cerr.Problems = append(cerr.Problems, fmt.Sprintf("line %d: unknown field %q in %s (known: %s)",
				k.Line, k.Value, orRoot(path), strings.Join(names, ", ")))
			continue
		}
		checkFields(v, ft, join(path, k.Value), cerr)
	}
}

func orRoot(path string) string {
	if path == "" {
		return "the top level"
	}
	return path
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// lineOf finds the line of the value at a dotted path, or 0. A key may
// carry a list index, as in "saml.idps[1].name".
func lineOf(n *yaml.Node, path string) int {
	for key := range strings.SplitSeq(path, ".") {
		key, index := splitIndex(key)
		if n.Kind != yaml.MappingNode {
			return 0
		}
		var next *yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == key {
				next = n.Content[i+1]
			}
		}
		if next != nil && index >= 0 {
			if next.Kind != yaml.SequenceNode || index >= len(next.Content) {
				return 0
			}
			next = next.Content[index]
		}
		if next == nil {
			return 0
		}
		n = next
	}
	return n.Line
}

// splitIndex splits "name[3]" into "name" and 3; a key without an index
// gives -1.
func splitIndex(key string) (string, int) {
	name, rest, ok := strings.Cut(key, "[")
	if !ok || !strings.HasSuffix(rest, "]") {
		return key, -1
	}
	i, err := strconv.Atoi(strings.TrimSuffix(rest, "]"))
	if err != nil || i < 0 {
		return key, -1
	}
	return name, i
}

func (c *Config) validate(doc *yaml.Node, cerr *ConfigError) {
	bad := func(path, format string, args ...any) {
		msg := fmt.Sprintf("%s: "+format, append([]any{path}, args...)...)
		if line := lineOf(doc, path); line > 0 {
			msg = fmt.Sprintf("line %d: %s", line, msg)
		}
		cerr.Problems = append(cerr.Problems, msg)
	}
	for _, l := range []struct{ path, addr string }{{"listen.grpc", c.Listen.GRPC}, {"listen.http", c.Listen.HTTP}} {
		if _, _, err := net.SplitHostPort(l.addr); err != nil {
			bad(l.path, "%q is not host:port (e.g. \":9191\" or \"127.0.0.1:9191\")", l.addr)
		}
	}
	if c.Listen.MaxRequestBytes < 1<<20 {
		bad("listen.max_request_bytes", "%d is too small; use at least 1048576 and more than Envoy's max_request_bytes", c.Listen.MaxRequestBytes)
	}
	if c.Listen.ShutdownTimeout < 0 {
		bad("listen.shutdown_timeout", "must not be negative")
	}
	oneOf(bad, "log.level", c.Log.Level, "debug", "info", "warn", "error")
	oneOf(bad, "log.format", c.Log.Format, "json", "text")
	if c.DecisionLog.Path == "" {
		bad("decision_log.path", `must be "-" (stdout), "off", or a file path`)
	}
	oneOf(bad, "sessions.store", c.Sessions.Store, "memory", "redis")
	if c.Sessions.CookieName == "" || strings.ContainsAny(c.Sessions.CookieName, " ;=,\t\"") {
		bad("sessions.cookie_name", "%q is not a valid cookie name", c.Sessions.CookieName)
	}
	if c.Sessions.Memory.MaxEntries < 1 {
		bad("sessions.memory.max_entries", "must be at least 1")
	}
	c.Sessions.validate(bad)
	if c.Policy.ReloadInterval < 0 {
		bad("policy.reload_interval", "must not be negative (0 turns hot reload off)")
	}
	if c.Policy.DecisionCacheEntries < 0 {
		bad("policy.decision_cache_entries", "must not be negative (0 disables the cache)")
	}
	if c.Policy.Dir != "" {
		if st, err := os.Stat(c.Policy.Dir); err != nil || !st.IsDir() {
			bad("policy.dir", "%q is not a directory", c.Policy.Dir)
		}
	}
	c.SAML.validate(bad, c.Sessions.CookieName)
	c.WorkloadIdentity.validate(bad)
}

func oneOf(bad func(string, string, ...any), path, v string, allowed ...string) {
	for _, a := range allowed {
		if v == a {
			return
		}
	}
	bad(path, "%q is not one of %s", v, strings.Join(allowed, ", "))
}
