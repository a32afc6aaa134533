package envoy_test

// This file checks envoy.yaml without an Envoy binary. It
//
//  1. converts the YAML to JSON (strictly: duplicate keys are errors) and
//     unmarshals it into go-control-plane's Bootstrap with protojson, so an
//     unknown field or an "@type" nobody registered fails;
//  2. runs the protoc-gen-validate rules on the Bootstrap and, because those
//     stop at google.protobuf.Any, unpacks every Any anywhere in the tree (HCM,
//     HTTP filters, per-route configs, cluster protocol options, access loggers,
//     resource monitors...) and validates each payload too; deprecated fields
//     and enum values are rejected along the way;
//  3. asserts the tfgate topology: which listener goes where, that every request
//     to TF Serving passes ext_authz and fails closed, that the gRPC listener
//     hands tfgate the whole raw body, that the path tfgate checks is the path
//     TF Serving gets, and that only tfgate's own endpoints skip ext_authz.
//
// TestEnvoyConfigCatchesMistakes breaks copies of envoy.yaml on purpose and
// expects each stage to notice, so a check that silently stopped working fails.
//
// The package is envoy_test and imports nothing from tfgate, so this test does
// not depend on the server code in this directory.

import (
	"fmt"
	"maps"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	extauthzv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_authz/v3"
	headermutationv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/header_mutation/v3"
	localratelimitv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/local_ratelimit/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	upstreamhttpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/known/anypb"
	"sigs.k8s.io/yaml"

	// Every "@type" in envoy.yaml must be registered for protojson to resolve
	// it. The packages above register theirs; these are only needed for that.
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/access_loggers/stream/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/resource_monitors/downstream_connections/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/resource_monitors/fixed_heap/v3"
)

const envoyConfigFile = "envoy.yaml"

// The topology envoy.yaml must implement (docs/design.md).
const (
	listenerREST = "rest"
	listenerGRPC = "grpc"
	portREST     = 8501 // TF Serving's REST port, taken over by Envoy
	portGRPC     = 8500 // TF Serving's gRPC port, taken over by Envoy

	clusterAuthzGRPC = "extauthz_grpc"  // tfgate ext_authz gRPC listener
	clusterAuthzHTTP = "extauthz_http"  // tfgate HTTP listener (/saml/, /token, /token/revoke)
	clusterTFREST    = "tfserving_rest" // TF Serving REST
	clusterTFGRPC    = "tfserving_grpc" // TF Serving gRPC

	portAuthzGRPC = 9191
	portAuthzHTTP = 8080

	adminPort = 9901

	// Longest acceptable ext_authz timeout: beyond this a stuck tfgate holds
	// client requests for too long.
	maxAuthzTimeout = 5 * time.Second

	httpProtocolOptionsKey = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
)

// identityHeaders are the request headers tfgate sets for TF Serving. A client
// must never be able to send them (docs/design.md, "Contracts").
var identityHeaders = []string{
	"x-tfgate-user",
	"x-tfgate-email",
	"x-tfgate-groups",
	"x-tfgate-session",
	"x-tfgate-decision-id",
}

// listenerSpec is what each listener must look like.
type listenerSpec struct {
	port uint32
	// clusters are the only clusters its routes may lead to.
	clusters []string
	// body: ext_authz must buffer the request body (gRPC: the model is in it).
	body bool
	// codec, if not AUTO, is the HTTP codec the listener must use.
	codec hcmv3.HttpConnectionManager_CodecType
}

var wantListeners = map[string]listenerSpec{
	listenerREST: {port: portREST, clusters: []string{clusterTFREST, clusterAuthzHTTP}},
	listenerGRPC: {port: portGRPC, clusters: []string{clusterTFGRPC}, body: true, codec: hcmv3.HttpConnectionManager_HTTP2},
}

// clusterSpec is what each cluster must look like.
type clusterSpec struct {
	port  uint32
	http2 bool
}

var wantClusters = map[string]clusterSpec{
	clusterAuthzGRPC: {port: portAuthzGRPC, http2: true},
	clusterAuthzHTTP: {port: portAuthzHTTP},
	clusterTFREST:    {port: portREST}, // TF Serving's REST server speaks HTTP/1.1 only
	clusterTFGRPC:    {port: portGRPC, http2: true},
}

// routeCase is one request and where Envoy must send it. cluster "" means no
// route matches: Envoy answers 404 itself and forwards nothing.
type routeCase struct {
	listener    string
	method      string
	path        string
	contentType string
	cluster     string
	authz       bool // ext_authz runs for this request
}

var routeCases = []routeCase{
	// tfgate's own endpoints: reachable without a session, and only these.
	{listenerREST, "GET", "/saml/login?return_to=%2Fv1%2Fmodels%2Fm", "", clusterAuthzHTTP, false},
	{listenerREST, "POST", "/saml/acs", "application/x-www-form-urlencoded", clusterAuthzHTTP, false},
	{listenerREST, "GET", "/saml/metadata", "", clusterAuthzHTTP, false},
	{listenerREST, "GET", "/saml/logout?SAMLResponse=abc", "", clusterAuthzHTTP, false},
	{listenerREST, "POST", "/token", "application/x-www-form-urlencoded", clusterAuthzHTTP, false},
	{listenerREST, "POST", "/token?grant_type=x", "application/x-www-form-urlencoded", clusterAuthzHTTP, false},
	{listenerREST, "POST", "/token/revoke", "application/x-www-form-urlencoded", clusterAuthzHTTP, false},
	{listenerREST, "GET", "/saml/cli/authorize?redirect_uri=http%3A%2F%2F127.0.0.1%3A1%2F", "", clusterAuthzHTTP, false},
	// Near misses go to TF Serving, through ext_authz.
	{listenerREST, "POST", "/token/x", "", clusterTFREST, true},
	{listenerREST, "POST", "/tokens", "", clusterTFREST, true},
	{listenerREST, "POST", "/token/revoke/x", "", clusterTFREST, true},
	{listenerREST, "POST", "/token/revokes", "", clusterTFREST, true},
	{listenerREST, "POST", "/token/", "", clusterTFREST, true},
	{listenerREST, "GET", "/saml", "", clusterTFREST, true},
	{listenerREST, "GET", "/SAML/login", "", clusterTFREST, true},
	// tfgate's internal endpoints are not exposed.
	{listenerREST, "GET", "/metrics", "", clusterTFREST, true},
	{listenerREST, "GET", "/healthz", "", clusterTFREST, true},
	{listenerREST, "GET", "/readyz", "", clusterTFREST, true},
	// TF Serving REST.
	{listenerREST, "POST", "/v1/models/resnet:predict", "application/json", clusterTFREST, true},
	{listenerREST, "GET", "/v1/models/resnet/versions/3/metadata", "", clusterTFREST, true},
	{listenerREST, "POST", "/V1/Models/resnet:predict", "application/json", clusterTFREST, true},
	{listenerREST, "GET", "/monitoring/prometheus/metrics", "", clusterTFREST, true},
	{listenerREST, "POST", "/tensorflow.serving.PredictionService/Predict", "application/grpc", clusterTFREST, true},
	// TF Serving gRPC: every method, through ext_authz.
	{listenerGRPC, "POST", "/tensorflow.serving.PredictionService/Predict", "application/grpc", clusterTFGRPC, true},
	{listenerGRPC, "POST", "/tensorflow.serving.PredictionService/MultiInference", "application/grpc+proto", clusterTFGRPC, true},
	{listenerGRPC, "POST", "/tensorflow.serving.ModelService/HandleReloadConfigRequest", "application/grpc", clusterTFGRPC, true},
	{listenerGRPC, "POST", "/tensorflow.ProfilerService/Profile", "application/grpc", clusterTFGRPC, true},
	{listenerGRPC, "POST", "/grpc.health.v1.Health/Check", "application/grpc", clusterTFGRPC, true},
	// No unauthenticated path on the gRPC port.
	{listenerGRPC, "POST", "/saml/acs", "application/grpc", clusterTFGRPC, true},
	{listenerGRPC, "POST", "/token", "application/grpc", clusterTFGRPC, true},
	{listenerGRPC, "POST", "/token/revoke", "application/grpc", clusterTFGRPC, true},
	// Not gRPC: no route, nothing forwarded.
	{listenerGRPC, "POST", "/v1/models/resnet:predict", "application/json", "", false},
	{listenerGRPC, "POST", "/saml/acs", "application/x-www-form-urlencoded", "", false},
}

