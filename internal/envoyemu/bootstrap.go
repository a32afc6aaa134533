package envoyemu

import (
	"fmt"
	"net/url"
	"regexp"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	extauthzv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_authz/v3"
	headermutationv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/header_mutation/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	upstreamhttpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/known/anypb"
	"sigs.k8s.io/yaml"

	// Every "@type" a bootstrap names must be registered for protojson to
	// resolve it; these are the ones envoy/envoy.yaml (and its mTLS and
	// rate-limit variants) use beyond the packages imported above.
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/access_loggers/stream/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/local_ratelimit/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/resource_monitors/downstream_connections/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/resource_monitors/fixed_heap/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
)

// Filter names the emulator reads from a bootstrap.
const (
	filterExtAuthz       = "envoy.filters.http.ext_authz"
	filterHeaderMutation = "envoy.filters.http.header_mutation"
	filterRouter         = "envoy.filters.http.router"
	filterLocalRateLimit = "envoy.filters.http.local_ratelimit"
)

// ParseBootstrap reads an Envoy v3 bootstrap in YAML: duplicate keys,
// unknown fields and unregistered "@type"s are errors.
func ParseBootstrap(doc []byte) (*bootstrapv3.Bootstrap, error) {
	js, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	bs := &bootstrapv3.Bootstrap{}
	if err := (protojson.UnmarshalOptions{Resolver: protoregistry.GlobalTypes}).Unmarshal(js, bs); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	return bs, nil
}

// FromBootstrap returns the Config that emulates the listener called
// listener of bs: its connection manager's path and header settings, the
// header_mutation removals ahead of ext_authz, the ext_authz filter's
// settings, and the routes of its (first) virtual host with their
// per-route ext_authz settings. clusters gives the address each route
// cluster is reached at (an http:// URL); the caller sets Authz (the
// ext_authz cluster) on the result. A setting the emulator cannot honour
// is an error rather than silently ignored; a local_ratelimit filter is
// skipped (the emulator does not rate-limit).
func FromBootstrap(bs *bootstrapv3.Bootstrap, listener string, clusters map[string]*url.URL) (Config, error) {
	var cfg Config
	hcm, err := findHCM(bs, listener)
	if err != nil {
		return cfg, err
	}
	cfg.NormalizePath = hcm.GetNormalizePath().GetValue()
	cfg.MergeSlashes = hcm.GetMergeSlashes()
	switch a := hcm.GetPathWithEscapedSlashesAction(); a {
	case hcmv3.HttpConnectionManager_IMPLEMENTATION_SPECIFIC_DEFAULT, hcmv3.HttpConnectionManager_KEEP_UNCHANGED:
	case hcmv3.HttpConnectionManager_REJECT_REQUEST:
		cfg.EscapedSlashes = RejectRequest
	case hcmv3.HttpConnectionManager_UNESCAPE_AND_REDIRECT:
		cfg.EscapedSlashes = UnescapeAndRedirect
	case hcmv3.HttpConnectionManager_UNESCAPE_AND_FORWARD:
		cfg.EscapedSlashes = UnescapeAndForward
	default:
		return cfg, fmt.Errorf("%w: listener %s: path_with_escaped_slashes_action %v", ErrConfig, listener, a)
	}
	opts := hcm.GetCommonHttpProtocolOptions()
	cfg.MaxHeadersCount = int(opts.GetMaxHeadersCount().GetValue())
	switch opts.GetHeadersWithUnderscoresAction() {
	case corev3.HttpProtocolOptions_REJECT_REQUEST:
		cfg.Underscores = RejectUnderscores
	case corev3.HttpProtocolOptions_DROP_HEADER:
		cfg.Underscores = DropUnderscores
	}
	cfg.MaxRequestHeadersKB = int(hcm.GetMaxRequestHeadersKb().GetValue())
	cfg.UseRemoteAddress = hcm.GetUseRemoteAddress().GetValue()

	authz, err := readFilters(&cfg, hcm, listener)
	if err != nil {
		return cfg, err
	}
	if err := readRoutes(&cfg, hcm, bs, listener, clusters); err != nil {
		return cfg, err
	}
	if authz == nil {
		for i := range cfg.Routes {
			cfg.Routes[i].DisableAuthz = true
		}
	}
	return cfg, nil
}

// findHCM returns the HTTP connection manager of the named listener.
func findHCM(bs *bootstrapv3.Bootstrap, listener string) (*hcmv3.HttpConnectionManager, error) {
	for _, l := range bs.GetStaticResources().GetListeners() {
		if l.GetName() != listener {
			continue
		}
		chains := l.GetFilterChains()
		if len(chains) != 1 {
			return nil, fmt.Errorf("%w: listener %s has %d filter chains, want 1", ErrConfig, listener, len(chains))
		}
		for _, f := range chains[0].GetFilters() {
			hcm := &hcmv3.HttpConnectionManager{}
			if err := f.GetTypedConfig().UnmarshalTo(hcm); err == nil {
				return hcm, nil
			}
		}
		return nil, fmt.Errorf("%w: listener %s has no http_connection_manager", ErrConfig, listener)
	}
	return nil, fmt.Errorf("%w: no listener %q", ErrConfig, listener)
}

