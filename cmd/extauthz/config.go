package main

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/tfgate/tfgate/authz"
	"github.com/tfgate/tfgate/rego"
	"github.com/tfgate/tfgate/telemetry"
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
	Pages       PagesConfig       `yaml:"pages"`
	Tracing     TracingConfig     `yaml:"tracing"`
	Debug       DebugConfig       `yaml:"debug"`
	// WorkloadIdentity: programs in a cluster, by mTLS peer identity or
	// service-account token exchange (workload.go).
	WorkloadIdentity WorkloadIdentityConfig `yaml:"workload_identity"`
}

// PagesConfig configures the pages a person sees: the account page, the
// deny page of a refused browser navigation, the sign-in and sign-out pages.
type PagesConfig struct {
	// Contact is a line at the foot of every page saying whom to ask, e.g.
	// "Access questions: #ml-platform on Slack, ml-platform@example.com".
	// Default: "".
	Contact string `yaml:"contact"`
}

// TracingConfig configures OpenTelemetry tracing. Fields left empty take
// the standard OTEL_* environment variables (OTEL_EXPORTER_OTLP_ENDPOINT,
// OTEL_EXPORTER_OTLP_PROTOCOL, OTEL_EXPORTER_OTLP_HEADERS, OTEL_SERVICE_NAME,
// OTEL_TRACES_SAMPLER, ...), which the config overrides.
type TracingConfig struct {
	// Enabled turns tracing on. Default: false (no spans, no cost).
	Enabled bool `yaml:"enabled"`
	// Protocol is the OTLP transport: grpc or http/protobuf.
	// Default: "" (OTEL_EXPORTER_OTLP_PROTOCOL, else grpc).
	Protocol string `yaml:"protocol"`
	// Endpoint is the collector's URL, e.g. "http://otel-collector:4317"
	// (http:// means no TLS). Default: "" (OTEL_EXPORTER_OTLP_ENDPOINT,
	// else localhost:4317 for grpc and localhost:4318 for http/protobuf).
	Endpoint string `yaml:"endpoint"`
	// SampleRatio is the share of new traces recorded, between 0 and 1;
	// a sampled parent (Envoy's decision) is always followed. Default: -1
	// (OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG, else 1).
	SampleRatio float64 `yaml:"sample_ratio"`
	// ServiceName is the service.name of the spans.
	// Default: "" (OTEL_SERVICE_NAME, else "tfgate").
	ServiceName string `yaml:"service_name"`
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
	// Limits bound what clients can hold: connections, time, bytes, and
	// Checks in flight (see listen.go).
	Limits LimitsConfig `yaml:"limits"`
	// TLS puts TLS or mTLS on both listeners (see tls.go).
	TLS TLSConfig `yaml:"tls"`
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
	// SkipBrowserNoise leaves out denied browser requests that are not TF
	// Serving API calls (GET /favicon.ico); tfgate_decision_log_skipped_total
	// counts them. Default: false (log every decision).
	SkipBrowserNoise bool `yaml:"skip_browser_noise"`
	// Audit makes a file log tamper-evident: see AuditConfig.
	Audit AuditLogConfig `yaml:"audit"`
}

// AuditLogConfig chains the decision log (a file path only): every line
// carries a hash of the one before, checkpoints sign the chain head, and
// `extauthz audit verify` finds the first broken line.
type AuditLogConfig struct {
	// Chain turns the hash chain on. Default: false.
	Chain bool `yaml:"chain"`
	// SigningKeyFile is an Ed25519 private key (PKCS#8 PEM) signing
	// checkpoints; empty chains without checkpoints. Default: "".
	SigningKeyFile string `yaml:"signing_key_file"`
	// CheckpointLines: a checkpoint after this many lines. Default: 1000.
	CheckpointLines int `yaml:"checkpoint_lines"`
	// CheckpointInterval: a checkpoint at most this long after an
	// unsigned line. Default: 1m.
	CheckpointInterval time.Duration `yaml:"checkpoint_interval"`
	// RotateBytes rotates the file (to PATH.<first seq>) at this size; 0
	// never. Default: 0.
	RotateBytes int64 `yaml:"rotate_bytes"`
	// RotateInterval rotates the file at this age; 0 never. Default: 0.
	RotateInterval time.Duration `yaml:"rotate_interval"`
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
	// MaxEntries bounds each kind of entry (browser sessions, tokens, CLI
	// codes, the replay cache) in its own pool. Default: 100000.
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
	// Engine is what evaluates the policy. "auto" runs it compiled: OPA's
	// plan of the policy (what `opa build -t plan` makes) run by tfgate,
	// several times faster than OPA's evaluator, when every statement and
	// built-in in the plan is supported and the plan agrees with OPA's
	// evaluator on a sample of inputs at every load; otherwise, and with
	// "topdown", OPA's evaluator runs it. /statusz shows which one runs
	// and why. Default: auto.
	Engine string `yaml:"engine"`
	// Bundle, when its url is set, takes the policy from an OPA bundle
	// instead of Dir.
	Bundle BundleConfig `yaml:"bundle"`
	// Shadow evaluates a candidate policy next to the live one.
	Shadow ShadowConfig `yaml:"shadow"`
}