func TestEnvoyConfig(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile(envoyConfigFile)
	if err != nil {
		t.Fatal(err)
	}
	bs, err := parseBootstrap(raw)
	if err != nil {
		t.Fatalf("%s: %v", envoyConfigFile, err)
	}
	t.Run("validate", func(t *testing.T) {
		t.Parallel()
		problems, seen := validateDeep(bs)
		for _, p := range problems {
			t.Errorf("%s: %s", envoyConfigFile, p)
		}
		// Guard against a walker that silently visits nothing.
		for _, typ := range []proto.Message{
			&hcmv3.HttpConnectionManager{},
			&extauthzv3.ExtAuthz{},
			&extauthzv3.ExtAuthzPerRoute{},
			&upstreamhttpv3.HttpProtocolOptions{},
			&headermutationv3.HeaderMutation{},
			&localratelimitv3.LocalRateLimit{},
		} {
			name := string(typ.ProtoReflect().Descriptor().FullName())
			if seen[name] == 0 {
				t.Errorf("deep validation never unpacked a %s; the Any walk is broken or the config changed shape", name)
			}
		}
		t.Logf("validated %d Any payloads: %v", sum(seen), seen)
	})
	t.Run("topology", func(t *testing.T) {
		t.Parallel()
		for _, p := range checkTopology(bs) {
			t.Errorf("%s: %s", envoyConfigFile, p)
		}
	})
	t.Run("login rate limited", func(t *testing.T) {
		t.Parallel()
		for _, p := range checkLoginRateLimit(bs) {
			t.Errorf("%s: %s", envoyConfigFile, p)
		}
	})
}

// checkLoginRateLimit requires what issue 8 asks of Envoy: the REST
// listener's route for GET /saml/login (with a query) carries an enforced
// local_ratelimit token bucket, with the filter in the chain before
// ext_authz and the router; and no other route is limited by it (the
// listener-wide config has no bucket).
func checkLoginRateLimit(bs *bootstrapv3.Bootstrap) []string {
	var problems []string
	for _, l := range bs.GetStaticResources().GetListeners() {
		if l.GetName() != listenerREST {
			continue
		}
		h := &hcmv3.HttpConnectionManager{}
		if err := l.GetFilterChains()[0].GetFilters()[0].GetTypedConfig().UnmarshalTo(h); err != nil {
			return []string{err.Error()}
		}
		name, pos, authzPos := "", -1, -1
		for i, hf := range h.GetHttpFilters() {
			if hf.GetTypedConfig().MessageIs(&localratelimitv3.LocalRateLimit{}) {
				name, pos = hf.GetName(), i
				global := &localratelimitv3.LocalRateLimit{}
				if err := hf.GetTypedConfig().UnmarshalTo(global); err != nil || global.GetTokenBucket() != nil {
					problems = append(problems, "the listener-wide local_ratelimit must have no token bucket (it would limit TF Serving traffic too)")
				}
			}
			if hf.GetTypedConfig().MessageIs(&extauthzv3.ExtAuthz{}) {
				authzPos = i
			}
		}
		if pos < 0 || pos > authzPos {
			return append(problems, "no local_ratelimit HTTP filter before ext_authz on the REST listener")
		}
		for _, r := range pickVirtualHost(h.GetRouteConfig()).GetRoutes() {
			ok, err := routeMatches(r.GetMatch(), "/saml/login", "")
			if err != nil || !ok {
				continue
			}
			a, set := r.GetTypedPerFilterConfig()[name]
			per := &localratelimitv3.LocalRateLimit{}
			if !set || a.UnmarshalTo(per) != nil {
				return append(problems, "the route GET /saml/login matches has no local_ratelimit config")
			}
			tb := per.GetTokenBucket()
			if tb.GetMaxTokens() == 0 || tb.GetTokensPerFill().GetValue() == 0 || tb.GetFillInterval().AsDuration() <= 0 {
				problems = append(problems, "the /saml/login rate limit has no usable token bucket")
			}
			for what, f := range map[string]interface {
				GetDefaultValue() *typev3.FractionalPercent
			}{
				"filter_enabled": per.GetFilterEnabled(), "filter_enforced": per.GetFilterEnforced(),
			} {
				if dv := f.GetDefaultValue(); dv.GetNumerator() != 100 || dv.GetDenominator() != typev3.FractionalPercent_HUNDRED {
					problems = append(problems, "the /saml/login rate limit must have "+what+" at 100%")
				}
			}
			return problems
		}
		return append(problems, "no route matches GET /saml/login")
	}
	return append(problems, "no REST listener")
}

