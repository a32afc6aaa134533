package validate

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	meshv1alpha1 "istio.io/api/mesh/v1alpha1"
	securityapi "istio.io/api/security/v1beta1"
	istionetworking "istio.io/client-go/pkg/apis/networking/v1"
	istiosecurity "istio.io/client-go/pkg/apis/security/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"
)

// topology is the chart's default rendering: the Services and pods the
// Istio and Envoy Gateway files point at.
type topology struct {
	services map[string]*corev1.Service // by FQDN and by short name
	pods     map[string]labels.Set      // Deployment name -> pod labels
	config   string
}

func defaultTopology(t *testing.T) topology {
	t.Helper()
	top := topology{services: map[string]*corev1.Service{}, pods: map[string]labels.Set{}}
	for _, o := range render(t, "") {
		switch o.Kind {
		case "Service":
			s := mustDecode[corev1.Service](t, o)
			top.services[s.Name] = s
			top.services[s.Name+"."+ReleaseNamespace+".svc.cluster.local"] = s
		case "Deployment":
			d := mustDecode[appsv1.Deployment](t, o)
			top.pods[d.Name] = labels.Set(d.Spec.Template.Labels)
		case "ConfigMap":
			top.config = mustDecode[corev1.ConfigMap](t, o).Data["extauthz.yaml"]
		}
	}
	return top
}

// port returns the Service host's port whose targetPort is target.
func (top topology) port(t *testing.T, host, target string) uint32 {
	t.Helper()
	s, ok := top.services[host]
	if !ok {
		t.Fatalf("no Service %s in the chart's rendering", host)
	}
	for _, p := range s.Spec.Ports {
		if p.TargetPort.StrVal == target {
			return uint32(p.Port)
		}
	}
	t.Fatalf("Service %s has no port targeting %s", host, target)
	return 0
}

func loadDir(t *testing.T, dir string) []Object {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no YAML in %s", dir)
	}
	var all []Object
	for _, f := range files {
		if filepath.Base(f) == "istiod-values.yaml" {
			continue // Helm values for istiod, not an object; see TestIstioMeshConfig
		}
		objs, err := LoadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, objs...)
	}
	return all
}