// BundleConfig says where the policy bundle comes from.
type BundleConfig struct {
	// URL is http(s)://…/bundle.tar.gz (polled with ETag),
	// oci://REGISTRY/REPO:TAG, or a local .tar.gz file. Default: "".
	URL string `yaml:"url"`
	// PollInterval is how often the bundle is checked. Default: 30s.
	PollInterval time.Duration `yaml:"poll_interval"`
	// Headers are sent with HTTP bundle requests (use ${ENV} for tokens).
	Headers map[string]string `yaml:"headers"`
	// Verification: with keys, unsigned or wrongly signed bundles are
	// refused (and the last good bundle stays in force).
	Verification BundleVerification `yaml:"verification"`
}

// BundleVerification lists the keys a bundle may be signed with.
type BundleVerification struct {
	// KeyID is the key for signatures that name none. Default: the only key.
	KeyID string `yaml:"key_id"`
	// Scope must match the signature's scope claim when set. Default: "".
	Scope string `yaml:"scope"`
	// Keys by id (the signature's kid).
	Keys map[string]BundleKey `yaml:"keys"`
}

// BundleKey is one public key.
type BundleKey struct {
	// Key is the PEM public key, or KeyFile a file holding it.
	Key     string `yaml:"key"`
	KeyFile string `yaml:"key_file"`
	// Algorithm: RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384,
	// ES512. Default: RS256.
	Algorithm string `yaml:"algorithm"`
}

// ShadowConfig configures the candidate policy of shadow mode.
type ShadowConfig struct {
	// Policy is the candidate: a directory, a bundle file, or a bundle URL
	// (verified with policy.bundle.verification). Empty turns shadow mode
	// off. Default: "".
	Policy string `yaml:"policy"`
	// QueueSize bounds the decisions waiting for the candidate; more are
	// dropped (and counted), never waited for. Default: 1024.
	QueueSize int `yaml:"queue_size"`
}

// DefaultConfig returns the embedded defaults: everything a config file
// leaves out.
func DefaultConfig() Config {
	return Config{
		Listen: ListenConfig{GRPC: ":9191", HTTP: ":8080", MaxRequestBytes: 80 << 20, ShutdownTimeout: 10 * time.Second,
			Limits: defaultLimits(), TLS: TLSConfig{AllowedSANs: []string{}, ReloadInterval: 10 * time.Second}},
		Log:         LogConfig{Level: "info", Format: "json"},
		DecisionLog: DecisionLogConfig{Path: "-", Audit: AuditLogConfig{CheckpointLines: 1000, CheckpointInterval: time.Minute}},
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
		Policy: PolicyConfig{
			ReloadInterval: 2 * time.Second, DecisionCacheEntries: 10000, Engine: rego.EngineAuto,
			Bundle: BundleConfig{
				PollInterval: 30 * time.Second, Headers: map[string]string{},
				Verification: BundleVerification{Keys: map[string]BundleKey{}},
			},
			Shadow: ShadowConfig{QueueSize: 1024},
		},
		SAML:    defaultSAMLConfig(),
		Tracing: TracingConfig{SampleRatio: -1},

		WorkloadIdentity: defaultWorkloadIdentityConfig(),
	}
}

// ConfigError lists everything wrong with a config file, sorted by line,
// each with its line and the field it is about.
type ConfigError struct {
	File     string
	Problems []Problem
}

// Problem is one thing wrong with a config file.
type Problem struct {
	Line int    // 0 when no line can be named
	Path string // the field, e.g. "saml.idps[1].name"; "" for the file itself
	Msg  string
}

