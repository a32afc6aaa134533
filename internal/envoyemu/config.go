package envoyemu

import (
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
)

// Defaults from Envoy's API (§0, §6) and route configuration.
const (
	// DefaultCheckTimeout is grpc_service.timeout's default.
	DefaultCheckTimeout = 200 * time.Millisecond
	// DefaultRouteTimeout is the route's default upstream timeout.
	DefaultRouteTimeout = 15 * time.Second
	// DefaultStatusOnError is what status_on_error unset (0) means.
	DefaultStatusOnError = 403
	// DefaultMaxHeadersCount is common_http_protocol_options'
	// max_headers_count default.
	DefaultMaxHeadersCount = 100
	// DefaultMaxRequestHeadersKB is the HCM's max_request_headers_kb default.
	DefaultMaxRequestHeadersKB = 60
)

// Mode selects which Envoy release line to emulate. Both read the same
// mutation rules (see okRequestRule, responseRule, deniedRule); they differ
// only where the cited source differs.
type Mode int

const (
	// V136 is Envoy v1.36.x (the default), read at v1.36.2
	// (envoyproxy/envoy dc2d3098ae, "repo: Release v1.36.2"):
	//   - OK request headers: append:true appends to an existing header or is
	//     dropped, anything else sets; append_action is not read
	//     (ext_authz_grpc_impl.cc:19-29, ext_authz.cc:660-734);
	//   - denied headers: only append-less/false entries reach the local
	//     reply (ext_authz.cc:945-963);
	//   - a CheckResponse with error_response (field 5, unknown to v1.36)
	//     and a non-OK status is a plain deny, 403 (ext_authz_grpc_impl.cc:
	//     119-134 see no denied_response);
	//   - an RPC failure answers status_on_error (ext_authz.cc:967-995);
	//   - the request-header limits are checked once after all OK mutations
	//     (ext_authz.cc:884-888).
	V136 Mode = iota
	// V137 is Envoy v1.37.x, read at v1.37.0 (envoyproxy/envoy 6d9bb7d9a8,
	// "repo: Release v1.37.0"): v1.36 plus
	//   - error_response: a non-OK CheckResponse carrying it takes the Error
	//     path (ext_authz_grpc_impl.cc:120-134) with its status (or
	//     status_on_error when 0), body and headers, set entries then
	//     append:true entries added (ext_authz.cc:1016-1068, 1198-1225);
	//     with validate_mutations an invalid header there drops the custom
	//     reply back to the generic one (ext_authz.cc:1140-1196);
	//     max_denied_response_body_bytes applies to its body too;
	//   - the request-header limits are checked after every single header
	//     set/add/append (ext_authz.cc:689-693, 713-717, 753-757).
	// No release has PR #42878's append_action handling (merged 2026-01-23,
	// after v1.37.0 of 2026-01-13; reverted by #43442 on 2026-02-12).
	V137
)

// String names the mode.
func (m Mode) String() string {
	if m == V137 {
		return "v1.37"
	}
	return "v1.36"
}

// EscapedSlashesAction is the HCM's path_with_escaped_slashes_action.
type EscapedSlashesAction int

// Escaped-slash actions (IMPLEMENTATION_SPECIFIC_DEFAULT is KeepUnchanged).
const (
	KeepUnchanged EscapedSlashesAction = iota
	RejectRequest
	UnescapeAndRedirect
	UnescapeAndForward
)

// UnderscoresAction is headers_with_underscores_action.
type UnderscoresAction int

// Actions for header names with underscores (default: AllowUnderscores).
const (
	AllowUnderscores UnderscoresAction = iota
	RejectUnderscores
	DropUnderscores
)