// TestEnvoyConfigCatchesMistakes proves the checks can fail: each case breaks
// a copy of envoy.yaml in one way and expects the named stage to report it.
func TestEnvoyConfigCatchesMistakes(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile(envoyConfigFile)
	if err != nil {
		t.Fatal(err)
	}
	const (
		stageParse    = "parse"
		stageValidate = "validate" // deep validation; Bootstrap.ValidateAll alone must NOT catch it
		stageTopology = "topology"
	)
	cases := []struct {
		name string
		// The nth (1-based) occurrence of old, outside YAML comments, becomes
		// new; each "\n" in new is followed by the matched line's indentation.
		old, new string
		nth      int
		stage    string
		want     string // substring of the reported problem
	}{
		{"typo in a field name", "failure_mode_allow: false", "failure_mod_allow: false", 1, stageParse, "failure_mod_allow"},
		{"duplicate key", "failure_mode_allow: false", "failure_mode_allow: false\nfailure_mode_allow: true", 1, stageParse, "failure_mode_allow"},
		{"unregistered @type", "envoy.extensions.filters.http.router.v3.Router", "envoy.extensions.filters.http.router.v3.Routr", 1, stageParse, "Routr"},
		{"field in the wrong message", "pack_as_bytes: true", "pack_as_byte: true", 1, stageParse, "pack_as_byte"},

		{"zero max_request_bytes (PGV inside nested Any)", "max_request_bytes: 67108864", "max_request_bytes: 0", 1, stageValidate, "MaxRequestBytes"},
		{"empty ExtAuthzPerRoute (PGV oneof inside Any)", "disabled: true", "# disabled removed", 1, stageValidate, "Override"},
		{"deprecated field", "timeout: 0s", "timeout: 0s\nmax_grpc_timeout: 300s", 1, stageValidate, "max_grpc_timeout: field is deprecated"},

		{"REST fails open", "failure_mode_allow: false", "failure_mode_allow: true", 1, stageTopology, `listener "rest": ext_authz failure_mode_allow`},
		{"gRPC fails open", "failure_mode_allow: false", "failure_mode_allow: true", 2, stageTopology, `listener "grpc": ext_authz failure_mode_allow`},
		{"gRPC body as UTF-8 string", "pack_as_bytes: true", "pack_as_bytes: false", 1, stageTopology, "pack_as_bytes"},
		{"gRPC partial body", "allow_partial_message: false", "allow_partial_message: true", 1, stageTopology, "allow_partial_message"},
		{"status_on_error 403", "status_on_error: {code: ServiceUnavailable}", "status_on_error: {code: Forbidden}", 1, stageTopology, "status_on_error"},
		{"Check to the wrong cluster", "envoy_grpc: {cluster_name: extauthz_grpc}", "envoy_grpc: {cluster_name: extauthz_http}", 1, stageTopology, `cluster_name is "extauthz_http"`},
		{"route to an unknown cluster", "cluster: tfserving_rest", "cluster: tfserving_rst", 1, stageTopology, `unknown cluster "tfserving_rst"`},
		{"tfgate HTTP port", "port_value: 8080", "port_value: 8081", 1, stageTopology, "8080"},
		{"tfgate gRPC port", "port_value: 9191", "port_value: 9192", 1, stageTopology, "9191"},
		{"/saml/login authz on", "disabled: true", "disabled: false", 1, stageTopology, `path "/saml/login": goes to "extauthz_http" with ext_authz on`},
		{"/token authz on", "disabled: true", "disabled: false", 3, stageTopology, `path "/token": goes to "extauthz_http" with ext_authz on`},
		{"/token/revoke authz on", "disabled: true", "disabled: false", 4, stageTopology, `path "/token/revoke": goes to "extauthz_http" with ext_authz on`},
		{"/token/revoke as a prefix", `match: {path: "/token/revoke"}`, `match: {prefix: "/token/revoke"}`, 1, stageTopology, `POST /token/revoke/x (content-type "") matched route prefix "/token/revoke": goes to "extauthz_http" with ext_authz off`},
		{"rewrite on a TF Serving route", "cluster: tfserving_rest", "cluster: tfserving_rest\nprefix_rewrite: /v1/", 1, stageTopology, "rewrite"},
		{"authz disabled for a whole virtual host", `domains: ["*"]`,
			"domains: [\"*\"]\ntyped_per_filter_config:\n  envoy.filters.http.ext_authz:\n    \"@type\": type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthzPerRoute\n    disabled: true",
			1, stageTopology, "ext_authz is disabled"},
		{"identity header not stripped", "- remove: x-tfgate-groups", "- remove: x-tfgate-group", 2, stageTopology, `listener "grpc": no header_mutation filter before ext_authz removes the client's x-tfgate-groups`},
		{"per-route key typo", "envoy.filters.http.ext_authz:\n", "envoy.filters.http.extauthz:\n", 1, stageTopology, "envoy.filters.http.extauthz"},
		{"clear_route_cache", "clear_route_cache: false", "clear_route_cache: true", 1, stageTopology, "clear_route_cache"},
		{"path normalisation off", "normalize_path: true", "normalize_path: false", 1, stageTopology, "normalize_path"},
		{"gRPC listener accepts HTTP/1", "codec_type: HTTP2", "codec_type: AUTO", 1, stageTopology, "codec"},
		{"TF Serving REST over HTTP/2", "http_protocol_options: {}", "http2_protocol_options: {}", 2, stageTopology, `cluster "tfserving_rest" must not use HTTP/2`},
		{"ext_authz filter off by default", "- name: envoy.filters.http.ext_authz\n", "- name: envoy.filters.http.ext_authz\n  disabled: true\n", 2, stageTopology, `listener "grpc": the ext_authz HTTP filter is disabled by default`},
		{"Check cluster follows the downstream protocol", "explicit_http_config:", "use_downstream_protocol_config:", 1, stageTopology, `cluster "extauthz_grpc" must use HTTP/2`},
		{"admin on all interfaces", "address: 127.0.0.1, port_value: 9901", "address: 0.0.0.0, port_value: 9901", 1, stageTopology, "admin"},
	}

	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			broken, err := mutate(string(raw), tc.old, tc.new, tc.nth)
			if err != nil {
				t.Fatalf("this case no longer applies to %s (update the test): %v", envoyConfigFile, err)
			}
			bs, err := parseBootstrap([]byte(broken))
			if tc.stage == stageParse {
				if err == nil {
					t.Fatalf("parse accepted the broken config")
				}
				if !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("parse failed, but not with %q: %v", tc.want, err)
				}
				t.Logf("parse reported: %v", err)
				return
			}
			if err != nil {
				t.Fatalf("broken config should still parse: %v", err)
			}
			problems, _ := validateDeep(bs)
			if tc.stage == stageValidate {
				if err := bs.ValidateAll(); err != nil {
					t.Errorf("Bootstrap.ValidateAll caught it already (%v); this case no longer proves the Any walk", err)
				}
				expectProblem(t, "deep validation", problems, tc.want)
				return
			}
			if len(problems) > 0 {
				t.Fatalf("broken config should pass deep validation, got: %s", strings.Join(problems, "; "))
			}
			expectProblem(t, "topology check", checkTopology(bs), tc.want)
		})
	}
}