func (p Problem) String() string {
	var b strings.Builder
	if p.Line > 0 {
		fmt.Fprintf(&b, "line %d: ", p.Line)
	}
	if p.Path != "" {
		b.WriteString(p.Path + ": ")
	}
	b.WriteString(strings.ReplaceAll(p.Msg, "\n", "\n      ")) // a policy compiler's message has several lines
	return b.String()
}

func (e *ConfigError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return e.File + ":\n  " + strings.Join(lines, "\n  ")
}

// add records a problem at a field; the line is the field's, or that of
// the nearest enclosing field the file has (a required field left out is
// reported where its block is).
func (e *ConfigError) add(doc *yaml.Node, path, format string, args ...any) {
	e.Problems = append(e.Problems, Problem{Line: lineOf(doc, path), Path: path, Msg: fmt.Sprintf(format, args...)})
}

// sort orders the problems by line; those without one go last.
func (e *ConfigError) sort() {
	slices.SortStableFunc(e.Problems, func(a, b Problem) int {
		switch {
		case a.Line == b.Line:
			return 0
		case a.Line == 0:
			return 1
		case b.Line == 0:
			return -1
		}
		return a.Line - b.Line
	})
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
//
// It finds every problem in one pass: unknown fields, values of the wrong
// type (each field is decoded on its own, so one bad value does not hide
// the rest) and invalid values, then sorts them by line. A field that
// could not be decoded keeps its default while the rest is validated.
func ParseConfig(name string, data []byte, env func(string) (string, bool)) (Config, error) {
	cfg := DefaultConfig()
	cerr := &ConfigError{File: name}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		msg := strings.TrimPrefix(err.Error(), "yaml: ")
		line := 0
		if m := yamlLine.FindStringSubmatch(msg); m != nil {
			line, _ = strconv.Atoi(m[1])
			msg = strings.TrimPrefix(msg, m[0])
		}
		cerr.Problems = append(cerr.Problems, Problem{Line: line, Msg: "not valid YAML: " + msg})
		return cfg, cerr
	}
	if len(root.Content) == 0 {
		return cfg, nil // an empty file means all defaults
	}
	doc := root.Content[0]
	expandEnv(doc, env, cerr)
	decodeNode(doc, reflect.ValueOf(&cfg).Elem(), "", cerr)
	cfg.validate(doc, cerr)
	if len(cerr.Problems) > 0 {
		cerr.sort()
		return cfg, cerr
	}
	return cfg, nil
}

// yamlLine is how yaml.v3 starts a syntax error's message.
var yamlLine = regexp.MustCompile(`^line (\d+): `)