// Config configures a Proxy. Only Routes and Authz are required.
type Config struct {
	// Routes are tried in order; the first that matches wins, as in an
	// Envoy virtual host. Required.
	Routes []Route
	// Authz is the ext_authz gRPC service. Required unless every route
	// disables authz. Point its ClientConn's authority at the cluster name
	// to mimic Envoy's :authority.
	Authz authv3.AuthorizationClient
	// Timeout is grpc_service.timeout; negative means no deadline.
	// default: 200ms.
	Timeout time.Duration
	// FailureModeAllow lets requests through on Error (§4.2). default: false.
	FailureModeAllow bool
	// FailureModeAllowHeaderAdd adds x-envoy-auth-failure-mode-allowed: true
	// upstream when FailureModeAllow lets a request through. default: false.
	FailureModeAllowHeaderAdd bool
	// StatusOnError is status_on_error.code. 0 means 403; values outside
	// 100–511 become 403 like Envoy's toErrorCode. 1xx codes are rejected
	// by New because net/http cannot send them as final statuses.
	// default: 0 (403).
	StatusOnError int
	// WithRequestBody enables body buffering (§1.4). default: nil (off).
	WithRequestBody *BufferSettings
	// AllowedHeaders, when non-nil, limits the CheckRequest headers map to
	// keys matching one matcher. default: nil (all headers).
	AllowedHeaders []HeaderMatcher
	// DisallowedHeaders removes matching keys, even allowed ones.
	// default: nil.
	DisallowedHeaders []HeaderMatcher
	// Mode selects the Envoy release line. default: V136.
	Mode Mode
	// ZipkinTracing emulates an HCM with Envoy's Zipkin tracer: the Check
	// call carries the B3 context of its own span in its gRPC metadata
	// (see Exchange.Trace). default: false (no tracer, no trace metadata).
	ZipkinTracing bool
	// SourcePrincipal, if set, gives the downstream peer's identity for
	// attributes.source.principal, as Envoy takes it from a verified mTLS
	// client certificate (its URI SAN: a SPIFFE ID in a mesh). The
	// emulator serves plain HTTP, so a test says who the peer is; Envoy
	// never takes it from a request header. default: nil (no principal,
	// as on a connection without mTLS).
	SourcePrincipal func(*http.Request) string
	// ValidateMutations is ext_authz validate_mutations: an invalid header
	// name or value in a mutation makes Envoy answer 500. default: false.
	ValidateMutations bool
	// MaxDeniedResponseBodyBytes cuts denied bodies when > 0 (present in
	// v1.36, ext_authz.cc:934-940 at v1.36.2). default: 0 (no limit).
	MaxDeniedResponseBodyBytes int

	// What the HTTP connection manager does before any filter runs.

	// MaxHeadersCount is common_http_protocol_options.max_headers_count:
	// more request headers than this are a 431 from the codec, and after
	// ext_authz's mutations the whole map (pseudo-headers included) must
	// still fit or Envoy answers 500. default: 100.
	MaxHeadersCount int
	// MaxRequestHeadersKB is max_request_headers_kb, checked with the
	// count after ext_authz's mutations. default: 60.
	MaxRequestHeadersKB int
	// Underscores is headers_with_underscores_action. default: allow.
	Underscores UnderscoresAction
	// NormalizePath is normalize_path (RFC 3986 path canonicalisation,
	// see normalizePath for what is modelled). default: false.
	NormalizePath bool
	// MergeSlashes is merge_slashes. default: false.
	MergeSlashes bool
	// EscapedSlashes is path_with_escaped_slashes_action. default: keep.
	EscapedSlashes EscapedSlashesAction
	// UseRemoteAddress appends the downstream peer to x-forwarded-for (with
	// xff_num_trusted_hops 0). default: false.
	UseRemoteAddress bool
	// RemoveHeaders are request headers a header_mutation filter ahead of
	// ext_authz removes on every route. default: none.
	RemoveHeaders []string
	// OnCheck, if set, is called after every Check call. default: nil.
	OnCheck func(Exchange)
	// Now is the clock for request.time. default: time.Now.
	Now func() time.Time
	// Rand feeds stream ids and x-request-id. default: crypto/rand.Reader.
	Rand io.Reader
	// Logger receives upstream proxy errors. default: slog.Default().
	Logger *slog.Logger
}

// Route is one route of the (single) virtual host.
type Route struct {
	// Prefix is matched against the path (before '?'), case-sensitively.
	// Exactly one of Prefix and Path is set.
	Prefix string
	// Path is an exact path match (before '?'), case-sensitive.
	Path string
	// GRPC restricts the route to gRPC requests (match.grpc: content-type
	// application/grpc or application/grpc+..., Grpc::Common::
	// isGrpcRequestHeaders, source/common/grpc/common.cc:56-61 at v1.36.2).
	GRPC bool
	// Upstream is the cluster: an http:// URL whose host:port receives
	// the request; its path is ignored (no prefix_rewrite). Required.
	Upstream *url.URL
	// HTTP2 makes the upstream connection h2c with prior knowledge, like
	// a cluster with http2_protocol_options; needed for gRPC upstreams.
	// default: false (HTTP/1.1).
	HTTP2 bool
	// DisableAuthz is ExtAuthzPerRoute{disabled: true}. default: false.
	DisableAuthz bool
	// Timeout is the route timeout for the whole upstream exchange;
	// negative disables it. default: 15s.
	Timeout time.Duration
	// ContextExtensions are sent as attributes.context_extensions.
	// default: none.
	ContextExtensions map[string]string
	// WithRequestBody is check_settings.with_request_body: it overrides
	// MaxRequestBytes and AllowPartialMessage of the filter's settings
	// (and turns buffering on); PackAsBytes always comes from
	// Config.WithRequestBody. default: nil.
	WithRequestBody *BufferSettings
	// DisableRequestBodyBuffering is check_settings'
	// disable_request_body_buffering. default: false.
	DisableRequestBodyBuffering bool
}