func expectProblem(t *testing.T, stage string, problems []string, want string) {
	t.Helper()
	for _, p := range problems {
		if strings.Contains(p, want) {
			t.Logf("%s reported: %s", stage, p)
			return
		}
	}
	if len(problems) == 0 {
		t.Fatalf("%s accepted the broken config (wanted a problem mentioning %q)", stage, want)
	}
	t.Fatalf("%s reported problems, but none mentions %q:\n  %s", stage, want, strings.Join(problems, "\n  "))
}

// mutate replaces the nth occurrence of old that lies outside a YAML comment.
// Every "\n" in repl is followed by the indentation of the line old was found
// on, so multi-line insertions land at the same nesting level.
func mutate(doc, old, repl string, nth int) (string, error) {
	seen := 0
	offset := 0
	for line := range strings.SplitAfterSeq(doc, "\n") {
		code := line
		if i := commentStart(line); i >= 0 {
			code = line[:i]
		}
		from := 0
		for {
			i := strings.Index(code[from:], old)
			if i < 0 {
				break
			}
			seen++
			at := from + i
			if seen == nth {
				indent := line[:len(line)-len(strings.TrimLeft(line, " "))]
				r := strings.ReplaceAll(repl, "\n", "\n"+indent)
				if strings.HasSuffix(old, "\n") {
					// old ended the line; keep the next line's indentation intact.
					r = strings.TrimSuffix(r, indent)
				}
				start := offset + at
				return doc[:start] + r + doc[start+len(old):], nil
			}
			from = at + len(old)
		}
		offset += len(line)
	}
	return "", fmt.Errorf("found %d occurrence(s) of %q outside comments, want at least %d", seen, old, nth)
}

// commentStart returns where a YAML comment starts in line, or -1. Good
// enough for envoy.yaml: "#" at the start or after a blank, outside quotes.
func commentStart(line string) int {
	var quote byte
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '#' && (i == 0 || line[i-1] == ' ' || line[i-1] == '\t'):
			return i
		}
	}
	return -1
}

// parseBootstrap turns Envoy YAML into a Bootstrap the way Envoy does: unknown
// fields are errors and every "@type" must resolve.
func parseBootstrap(doc []byte) (*bootstrapv3.Bootstrap, error) {
	js, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		return nil, fmt.Errorf("YAML: %w", err)
	}
	bs := &bootstrapv3.Bootstrap{}
	opts := protojson.UnmarshalOptions{DiscardUnknown: false, Resolver: protoregistry.GlobalTypes}
	if err := opts.Unmarshal(js, bs); err != nil {
		return nil, fmt.Errorf("not a valid envoy.config.bootstrap.v3.Bootstrap "+
			"(unknown field, wrong type, or an @type whose Go package this test does not import): %w%s",
			err, yamlLineHint(doc, err))
	}
	return bs, nil
}

// quotedInError matches the first quoted name in a protojson error, e.g. the
// field in `unknown field "x"` or the type in `unable to resolve "type..."`.
var quotedInError = regexp.MustCompile(`"([^"]+)"`)

// yamlLineHint points at the YAML lines that mention the name a protojson
// error quotes; its own positions refer to the converted JSON, not the file.
func yamlLineHint(doc []byte, err error) string {
	m := quotedInError.FindStringSubmatch(err.Error())
	if m == nil {
		return ""
	}
	var lines []string
	for i, line := range strings.Split(string(doc), "\n") {
		code := line
		if c := commentStart(line); c >= 0 {
			code = line[:c]
		}
		if strings.Contains(code, m[1]) {
			lines = append(lines, fmt.Sprint(i+1))
		}
	}
	if len(lines) == 0 {
		return ""
	}
	return fmt.Sprintf(" (%q is on YAML line %s)", m[1], strings.Join(lines, ", "))
}

// validateDeep runs the PGV rules on the Bootstrap and on every Any payload in
// it, and rejects deprecated fields and enum values. seen counts the unpacked
// payloads by message name.
func validateDeep(bs *bootstrapv3.Bootstrap) (problems []string, seen map[string]int) {
	w := &anyWalker{seen: map[string]int{}}
	if err := bs.ValidateAll(); err != nil {
		w.problemf("Bootstrap: %v", err)
	}
	w.message(bs.ProtoReflect(), "bootstrap")
	return w.problems, w.seen
}

type anyWalker struct {
	problems []string
	seen     map[string]int
}

func (w *anyWalker) problemf(format string, args ...any) {
	w.problems = append(w.problems, fmt.Sprintf(format, args...))
}

func (w *anyWalker) message(m protoreflect.Message, path string) {
	if m.Descriptor().FullName() == "google.protobuf.Any" {
		w.unpack(m, path)
		return
	}
	if len(m.GetUnknown()) > 0 {
		w.problemf("%s: unknown fields", path)
	}
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		p := path + "." + string(fd.Name())
		if opts, ok := fd.Options().(*descriptorpb.FieldOptions); ok && opts.GetDeprecated() {
			w.problemf("%s: field is deprecated in the Envoy API; use its replacement", p)
		}
		switch {
		case fd.IsList():
			l := v.List()
			for i := 0; i < l.Len(); i++ {
				w.value(fd, l.Get(i), p+elementName(fd, l.Get(i), i))
			}
		case fd.IsMap():
			v.Map().Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
				w.value(fd.MapValue(), mv, fmt.Sprintf("%s[%q]", p, k.String()))
				return true
			})
		default:
			w.value(fd, v, p)
		}
		return true
	})
}

func (w *anyWalker) value(fd protoreflect.FieldDescriptor, v protoreflect.Value, path string) {
	switch fd.Kind() {
	case protoreflect.MessageKind, protoreflect.GroupKind:
		w.message(v.Message(), path)
	case protoreflect.EnumKind:
		ev := fd.Enum().Values().ByNumber(v.Enum())
		if ev == nil {
			w.problemf("%s: unknown enum value %d", path, v.Enum())
		} else if opts, ok := ev.Options().(*descriptorpb.EnumValueOptions); ok && opts.GetDeprecated() {
			w.problemf("%s: enum value %s is deprecated in the Envoy API", path, ev.Name())
		}
	}
}