// expandEnv replaces ${NAME} in every scalar value; $$ is a literal $.
func expandEnv(n *yaml.Node, env func(string) (string, bool), cerr *ConfigError) {
	if n.Kind == yaml.ScalarNode && strings.Contains(n.Value, "$") {
		n.Value = os.Expand(n.Value, func(name string) string {
			if name == "$" {
				return "$"
			}
			v, ok := env(name)
			if !ok {
				cerr.Problems = append(cerr.Problems, Problem{Line: n.Line, Msg: fmt.Sprintf("environment variable %s is not set", name)})
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

var (
	durationType    = reflect.TypeFor[time.Duration]()
	unmarshalerType = reflect.TypeFor[yaml.Unmarshaler]()
)

// decodeNode decodes n into v field by field, the way yaml.v3 would decode
// the whole document, but reporting each unknown field and each value of
// the wrong type with its line and path instead of stopping at the first.
// Struct fields are matched by their yaml tag; new fields need nothing
// here.
func decodeNode(n *yaml.Node, v reflect.Value, path string, cerr *ConfigError) {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	t := v.Type()
	leaf := t.Kind() != reflect.Struct && !(t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Struct)
	if leaf || reflect.PointerTo(t).Implements(unmarshalerType) || n.Tag == "!!null" {
		if err := n.Decode(v.Addr().Interface()); err != nil {
			cerr.Problems = append(cerr.Problems, Problem{Line: n.Line, Path: path, Msg: typeMessage(n, t)})
		}
		return
	}
	if t.Kind() == reflect.Slice {
		if n.Kind != yaml.SequenceNode {
			cerr.Problems = append(cerr.Problems, Problem{Line: n.Line, Path: path, Msg: "must be a list"})
			return
		}
		out := reflect.MakeSlice(t, len(n.Content), len(n.Content))
		for i, item := range n.Content {
			decodeNode(item, out.Index(i), fmt.Sprintf("%s[%d]", path, i), cerr)
		}
		v.Set(out)
		return
	}
	if n.Kind != yaml.MappingNode {
		cerr.Problems = append(cerr.Problems, Problem{Line: n.Line, Path: path, Msg: "must be a mapping of fields (" + strings.Join(yamlFields(t), ", ") + ")"})
		return
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		idx := fieldIndex(t, k.Value)
		if idx < 0 {
			cerr.Problems = append(cerr.Problems, Problem{Line: k.Line,
				Msg: fmt.Sprintf("unknown field %q in %s (known: %s)", k.Value, orRoot(path), strings.Join(yamlFields(t), ", "))})
			continue
		}
		if seen[k.Value] {
			cerr.Problems = append(cerr.Problems, Problem{Line: k.Line, Path: join(path, k.Value), Msg: "is set twice"})
		}
		seen[k.Value] = true
		decodeNode(val, v.Field(idx), join(path, k.Value), cerr)
	}
}

// typeMessage says what a value of type t looks like, for a value that is
// not one.
func typeMessage(n *yaml.Node, t reflect.Type) string {
	got := strconv.Quote(n.Value)
	if n.Kind == yaml.MappingNode {
		got = "a mapping"
	} else if n.Kind == yaml.SequenceNode {
		got = "a list"
	}
	switch {
	case t == durationType:
		return got + " is not a duration (write a number with a unit: 500ms, 30s, 5m, 12h)"
	case t.Kind() == reflect.Bool:
		return got + " is not true or false"
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Uint64:
		return got + " is not a whole number"
	case t.Kind() == reflect.Float32 || t.Kind() == reflect.Float64:
		return got + " is not a number"
	case t.Kind() == reflect.String:
		return got + " is not a string (quote it)"
	case t.Kind() == reflect.Slice:
		return got + " is not a list of " + kindName(t.Elem()) + " (e.g. [a, b])"
	case t.Kind() == reflect.Map:
		return got + " is not a mapping"
	}
	return got + " is not a " + kindName(t)
}

func kindName(t reflect.Type) string {
	switch {
	case t == durationType:
		return "durations"
	case t.Kind() == reflect.String:
		return "strings"
	case t.Kind() == reflect.Bool:
		return "booleans"
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Uint64:
		return "whole numbers"
	}
	return t.String()
}

// fieldIndex is the index of t's field with yaml name name, or -1.
func fieldIndex(t reflect.Type, name string) int {
	for i := range t.NumField() {
		if yamlName(t.Field(i)) == name {
			return i
		}
	}
	return -1
}

// yamlFields lists t's yaml field names in order.
func yamlFields(t reflect.Type) []string {
	var names []string
	for i := range t.NumField() {
		if n := yamlName(t.Field(i)); n != "" {
			names = append(names, n)
		}
	}
	return names
}

func yamlName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	if name == "-" || !f.IsExported() {
		return ""
	}
	return name
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

// lineOf finds the line of the value at a dotted path; when the file does
// not have that field, the line of the nearest enclosing one it has; 0
// when it has none. A key may carry a list index, as in
// "saml.idps[1].name".
func lineOf(n *yaml.Node, path string) int {
	line := 0
	for key := range strings.SplitSeq(path, ".") {
		key, index := splitIndex(key)
		if n.Kind != yaml.MappingNode {
			return line
		}
		var next *yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == key {
				next, line = n.Content[i+1], n.Content[i].Line // the key's line, for a block too
			}
		}
		if next == nil {
			return line
		}
		if index >= 0 {
			if next.Kind != yaml.SequenceNode || index >= len(next.Content) {
				return line
			}
			next = next.Content[index]
			line = next.Line
		}
		n = next
	}
	return line
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
	bad := func(path, format string, args ...any) { cerr.add(doc, path, format, args...) }
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
	c.Listen.Limits.validate(bad, c.Listen.MaxRequestBytes)
	c.Listen.TLS.validate(bad)
	oneOf(bad, "log.level", "log.level", c.Log.Level)
	oneOf(bad, "log.format", "log.format", c.Log.Format)
	switch p := c.DecisionLog.Path; p {
	case "":
		bad("decision_log.path", `must be "-" (stdout), "off", or a file path`)
	case "-", "off":
	default:
		if st, err := os.Stat(p); err == nil && st.IsDir() {
			bad("decision_log.path", "%q is a directory; name a file in it", p)
		} else if st, err := os.Stat(filepath.Dir(p)); err != nil || !st.IsDir() {
			bad("decision_log.path", "the directory %q does not exist", filepath.Dir(p))
		}
	}
	oneOf(bad, "sessions.store", "sessions.store", c.Sessions.Store)
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
	oneOf(bad, "policy.engine", "policy.engine", c.Policy.Engine)
	if c.Policy.DecisionCacheEntries < 0 {
		bad("policy.decision_cache_entries", "must not be negative (0 disables the cache)")
	}
	if c.Policy.Dir != "" {
		if st, err := os.Stat(c.Policy.Dir); err != nil || !st.IsDir() {
			bad("policy.dir", "%q is not a directory", c.Policy.Dir)
		}
	}
	if c.Policy.Dir != "" && c.Policy.Bundle.URL != "" {
		bad("policy.bundle.url", "set either policy.dir or policy.bundle.url, not both")
	}
	if c.Policy.Bundle.PollInterval < 0 {
		bad("policy.bundle.poll_interval", "must not be negative")
	}
	for id, k := range c.Policy.Bundle.Verification.Keys {
		if (k.Key == "") == (k.KeyFile == "") {
			bad("policy.bundle.verification.keys."+id, "set exactly one of key and key_file")
		}
		oneOf(bad, "policy.bundle.verification.keys.*.algorithm", "policy.bundle.verification.keys."+id+".algorithm", k.Algorithm)
	}
	if c.Policy.Shadow.QueueSize < 0 {
		bad("policy.shadow.queue_size", "must not be negative")
	}
	if a := c.DecisionLog.Audit; a.Chain || a.SigningKeyFile != "" {
		if c.DecisionLog.Path == "-" || c.DecisionLog.Path == "off" {
			bad("decision_log.audit", "needs decision_log.path to be a file")
		}
		if a.CheckpointLines < 0 || a.CheckpointInterval < 0 || a.RotateBytes < 0 || a.RotateInterval < 0 {
			bad("decision_log.audit", "numbers must not be negative")
		}
	}
	c.SAML.validate(bad, c.Sessions.CookieName)
	oneOf(bad, "tracing.protocol", "tracing.protocol", c.Tracing.Protocol)
	if r := c.Tracing.SampleRatio; r != -1 && (r < 0 || r > 1) {
		bad("tracing.sample_ratio", "%v is not between 0 and 1", r)
	}
	if e := c.Tracing.Endpoint; e != "" && !strings.HasPrefix(e, "http://") && !strings.HasPrefix(e, "https://") {
		bad("tracing.endpoint", "%q is not an http:// or https:// URL", e)
	}
	c.Debug.validate(bad)
	c.WorkloadIdentity.validate(bad)
}

// telemetry converts the tracing section.
func (t TracingConfig) telemetry() telemetry.Config {
	c := telemetry.Config{Enabled: t.Enabled, Protocol: t.Protocol, Endpoint: t.Endpoint, ServiceName: t.ServiceName, Version: version}
	if t.SampleRatio >= 0 {
		r := t.SampleRatio
		c.SampleRatio = &r
	}
	return c
}

// configEnums are the values each enum-like config field accepts, by
// field path ("*" for any map key; "" is listed where empty means the
// default). validate checks them with oneOf and the JSON Schema lists them
// as "enum", so the two cannot disagree (TestConfigEnums).
var configEnums = map[string][]string{
	"log.level":           {"debug", "info", "warn", "error"},
	"log.format":          {"json", "text"},
	"sessions.store":      {"memory", "redis"},
	"policy.engine":       {rego.EngineAuto, rego.EngineTopdown},
	"sessions.redis.mode": {"standalone", "cluster", "sentinel"},
	"tracing.protocol":    {"", telemetry.ProtocolGRPC, telemetry.ProtocolHTTP},
	"policy.bundle.verification.keys.*.algorithm": {"", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"},
}

// oneOf checks v against configEnums[field]; path is where v is (field
// with a map key in place of "*").
func oneOf(bad func(string, string, ...any), field, path, v string) {
	allowed, ok := configEnums[field]
	if !ok {
		panic("oneOf: no configEnums entry for " + field)
	}
	names := make([]string, 0, len(allowed))
	for _, a := range allowed {
		if v == a {
			return
		}
		if a == "" {
			a = `"" (the default)`
		}
		names = append(names, a)
	}
	bad(path, "%q is not one of %s", v, strings.Join(names, ", "))
}