// BufferSettings is ext_authz's BufferSettings (§1.4).
type BufferSettings struct {
	// MaxRequestBytes is the buffer limit; must be > 0.
	MaxRequestBytes uint32
	// AllowPartialMessage sends the check with a cut body instead of 413.
	AllowPartialMessage bool
	// PackAsBytes puts the body verbatim in raw_body instead of a
	// UTF-8-sanitised body.
	PackAsBytes bool
}

// HeaderMatcher is a StringMatcher over lowercase header keys. Exactly one
// of Exact, Prefix, Suffix, Contains and Regex must be set.
type HeaderMatcher struct {
	Exact, Prefix, Suffix, Contains string
	// Regex must match the whole key (safe_regex semantics).
	Regex *regexp.Regexp
	// IgnoreCase applies to Exact, Prefix, Suffix and Contains.
	IgnoreCase bool
}

// Match reports whether key matches.
func (m HeaderMatcher) Match(key string) bool {
	if m.Regex != nil {
		loc := m.Regex.FindStringIndex(key)
		return loc != nil && loc[0] == 0 && loc[1] == len(key)
	}
	k, exact, prefix, suffix, contains := key, m.Exact, m.Prefix, m.Suffix, m.Contains
	if m.IgnoreCase {
		k, exact, prefix, suffix, contains = strings.ToLower(k), strings.ToLower(exact),
			strings.ToLower(prefix), strings.ToLower(suffix), strings.ToLower(contains)
	}
	switch {
	case m.Exact != "":
		return k == exact
	case m.Prefix != "":
		return strings.HasPrefix(k, prefix)
	case m.Suffix != "":
		return strings.HasSuffix(k, suffix)
	}
	return strings.Contains(k, contains)
}

// kinds counts how many match kinds are set.
func (m HeaderMatcher) kinds() int {
	n := 0
	for _, set := range []bool{m.Exact != "", m.Prefix != "", m.Suffix != "", m.Contains != "", m.Regex != nil} {
		if set {
			n++
		}
	}
	return n
}

// withDefaults validates cfg and fills in defaults.
func (cfg Config) withDefaults() (Config, error) {
	if len(cfg.Routes) == 0 {
		return cfg, fmt.Errorf("%w: no routes", ErrConfig)
	}
	cfg.Routes = slices.Clone(cfg.Routes) // defaults must not leak into the caller's slice
	needAuthz := false
	for i, r := range cfg.Routes {
		if (r.Prefix == "") == (r.Path == "") {
			return cfg, fmt.Errorf("%w: route %d: set exactly one of Prefix and Path", ErrConfig, i)
		}
		if r.Upstream == nil || r.Upstream.Scheme != "http" || r.Upstream.Host == "" {
			return cfg, fmt.Errorf("%w: route %d (%q): upstream must be an http:// URL", ErrConfig, i, r.Prefix)
		}
		if r.WithRequestBody != nil && r.WithRequestBody.MaxRequestBytes == 0 {
			return cfg, fmt.Errorf("%w: route %d: max_request_bytes must be > 0", ErrConfig, i)
		}
		if r.Timeout == 0 {
			cfg.Routes[i].Timeout = DefaultRouteTimeout
		}
		needAuthz = needAuthz || !r.DisableAuthz
	}
	if needAuthz && cfg.Authz == nil {
		return cfg, fmt.Errorf("%w: Authz client is required", ErrConfig)
	}
	if cfg.WithRequestBody != nil && cfg.WithRequestBody.MaxRequestBytes == 0 {
		return cfg, fmt.Errorf("%w: max_request_bytes must be > 0", ErrConfig)
	}
	if cfg.StatusOnError >= 100 && cfg.StatusOnError < 200 {
		return cfg, fmt.Errorf("%w: status_on_error %d cannot be sent by net/http", ErrConfig, cfg.StatusOnError)
	}
	for _, m := range append(append([]HeaderMatcher(nil), cfg.AllowedHeaders...), cfg.DisallowedHeaders...) {
		if m.kinds() != 1 {
			return cfg, fmt.Errorf("%w: header matcher %+v must set exactly one kind", ErrConfig, m)
		}
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultCheckTimeout
	}
	if cfg.MaxHeadersCount == 0 {
		cfg.MaxHeadersCount = DefaultMaxHeadersCount
	}
	if cfg.MaxRequestHeadersKB == 0 {
		cfg.MaxRequestHeadersKB = DefaultMaxRequestHeadersKB
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return cfg, nil
}

// toErrorCode is ext_authz.h's toErrorCode: 100–511 pass, else 403.
func toErrorCode(code int) int {
	if code >= 100 && code <= 511 {
		return code
	}
	return DefaultStatusOnError
}