func (w *anyWalker) unpack(m protoreflect.Message, path string) {
	a, ok := m.Interface().(*anypb.Any)
	if !ok {
		w.problemf("%s: Any of unexpected Go type %T", path, m.Interface())
		return
	}
	inner, err := anypb.UnmarshalNew(a, proto.UnmarshalOptions{Resolver: protoregistry.GlobalTypes})
	if err != nil {
		w.problemf("%s: cannot unpack %s: %v", path, a.GetTypeUrl(), err)
		return
	}
	name := string(inner.ProtoReflect().Descriptor().FullName())
	w.seen[name]++
	v, ok := inner.(interface{ ValidateAll() error })
	if !ok {
		w.problemf("%s: %s has no validation rules compiled in", path, name)
	} else if err := v.ValidateAll(); err != nil {
		w.problemf("%s (%s): %v", path, name, err)
	}
	w.message(inner.ProtoReflect(), path+"<"+name+">")
}

// elementName labels a list element by its "name" field when it has one, so
// problems read listeners[rest] rather than listeners[0].
func elementName(fd protoreflect.FieldDescriptor, v protoreflect.Value, i int) string {
	if fd.Kind() == protoreflect.MessageKind {
		m := v.Message()
		if nf := m.Descriptor().Fields().ByName("name"); nf != nil && nf.Kind() == protoreflect.StringKind {
			if n := m.Get(nf).String(); n != "" {
				return "[" + n + "]"
			}
		}
	}
	return fmt.Sprintf("[%d]", i)
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// checkTopology returns every way bs differs from the tfgate topology.
func checkTopology(bs *bootstrapv3.Bootstrap) []string {
	c := &checker{clusters: map[string]*clusterv3.Cluster{}}
	c.admin(bs.GetAdmin())
	for _, cl := range bs.GetStaticResources().GetClusters() {
		if _, dup := c.clusters[cl.GetName()]; dup {
			c.problemf("cluster %q is defined twice", cl.GetName())
		}
		c.clusters[cl.GetName()] = cl
	}
	for _, name := range slices.Sorted(maps.Keys(wantClusters)) {
		c.cluster(name, wantClusters[name])
	}
	hcms := map[string]*hcmv3.HttpConnectionManager{}
	seen := map[string]bool{}
	ports := map[uint32]string{adminPort: "admin"}
	for _, l := range bs.GetStaticResources().GetListeners() {
		want, ok := wantListeners[l.GetName()]
		if !ok {
			c.problemf("listener %q is not part of the tfgate topology; add it to wantListeners in config_test.go so it gets checked", l.GetName())
			continue
		}
		sa := l.GetAddress().GetSocketAddress()
		if sa.GetPortValue() != want.port || sa.GetAddress() != "0.0.0.0" {
			c.problemf("listener %q listens on %s:%d, want 0.0.0.0:%d (clients keep TF Serving's URLs)",
				l.GetName(), sa.GetAddress(), sa.GetPortValue(), want.port)
		}
		if other, dup := ports[sa.GetPortValue()]; dup {
			c.problemf("listener %q and %s both use port %d", l.GetName(), other, sa.GetPortValue())
		}
		ports[sa.GetPortValue()] = l.GetName()
		seen[l.GetName()] = true
		if hcm := c.listener(l, want); hcm != nil {
			hcms[l.GetName()] = hcm
		}
	}
	for _, name := range slices.Sorted(maps.Keys(wantListeners)) {
		if !seen[name] {
			c.problemf("listener %q (port %d) is missing", name, wantListeners[name].port)
		}
	}
	for _, rc := range routeCases {
		if hcm := hcms[rc.listener]; hcm != nil {
			c.routeCase(rc, hcm)
		}
	}
	return c.problems
}

type checker struct {
	problems []string
	clusters map[string]*clusterv3.Cluster
}

func (c *checker) problemf(format string, args ...any) {
	c.problems = append(c.problems, fmt.Sprintf(format, args...))
}

func (c *checker) admin(a *bootstrapv3.Admin) {
	if a == nil {
		return
	}
	sa := a.GetAddress().GetSocketAddress()
	if sa.GetAddress() != "127.0.0.1" && sa.GetAddress() != "::1" {
		c.problemf("admin listens on %q; it must be loopback only (it can drain listeners and dump config)", sa.GetAddress())
	}
}

func (c *checker) cluster(name string, want clusterSpec) {
	cl, ok := c.clusters[name]
	if !ok {
		c.problemf("cluster %q is missing", name)
		return
	}
	ports := clusterPorts(cl)
	if len(ports) == 0 {
		c.problemf("cluster %q has no endpoints in load_assignment", name)
	}
	for _, p := range ports {
		if p != want.port {
			c.problemf("cluster %q has an endpoint on port %d, want %d", name, p, want.port)
		}
	}
	for key, a := range cl.GetTypedExtensionProtocolOptions() {
		if got := strings.TrimPrefix(a.GetTypeUrl(), "type.googleapis.com/"); got != key {
			c.problemf("cluster %q: typed_extension_protocol_options key %q holds a %s; Envoy looks options up by key", name, key, got)
		}
	}
	if h2 := clusterHTTP2(cl); h2 != want.http2 {
		if want.http2 {
			c.problemf("cluster %q must use HTTP/2 (typed_extension_protocol_options %s explicit_http_config.http2_protocol_options): gRPC needs it", name, httpProtocolOptionsKey)
		} else {
			c.problemf("cluster %q must not use HTTP/2: its upstream speaks HTTP/1.1", name)
		}
	}
}

func clusterPorts(cl *clusterv3.Cluster) []uint32 {
	var ports []uint32
	for _, le := range cl.GetLoadAssignment().GetEndpoints() {
		for _, lb := range le.GetLbEndpoints() {
			ports = append(ports, lb.GetEndpoint().GetAddress().GetSocketAddress().GetPortValue())
		}
	}
	return ports
}

func clusterHTTP2(cl *clusterv3.Cluster) bool {
	a, ok := cl.GetTypedExtensionProtocolOptions()[httpProtocolOptionsKey]
	if !ok {
		return false // Envoy's default upstream protocol is HTTP/1.1
	}
	var opts upstreamhttpv3.HttpProtocolOptions
	if err := a.UnmarshalTo(&opts); err != nil {
		return false
	}
	return opts.GetExplicitHttpConfig().GetHttp2ProtocolOptions() != nil
}

// listener checks one listener and returns its HTTP connection manager.
func (c *checker) listener(l *listenerv3.Listener, want listenerSpec) *hcmv3.HttpConnectionManager {
	chains := l.GetFilterChains()
	if l.GetDefaultFilterChain() != nil {
		chains = append(slices.Clone(chains), l.GetDefaultFilterChain())
	}
	if len(chains) != 1 {
		c.problemf("listener %q has %d filter chains, want exactly 1 (every connection must get the same ext_authz)", l.GetName(), len(chains))
		if len(chains) == 0 {
			return nil
		}
	}
	var hcm *hcmv3.HttpConnectionManager
	for _, fc := range chains {
		filters := fc.GetFilters()
		if len(filters) == 0 {
			c.problemf("listener %q: a filter chain has no filters", l.GetName())
			continue
		}
		last := filters[len(filters)-1]
		h := &hcmv3.HttpConnectionManager{}
		if err := last.GetTypedConfig().UnmarshalTo(h); err != nil {
			c.problemf("listener %q: the last network filter %q is not an HttpConnectionManager (%v); requests would not pass ext_authz",
				l.GetName(), last.GetName(), err)
			continue
		}
		if len(filters) != 1 {
			c.problemf("listener %q: want the HttpConnectionManager as the only network filter, got %d filters", l.GetName(), len(filters))
		}
		if hcm == nil {
			hcm = h
		}
		c.hcm(l.GetName(), h, want)
	}
	return hcm
}

func (c *checker) hcm(listener string, h *hcmv3.HttpConnectionManager, want listenerSpec) {
	if want.codec != hcmv3.HttpConnectionManager_AUTO && h.GetCodecType() != want.codec {
		c.problemf("listener %q: codec_type %s, want %s", listener, h.GetCodecType(), want.codec)
	}
	if !h.GetUseRemoteAddress().GetValue() {
		c.problemf("listener %q: use_remote_address must be true: Envoy is the edge, and x-forwarded-proto/x-forwarded-for must not be client-controlled", listener)
	}
	// Path handling runs before any filter, so tfgate and TF Serving see the
	// same path either way; these pin the chosen hardening (see envoy.yaml).
	if h.GetNormalizePath() == nil || !h.GetNormalizePath().GetValue() {
		c.problemf("listener %q: normalize_path must be set to true explicitly (the default can change at runtime), so route choice is made on the canonical path tfgate checks", listener)
	}
	if !h.GetMergeSlashes() {
		c.problemf("listener %q: merge_slashes must be true", listener)
	}
	if h.GetPathWithEscapedSlashesAction() != hcmv3.HttpConnectionManager_REJECT_REQUEST {
		c.problemf("listener %q: path_with_escaped_slashes_action is %s, want REJECT_REQUEST", listener, h.GetPathWithEscapedSlashesAction())
	}
	if h.GetTypedHeaderValidationConfig() != nil {
		c.problemf("listener %q: typed_header_validation_config makes Envoy ignore normalize_path/merge_slashes; review the path invariant before using it", listener)
	}
	if h.GetMaxRequestHeadersKb() == nil {
		c.problemf("listener %q: set max_request_headers_kb explicitly", listener)
	}

	rc := h.GetRouteConfig()
	if rc == nil {
		c.problemf("listener %q: routes must be inline (route_config), not RDS/scoped routes, so this test can check them", listener)
	}

	// HTTP filters: strip identity headers, then ext_authz, then router.
	var (
		authz     *extauthzv3.ExtAuthz
		authzName string
		authzIdx  = -1
		filters   = h.GetHttpFilters()
		names     = map[string]bool{}
		stripped  = map[string]int{} // identity header -> filter index that removes it
	)
	for i, hf := range filters {
		names[hf.GetName()] = true
		if hf.GetTypedConfig() == nil {
			c.problemf("listener %q: HTTP filter %q has no inline typed_config", listener, hf.GetName())
			continue
		}
		switch {
		case hf.GetTypedConfig().MessageIs(&extauthzv3.ExtAuthz{}):
			if authz != nil {
				c.problemf("listener %q: more than one ext_authz filter", listener)
				continue
			}
			authz = &extauthzv3.ExtAuthz{}
			if err := hf.GetTypedConfig().UnmarshalTo(authz); err != nil {
				c.problemf("listener %q: ext_authz: %v", listener, err)
			}
			authzName, authzIdx = hf.GetName(), i
			if hf.GetDisabled() {
				c.problemf("listener %q: the ext_authz HTTP filter is disabled by default (disabled: true)", listener)
			}
			if hf.GetIsOptional() {
				c.problemf("listener %q: the ext_authz HTTP filter is is_optional; an Envoy without it would skip authorization", listener)
			}
		case hf.GetTypedConfig().MessageIs(&headermutationv3.HeaderMutation{}):
			hm := &headermutationv3.HeaderMutation{}
			if err := hf.GetTypedConfig().UnmarshalTo(hm); err != nil {
				c.problemf("listener %q: %s: %v", listener, hf.GetName(), err)
				continue
			}
			for _, m := range hm.GetMutations().GetRequestMutations() {
				if r := strings.ToLower(m.GetRemove()); slices.Contains(identityHeaders, r) {
					if _, ok := stripped[r]; !ok {
						stripped[r] = i
					}
				}
			}
		}
	}
	if authz == nil {
		c.problemf("listener %q: no ext_authz HTTP filter: requests would reach TF Serving unchecked", listener)
		return
	}
	if last := filters[len(filters)-1]; last.GetName() != "envoy.filters.http.router" {
		c.problemf("listener %q: the last HTTP filter must be envoy.filters.http.router, got %q", listener, last.GetName())
	}
	if authzIdx != len(filters)-2 {
		c.problemf("listener %q: ext_authz must come right before the router; a filter in between could change the request tfgate approved", listener)
	}
	for _, hdr := range identityHeaders {
		if i, ok := stripped[hdr]; !ok || i > authzIdx {
			c.problemf("listener %q: no header_mutation filter before ext_authz removes the client's %s: a client could send its own identity header", listener, hdr)
		}
	}
	c.extAuthz(listener, authz, want)
	if rc != nil {
		c.routes(listener, rc, authzName, names, want)
	}
}

func (c *checker) extAuthz(listener string, a *extauthzv3.ExtAuthz, want listenerSpec) {
	p := fmt.Sprintf("listener %q: ext_authz", listener)
	gs := a.GetGrpcService()
	if gs == nil {
		c.problemf("%s must use grpc_service (tfgate is a gRPC ext_authz server)", p)
	} else {
		if got := gs.GetEnvoyGrpc().GetClusterName(); got != clusterAuthzGRPC {
			c.problemf("%s grpc_service.envoy_grpc.cluster_name is %q, want %q", p, got, clusterAuthzGRPC)
		}
		if gs.GetTimeout() == nil {
			c.problemf("%s grpc_service.timeout must be set (Envoy's 200ms default is not a decision)", p)
		} else if d := gs.GetTimeout().AsDuration(); d <= 0 || d > maxAuthzTimeout {
			c.problemf("%s grpc_service.timeout is %v, want 0 < timeout <= %v", p, d, maxAuthzTimeout)
		}
	}
	if a.GetTransportApiVersion() != corev3.ApiVersion_V3 {
		c.problemf("%s transport_api_version is %s, want V3", p, a.GetTransportApiVersion())
	}
	if a.GetFailureModeAllow() {
		c.problemf("%s failure_mode_allow is true: it must be false so that an unreachable or slow tfgate blocks the request instead of letting it through", p)
	}
	if a.GetFailureModeAllowHeaderAdd() {
		c.problemf("%s failure_mode_allow_header_add must be false", p)
	}
	if got := a.GetStatusOnError().GetCode(); got != typev3.StatusCode_ServiceUnavailable {
		c.problemf("%s status_on_error is %v, want ServiceUnavailable (503): a tfgate outage must read as \"retry\", not as a 403 deny", p, got)
	}
	if a.GetClearRouteCache() {
		c.problemf("%s clear_route_cache must be false: after tfgate decides, the route (and so the upstream and path) must not change", p)
	}
	if a.GetFilterEnabled() != nil || a.GetFilterEnabledMetadata() != nil {
		c.problemf("%s must not use filter_enabled/filter_enabled_metadata: it must run for every request", p)
	}
	body := a.GetWithRequestBody()
	switch {
	case body == nil && want.body:
		c.problemf("%s with_request_body is missing: tfgate needs the gRPC body (the ModelSpec is in it)", p)
	case body != nil:
		if !body.GetPackAsBytes() {
			c.problemf("%s with_request_body.pack_as_bytes must be true: otherwise Envoy sends a UTF-8-sanitised (corrupted) copy of the protobuf body", p)
		}
		if body.GetAllowPartialMessage() {
			c.problemf("%s with_request_body.allow_partial_message must be false: a truncated body can hide a later ModelSpec that TF Serving honours", p)
		}
		if body.GetMaxRequestBytes() == 0 {
			c.problemf("%s with_request_body.max_request_bytes must be > 0", p)
		}
	}
}

// perFilter returns the config of filter name in one typed_per_filter_config
// level, unwrapping envoy.config.route.v3.FilterConfig. disabled is true when
// that level turns ext_authz off.
func (c *checker) perFilter(where string, m map[string]*anypb.Any, name string, filterNames map[string]bool) (set, disabled bool) {
	for key := range m {
		if !filterNames[key] {
			c.problemf("%s: typed_per_filter_config key %q names no HTTP filter of this listener; Envoy would ignore it", where, key)
		}
	}
	a, ok := m[name]
	if !ok {
		return false, false
	}
	if a.MessageIs(&routev3.FilterConfig{}) {
		fc := &routev3.FilterConfig{}
		if err := a.UnmarshalTo(fc); err != nil {
			c.problemf("%s: %v", where, err)
			return true, false
		}
		if fc.GetDisabled() {
			return true, true
		}
		a = fc.GetConfig()
	}
	per := &extauthzv3.ExtAuthzPerRoute{}
	if err := a.UnmarshalTo(per); err != nil {
		c.problemf("%s: per-route config for %s is not an ExtAuthzPerRoute: %v", where, name, err)
		return true, false
	}
	return true, per.GetCheckSettings() == nil && per.GetDisabled()
}

// authzDisabled applies Envoy's rule: the most specific level that configures
// the filter wins (route, then virtual host, then route configuration).
func (c *checker) authzDisabled(where string, rc *routev3.RouteConfiguration, vh *routev3.VirtualHost, r *routev3.Route, name string, filterNames map[string]bool) bool {
	levels := []struct {
		where string
		m     map[string]*anypb.Any
	}{
		{where, r.GetTypedPerFilterConfig()},
		{fmt.Sprintf("virtual host %q", vh.GetName()), vh.GetTypedPerFilterConfig()},
		{fmt.Sprintf("route_config %q", rc.GetName()), rc.GetTypedPerFilterConfig()},
	}
	for _, l := range levels {
		if set, disabled := c.perFilter(l.where, l.m, name, filterNames); set {
			return disabled
		}
	}
	return false
}

func (c *checker) routes(listener string, rc *routev3.RouteConfiguration, authzName string, filterNames map[string]bool, want listenerSpec) {
	c.headerOps(fmt.Sprintf("listener %q route_config", listener), rc.GetRequestHeadersToAdd(), rc.GetRequestHeadersToRemove())
	for _, vh := range rc.GetVirtualHosts() {
		c.headerOps(fmt.Sprintf("listener %q virtual host %q", listener, vh.GetName()), vh.GetRequestHeadersToAdd(), vh.GetRequestHeadersToRemove())
		for i, r := range vh.GetRoutes() {
			where := fmt.Sprintf("listener %q route %d (%s)", listener, i, describeMatch(r.GetMatch()))
			c.headerOps(where, r.GetRequestHeadersToAdd(), r.GetRequestHeadersToRemove())
			disabled := c.authzDisabled(where, rc, vh, r, authzName, filterNames)
			switch act := r.GetAction().(type) {
			case *routev3.Route_Redirect, *routev3.Route_DirectResponse:
				continue // answered by Envoy, nothing forwarded
			case *routev3.Route_Route:
				c.routeAction(where, act.Route, disabled, want)
			default:
				c.problemf("%s: unsupported route action %T; extend config_test.go", where, act)
			}
		}
	}
}

func (c *checker) routeAction(where string, ra *routev3.RouteAction, disabled bool, want listenerSpec) {
	cluster := ra.GetCluster()
	if cluster == "" {
		c.problemf("%s: route must name its cluster directly (no cluster_header, weighted or plugin clusters: the upstream must not depend on anything a client can influence)", where)
		return
	}
	if _, ok := c.clusters[cluster]; !ok {
		c.problemf("%s: unknown cluster %q", where, cluster)
	}
	if !slices.Contains(want.clusters, cluster) {
		c.problemf("%s: routes to %q; this listener may only route to %v", where, cluster, want.clusters)
	}
	if disabled && cluster != clusterAuthzHTTP {
		c.problemf("%s: ext_authz is disabled on a route to %q; only tfgate's own endpoints (%s) may skip it", where, cluster, clusterAuthzHTTP)
	}
	if cluster == clusterTFREST || cluster == clusterTFGRPC {
		if ra.GetPrefixRewrite() != "" || ra.GetRegexRewrite() != nil || ra.GetPathRewritePolicy() != nil || ra.GetPathRewrite() != "" {
			c.problemf("%s: path rewrite on a TF Serving route: TF Serving would get a different path than the one tfgate checked", where)
		}
		if ra.GetTimeout() == nil && ra.GetMaxStreamDuration() == nil {
			c.problemf("%s: set a timeout explicitly (Envoy's 15s default is too short for large inference requests)", where)
		}
	}
}

// headerOps rejects route-level header operations on tfgate's identity
// headers: the router applies them after ext_authz, so they would override or
// erase what tfgate set.
func (c *checker) headerOps(where string, add []*corev3.HeaderValueOption, remove []string) {
	for _, h := range add {
		if k := strings.ToLower(h.GetHeader().GetKey()); slices.Contains(identityHeaders, k) {
			c.problemf("%s: request_headers_to_add sets %s, overriding tfgate", where, k)
		}
	}
	for _, k := range remove {
		if slices.Contains(identityHeaders, strings.ToLower(k)) {
			c.problemf("%s: request_headers_to_remove removes %s, erasing tfgate's identity header", where, k)
		}
	}
}

func describeMatch(m *routev3.RouteMatch) string {
	var s string
	switch {
	case m.GetPath() != "":
		s = fmt.Sprintf("path %q", m.GetPath())
	case m.GetPathSeparatedPrefix() != "":
		s = fmt.Sprintf("path_separated_prefix %q", m.GetPathSeparatedPrefix())
	case m.GetSafeRegex() != nil:
		s = fmt.Sprintf("safe_regex %q", m.GetSafeRegex().GetRegex())
	default:
		s = fmt.Sprintf("prefix %q", m.GetPrefix())
	}
	if m.GetGrpc() != nil {
		s += " grpc"
	}
	return s
}

// routeCase checks where one request goes: a small model of Envoy's first-
// match route selection. Match features it does not model fail the test
// rather than being guessed.
func (c *checker) routeCase(rc routeCase, h *hcmv3.HttpConnectionManager) {
	what := fmt.Sprintf("listener %q: %s %s (content-type %q)", rc.listener, rc.method, rc.path, rc.contentType)
	cfg := h.GetRouteConfig()
	vh := pickVirtualHost(cfg)
	if vh == nil {
		c.problemf("%s: no virtual host with domain \"*\" (the route model only supports that)", what)
		return
	}
	var authzName string
	names := map[string]bool{}
	for _, hf := range h.GetHttpFilters() {
		names[hf.GetName()] = true
		if hf.GetTypedConfig().MessageIs(&extauthzv3.ExtAuthz{}) {
			authzName = hf.GetName()
		}
	}
	path, _, _ := strings.Cut(rc.path, "?")
	for _, r := range vh.GetRoutes() {
		ok, err := routeMatches(r.GetMatch(), path, rc.contentType)
		if err != nil {
			c.problemf("%s: %v", what, err)
			return
		}
		if !ok {
			continue
		}
		where := fmt.Sprintf("%s matched route %s", what, describeMatch(r.GetMatch()))
		gotCluster := r.GetRoute().GetCluster()
		gotAuthz := authzName != "" && !c.authzDisabled(where, cfg, vh, r, authzName, names)
		if gotCluster != rc.cluster || gotAuthz != rc.authz {
			c.problemf("%s: goes to %q with ext_authz %s, want %q with ext_authz %s",
				where, gotCluster, onOff(gotAuthz), rc.cluster, onOff(rc.authz))
		}
		return
	}
	if rc.cluster != "" {
		c.problemf("%s: no route matches, want %q with ext_authz %s", what, rc.cluster, onOff(rc.authz))
	}
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

func pickVirtualHost(rc *routev3.RouteConfiguration) *routev3.VirtualHost {
	for _, vh := range rc.GetVirtualHosts() {
		if slices.Contains(vh.GetDomains(), "*") {
			return vh
		}
	}
	return nil
}

func routeMatches(m *routev3.RouteMatch, path, contentType string) (bool, error) {
	if len(m.GetHeaders()) > 0 || len(m.GetQueryParameters()) > 0 || m.GetRuntimeFraction() != nil ||
		m.GetTlsContext() != nil || len(m.GetDynamicMetadata()) > 0 || len(m.GetCookies()) > 0 || m.GetFilterState() != nil {
		return false, fmt.Errorf("route %s uses match conditions config_test.go does not model; extend routeMatches", describeMatch(m))
	}
	cs := m.GetCaseSensitive() == nil || m.GetCaseSensitive().GetValue()
	eq := func(a, b string) bool { return a == b || (!cs && strings.EqualFold(a, b)) }
	var ok bool
	switch ps := m.GetPathSpecifier().(type) {
	case *routev3.RouteMatch_Prefix:
		ok = len(path) >= len(ps.Prefix) && eq(path[:len(ps.Prefix)], ps.Prefix)
	case *routev3.RouteMatch_Path:
		ok = eq(path, ps.Path)
	case *routev3.RouteMatch_PathSeparatedPrefix:
		p := ps.PathSeparatedPrefix
		ok = eq(path, p) || (len(path) > len(p) && path[len(p)] == '/' && eq(path[:len(p)], p))
	default:
		return false, fmt.Errorf("route %s uses a path matcher config_test.go does not model; extend routeMatches", describeMatch(m))
	}
	if ok && m.GetGrpc() != nil {
		ok = contentType == "application/grpc" || strings.HasPrefix(contentType, "application/grpc+")
	}
	return ok, nil
}

// TestLoginRateLimitCheckCatches proves checkLoginRateLimit can fail.
func TestLoginRateLimitCheckCatches(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile(envoyConfigFile)
	if err != nil {
		t.Fatal(err)
	}
	for name, m := range map[string][2]string{
		"no bucket":       {"max_tokens: 200", "# max_tokens removed"},
		"not enforced":    {"default_value: {numerator: 100, denominator: HUNDRED}", "default_value: {numerator: 0, denominator: HUNDRED}"},
		"route not limit": {"stat_prefix: saml_login", "stat_prefix: saml_login_x"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			doc, err := mutate(string(raw), m[0], m[1], 1)
			if err != nil {
				t.Fatal(err)
			}
			if name == "route not limit" {
				// Move the limit off the login route: rename the filter key.
				doc, err = mutate(doc, "envoy.filters.http.local_ratelimit:", "envoy.filters.http.local_ratelimit_x:", 1)
				if err != nil {
					t.Fatal(err)
				}
			}
			bs, err := parseBootstrap([]byte(doc))
			if err != nil {
				t.Fatal(err)
			}
			if len(checkLoginRateLimit(bs)) == 0 {
				t.Error("checkLoginRateLimit found nothing wrong")
			}
		})
	}
}