// maxRequestBytes is tfgate's listen.max_request_bytes in the rendered
// config, or its default.
func maxRequestBytes(t *testing.T, config string) uint32 {
	t.Helper()
	var cfg struct {
		Listen struct {
			Max uint32 `json:"max_request_bytes"`
		} `json:"listen"`
	}
	if err := yaml.Unmarshal([]byte(config), &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.Listen.Max == 0 {
		return 80 << 20 // extauthz.example.yaml's default
	}
	return cfg.Listen.Max
}

// TestIstioMeshConfig: the extension provider decodes strictly into
// Istio's MeshConfig, points at the chart's ext_authz Service port, fails
// closed, and sends gRPC bodies as tfgate needs them.
func TestIstioMeshConfig(t *testing.T) {
	top := defaultTopology(t)
	mc := istioMeshConfig(t)
	p := extensionProvider(t, mc, "tfgate")
	g := p.GetEnvoyExtAuthzGrpc()
	if g == nil {
		t.Fatal("provider tfgate is not envoyExtAuthzGrpc")
	}
	if want := top.port(t, g.GetService(), "grpc"); g.GetPort() != want {
		t.Errorf("provider port %d, the Service's ext_authz port is %d", g.GetPort(), want)
	}
	if !strings.HasSuffix(g.GetService(), "."+ReleaseNamespace+".svc.cluster.local") {
		t.Errorf("provider service %q is not the chart's Service's FQDN", g.GetService())
	}
	if g.GetFailOpen() {
		t.Error("failOpen must be false: an unanswered Check must not become an allow")
	}
	b := g.GetIncludeRequestBodyInCheck()
	switch {
	case b == nil:
		t.Error("includeRequestBodyInCheck missing: tfgate needs gRPC bodies to find the ModelSpec")
	case !b.GetPackAsBytes():
		t.Error("packAsBytes must be true: without it gRPC frames arrive UTF-8-mangled")
	case b.GetAllowPartialMessage():
		t.Error("allowPartialMessage must be false")
	case b.GetMaxRequestBytes() == 0 || b.GetMaxRequestBytes() >= maxRequestBytes(t, top.config):
		t.Errorf("maxRequestBytes %d must be below tfgate's listen.max_request_bytes %d", b.GetMaxRequestBytes(), maxRequestBytes(t, top.config))
	}
}

func istioMeshConfig(t *testing.T) *meshv1alpha1.MeshConfig {
	t.Helper()
	objs, err := readYAMLMap(filepath.Join(istioDir, "istiod-values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != 1 || objs["meshConfig"] == nil {
		t.Fatalf("istiod-values.yaml must hold meshConfig only, has %v", keys(objs))
	}
	raw, err := yaml.Marshal(objs["meshConfig"])
	if err != nil {
		t.Fatal(err)
	}
	var mc meshv1alpha1.MeshConfig
	if err := StrictProtoYAML(raw, &mc); err != nil {
		t.Fatalf("meshConfig: %v", err)
	}
	return &mc
}

func extensionProvider(t *testing.T, mc *meshv1alpha1.MeshConfig, name string) *meshv1alpha1.MeshConfig_ExtensionProvider {
	t.Helper()
	for _, p := range mc.GetExtensionProviders() {
		if p.GetName() == name {
			return p
		}
	}
	t.Fatalf("no extension provider %q", name)
	return nil
}

// TestIstioObjects: the Istio objects decode strictly; the CUSTOM policy
// uses the extension provider and selects the TF Serving example's pods
// and not tfgate's; mTLS is strict there; the routes send /saml/ and
// /token to tfgate's HTTP port and the rest to TF Serving.
func TestIstioObjects(t *testing.T) {
	top := defaultTopology(t)
	mc := istioMeshConfig(t)
	var (
		policies []*istiosecurity.AuthorizationPolicy
		strict   bool
		gateways []*istionetworking.Gateway
		vss      []*istionetworking.VirtualService
	)
	for _, o := range loadDir(t, istioDir) {
		v, err := Decode(o)
		if err != nil {
			t.Fatal(err)
		}
		if o.Namespace != ReleaseNamespace {
			t.Errorf("%s: namespace %q, the chart's release is in %q", o.ID(), o.Namespace, ReleaseNamespace)
		}
		switch x := v.(type) {
		case *istiosecurity.AuthorizationPolicy:
			policies = append(policies, x)
		case *istiosecurity.PeerAuthentication:
			strict = strict || x.Spec.GetMtls().GetMode() == securityapi.PeerAuthentication_MutualTLS_STRICT
		case *istionetworking.Gateway:
			gateways = append(gateways, x)
		case *istionetworking.VirtualService:
			vss = append(vss, x)
		}
	}
	if !strict {
		t.Error("no STRICT PeerAuthentication: without mTLS, source.principal is empty")
	}
	if len(policies) != 1 {
		t.Fatalf("%d AuthorizationPolicies, want 1", len(policies))
	}
	ap := policies[0]
	if ap.Spec.GetAction() != securityapi.AuthorizationPolicy_CUSTOM || len(ap.Spec.GetRules()) == 0 {
		t.Errorf("policy %s: action %v with %d rules, want CUSTOM with rules", ap.Name, ap.Spec.GetAction(), len(ap.Spec.GetRules()))
	}
	extensionProvider(t, mc, ap.Spec.GetProvider().GetName())
	sel := labels.SelectorFromSet(ap.Spec.GetSelector().GetMatchLabels())
	if len(ap.Spec.GetSelector().GetMatchLabels()) == 0 || !sel.Matches(top.pods["tfserving"]) {
		t.Errorf("policy selector %v does not select the TF Serving example's pods %v", ap.Spec.GetSelector(), top.pods["tfserving"])
	}
	if sel.Matches(top.pods["tfgate"]) {
		t.Error("the CUSTOM policy selects tfgate's own pods: /saml/ and /token would need a session to reach")
	}
	checkVirtualServices(t, top, gateways, vss)
}

func checkVirtualServices(t *testing.T, top topology, gateways []*istionetworking.Gateway, vss []*istionetworking.VirtualService) {
	t.Helper()
	if len(gateways) != 1 || len(vss) != 1 {
		t.Fatalf("%d Gateways and %d VirtualServices, want one each", len(gateways), len(vss))
	}
	gw, vs := gateways[0], vss[0]
	if !slices.Contains(vs.Spec.GetGateways(), gw.Name) {
		t.Errorf("VirtualService gateways %v do not name Gateway %s", vs.Spec.GetGateways(), gw.Name)
	}
	var gwHosts []string
	for _, s := range gw.Spec.GetServers() {
		gwHosts = append(gwHosts, s.GetHosts()...)
	}
	for _, h := range vs.Spec.GetHosts() {
		if !slices.Contains(gwHosts, h) {
			t.Errorf("VirtualService host %s is not served by the Gateway (%v)", h, gwHosts)
		}
	}
	tfgateHTTP := top.port(t, "tfgate."+ReleaseNamespace+".svc.cluster.local", "http")
	want := map[string]struct {
		host string
		port uint32
	}{
		"prefix /saml/":       {"tfgate", tfgateHTTP},
		"exact /token":        {"tfgate", tfgateHTTP},
		"exact /token/revoke": {"tfgate", tfgateHTTP},
		"grpc":                {"tfserving", top.port(t, "tfserving", "grpc")},
		"default":             {"tfserving", top.port(t, "tfserving", "http-rest")},
	}
	got := map[string]bool{}
	for _, r := range vs.Spec.GetHttp() {
		if len(r.GetRoute()) != 1 {
			t.Fatalf("route %s has %d destinations", r.GetName(), len(r.GetRoute()))
		}
		d := r.GetRoute()[0].GetDestination()
		host, _, _ := strings.Cut(d.GetHost(), ".")
		if _, ok := top.services[d.GetHost()]; !ok {
			t.Errorf("route %s: no Service %s", r.GetName(), d.GetHost())
		}
		names := matchNames(r.GetMatch())
		for _, n := range names {
			w, ok := want[n]
			if !ok {
				t.Errorf("route %s: unexpected match %s", r.GetName(), n)
				continue
			}
			if host != w.host || d.GetPort().GetNumber() != w.port {
				t.Errorf("route %s (%s) goes to %s:%d, want %s:%d", r.GetName(), n, host, d.GetPort().GetNumber(), w.host, w.port)
			}
			got[n] = true
		}
	}
	for n := range want {
		if !got[n] {
			t.Errorf("no route for %s", n)
		}
	}
}

// matchNames describes each match of a route: "prefix /saml/", "exact
// /token", "grpc" (content-type application/grpc), or "default".
func matchNames(ms []*networkingapiMatch) []string {
	if len(ms) == 0 {
		return []string{"default"}
	}
	var out []string
	for _, m := range ms {
		switch {
		case m.GetUri().GetPrefix() != "":
			out = append(out, "prefix "+m.GetUri().GetPrefix())
		case m.GetUri().GetExact() != "":
			out = append(out, "exact "+m.GetUri().GetExact())
		case m.GetHeaders()["content-type"].GetPrefix() == "application/grpc":
			out = append(out, "grpc")
		default:
			out = append(out, "unknown")
		}
	}
	return out
}

func keys(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