// readFilters reads the HTTP filter chain: header_mutation removals ahead
// of ext_authz, and ext_authz itself (nil when the chain has none).
func readFilters(cfg *Config, hcm *hcmv3.HttpConnectionManager, listener string) (*extauthzv3.ExtAuthz, error) {
	var authz *extauthzv3.ExtAuthz
	for _, f := range hcm.GetHttpFilters() {
		where := fmt.Sprintf("listener %s, filter %s", listener, f.GetName())
		switch f.GetName() {
		case filterHeaderMutation:
			if authz != nil {
				return nil, fmt.Errorf("%w: %s: only a header_mutation ahead of ext_authz is modelled", ErrConfig, where)
			}
			hm := &headermutationv3.HeaderMutation{}
			if err := f.GetTypedConfig().UnmarshalTo(hm); err != nil {
				return nil, fmt.Errorf("%w: %s: %w", ErrConfig, where, err)
			}
			m := hm.GetMutations()
			if len(m.GetResponseMutations()) > 0 || len(m.GetQueryParameterMutations()) > 0 || len(m.GetRequestTrailersMutations()) > 0 || len(m.GetResponseTrailersMutations()) > 0 {
				return nil, fmt.Errorf("%w: %s: only request header removals are modelled", ErrConfig, where)
			}
			for _, rm := range m.GetRequestMutations() {
				if rm.GetRemove() == "" {
					return nil, fmt.Errorf("%w: %s: only request header removals are modelled", ErrConfig, where)
				}
				cfg.RemoveHeaders = append(cfg.RemoveHeaders, rm.GetRemove())
			}
		case filterExtAuthz:
			authz = &extauthzv3.ExtAuthz{}
			if err := f.GetTypedConfig().UnmarshalTo(authz); err != nil {
				return nil, fmt.Errorf("%w: %s: %w", ErrConfig, where, err)
			}
			if err := readExtAuthz(cfg, authz, where); err != nil {
				return nil, err
			}
		case filterRouter:
		case filterLocalRateLimit: // not modelled: the emulator never rate-limits
		default:
			return nil, fmt.Errorf("%w: %s is not modelled", ErrConfig, where)
		}
	}
	return authz, nil
}

// readExtAuthz copies the ext_authz settings the emulator honours.
func readExtAuthz(cfg *Config, a *extauthzv3.ExtAuthz, where string) error {
	if a.GetGrpcService() == nil || a.GetClearRouteCache() || a.GetEncodeRawHeaders() || a.GetDecoderHeaderMutationRules() != nil {
		return fmt.Errorf("%w: %s: only a gRPC service without clear_route_cache, encode_raw_headers or mutation rules is modelled", ErrConfig, where)
	}
	if d := a.GetGrpcService().GetTimeout(); d != nil {
		cfg.Timeout = d.AsDuration()
		if cfg.Timeout == 0 {
			cfg.Timeout = -1
		}
	}
	cfg.FailureModeAllow = a.GetFailureModeAllow()
	cfg.FailureModeAllowHeaderAdd = a.GetFailureModeAllowHeaderAdd()
	cfg.StatusOnError = int(a.GetStatusOnError().GetCode())
	cfg.ValidateMutations = a.GetValidateMutations()
	cfg.MaxDeniedResponseBodyBytes = int(a.GetMaxDeniedResponseBodyBytes())
	if b := a.GetWithRequestBody(); b != nil {
		cfg.WithRequestBody = &BufferSettings{MaxRequestBytes: b.GetMaxRequestBytes(), AllowPartialMessage: b.GetAllowPartialMessage(), PackAsBytes: b.GetPackAsBytes()}
	}
	var err error
	if l := a.GetAllowedHeaders(); l != nil {
		if cfg.AllowedHeaders, err = headerMatchers(l.GetPatterns()); err != nil {
			return fmt.Errorf("%w: %s: allowed_headers: %w", ErrConfig, where, err)
		}
	}
	if l := a.GetDisallowedHeaders(); l != nil {
		if cfg.DisallowedHeaders, err = headerMatchers(l.GetPatterns()); err != nil {
			return fmt.Errorf("%w: %s: disallowed_headers: %w", ErrConfig, where, err)
		}
	}
	return nil
}

// headerMatchers converts StringMatchers.
func headerMatchers(ms []*matcherv3.StringMatcher) ([]HeaderMatcher, error) {
	out := make([]HeaderMatcher, 0, len(ms))
	for _, m := range ms {
		hm := HeaderMatcher{IgnoreCase: m.GetIgnoreCase()}
		switch p := m.GetMatchPattern().(type) {
		case *matcherv3.StringMatcher_Exact:
			hm.Exact = p.Exact
		case *matcherv3.StringMatcher_Prefix:
			hm.Prefix = p.Prefix
		case *matcherv3.StringMatcher_Suffix:
			hm.Suffix = p.Suffix
		case *matcherv3.StringMatcher_Contains:
			hm.Contains = p.Contains
		case *matcherv3.StringMatcher_SafeRegex:
			re, err := regexp.Compile(p.SafeRegex.GetRegex())
			if err != nil {
				return nil, err
			}
			hm.Regex = re
		default:
			return nil, fmt.Errorf("matcher %v is not modelled", m)
		}
		out = append(out, hm)
	}
	return out, nil
}

// readRoutes reads the routes of the listener's only virtual host.
func readRoutes(cfg *Config, hcm *hcmv3.HttpConnectionManager, bs *bootstrapv3.Bootstrap, listener string, clusters map[string]*url.URL) error {
	vhs := hcm.GetRouteConfig().GetVirtualHosts()
	if len(vhs) != 1 {
		return fmt.Errorf("%w: listener %s: %d virtual hosts (need an inline route_config with one)", ErrConfig, listener, len(vhs))
	}
	vh := vhs[0]
	vhAuthz, err := perRoute(vh.GetTypedPerFilterConfig())
	if err != nil {
		return fmt.Errorf("%w: listener %s, virtual host: %w", ErrConfig, listener, err)
	}
	for i, r := range vh.GetRoutes() {
		where := fmt.Sprintf("listener %s, route %d", listener, i)
		var route Route
		m := r.GetMatch()
		switch p := m.GetPathSpecifier().(type) {
		case *routev3.RouteMatch_Prefix:
			route.Prefix = p.Prefix
		case *routev3.RouteMatch_Path:
			route.Path = p.Path
		default:
			return fmt.Errorf("%w: %s: only prefix and path matches are modelled", ErrConfig, where)
		}
		if len(m.GetHeaders()) > 0 || len(m.GetQueryParameters()) > 0 || m.GetCaseSensitive() != nil || m.GetRuntimeFraction() != nil {
			return fmt.Errorf("%w: %s: header, query, case or runtime matches are not modelled", ErrConfig, where)
		}
		route.GRPC = m.GetGrpc() != nil
		action := r.GetRoute()
		if action == nil || action.GetCluster() == "" || action.GetPrefixRewrite() != "" || action.GetRegexRewrite() != nil {
			return fmt.Errorf("%w: %s: only a route to one cluster without rewrites is modelled", ErrConfig, where)
		}
		route.Upstream = clusters[action.GetCluster()]
		if route.Upstream == nil {
			return fmt.Errorf("%w: %s: no address given for cluster %q", ErrConfig, where, action.GetCluster())
		}
		route.HTTP2 = clusterHTTP2(bs, action.GetCluster())
		if d := action.GetTimeout(); d != nil {
			route.Timeout = d.AsDuration()
		}
		if d := action.GetMaxStreamDuration().GetMaxStreamDuration(); route.Timeout == 0 && d != nil {
			route.Timeout = d.AsDuration()
		}
		if route.Timeout == 0 && action.GetTimeout() != nil {
			route.Timeout = -1 // timeout: 0s disables the route timeout
		}
		pr, err := perRoute(r.GetTypedPerFilterConfig())
		if err != nil {
			return fmt.Errorf("%w: %s: %w", ErrConfig, where, err)
		}
		if pr == nil {
			pr = vhAuthz // the most specific level wins, as a whole
		}
		if pr != nil {
			route.DisableAuthz = pr.GetDisabled()
			cs := pr.GetCheckSettings()
			route.ContextExtensions = cs.GetContextExtensions()
			route.DisableRequestBodyBuffering = cs.GetDisableRequestBodyBuffering()
			if b := cs.GetWithRequestBody(); b != nil {
				route.WithRequestBody = &BufferSettings{MaxRequestBytes: b.GetMaxRequestBytes(), AllowPartialMessage: b.GetAllowPartialMessage()}
			}
		}
		cfg.Routes = append(cfg.Routes, route)
	}
	return nil
}

// perRoute returns the ExtAuthzPerRoute in a typed_per_filter_config, or nil.
func perRoute(m map[string]*anypb.Any) (*extauthzv3.ExtAuthzPerRoute, error) {
	a, ok := m[filterExtAuthz]
	if !ok {
		return nil, nil
	}
	pr := &extauthzv3.ExtAuthzPerRoute{}
	if err := a.UnmarshalTo(pr); err != nil {
		return nil, fmt.Errorf("%s: %w", filterExtAuthz, err)
	}
	return pr, nil
}

// clusterHTTP2 reports whether the named cluster speaks HTTP/2 upstream.
func clusterHTTP2(bs *bootstrapv3.Bootstrap, name string) bool {
	for _, c := range bs.GetStaticResources().GetClusters() {
		if c.GetName() == name {
			return isHTTP2(c)
		}
	}
	return false
}

func isHTTP2(c *clusterv3.Cluster) bool {
	a, ok := c.GetTypedExtensionProtocolOptions()["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"]
	if !ok {
		return false
	}
	opts := &upstreamhttpv3.HttpProtocolOptions{}
	if err := a.UnmarshalTo(opts); err != nil {
		return false
	}
	return opts.GetExplicitHttpConfig().GetHttp2ProtocolOptions() != nil
}
