package validate

import (
	"slices"
	"testing"

	egv1a1 "github.com/envoyproxy/gateway/api/v1alpha1"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// TestEnvoyGateway: the Envoy Gateway objects decode strictly into Envoy
// Gateway's and Gateway API's types; every SecurityPolicy calls the
// chart's ext_authz port, fails closed and targets only TF Serving's
// routes; tfgate's route carries /saml/, /token and /token/revoke to its
// HTTP port; every route hangs off the Gateway and points at Services and
// ports the chart renders.
func TestEnvoyGateway(t *testing.T) {
	top := defaultTopology(t)
	var (
		gateways []string
		http     = map[string]*gwv1.HTTPRoute{}
		grpc     = map[string]*gwv1.GRPCRoute{}
		policies []*egv1a1.SecurityPolicy
	)
	for _, o := range loadDir(t, egDir) {
		v, err := Decode(o)
		if err != nil {
			t.Fatal(err)
		}
		if o.Namespace != ReleaseNamespace {
			t.Errorf("%s: namespace %q, want %q", o.ID(), o.Namespace, ReleaseNamespace)
		}
		switch x := v.(type) {
		case *gwv1.Gateway:
			gateways = append(gateways, x.Name)
		case *gwv1.HTTPRoute:
			http[x.Name] = x
		case *gwv1.GRPCRoute:
			grpc[x.Name] = x
		case *egv1a1.SecurityPolicy:
			policies = append(policies, x)
		}
	}
	backend := func(where string, name gwv1.ObjectName, port *gwv1.PortNumber, target string) {
		if port == nil || uint32(*port) != top.port(t, string(name), target) {
			t.Errorf("%s: backend %s port %v, want the Service's %s port", where, name, port, target)
		}
	}
	for name, r := range http {
		checkParents(t, name, r.Spec.ParentRefs, gateways)
		for _, rule := range r.Spec.Rules {
			for _, b := range rule.BackendRefs {
				target := "http-rest"
				if b.Name == "tfgate" {
					target = "http"
				}
				backend("HTTPRoute "+name, b.Name, b.Port, target)
			}
		}
	}
	for name, r := range grpc {
		checkParents(t, name, r.Spec.ParentRefs, gateways)
		for _, rule := range r.Spec.Rules {
			for _, b := range rule.BackendRefs {
				backend("GRPCRoute "+name, b.Name, b.Port, "grpc")
			}
		}
	}
	sso, ok := http["tfgate-sso"]
	if !ok {
		t.Fatal("no HTTPRoute tfgate-sso")
	}
	var paths []string
	for _, rule := range sso.Spec.Rules {
		for _, m := range rule.Matches {
			paths = append(paths, string(*m.Path.Type)+" "+*m.Path.Value)
		}
	}
	for _, want := range []string{"PathPrefix /saml/", "Exact /token", "Exact /token/revoke"} {
		if !slices.Contains(paths, want) {
			t.Errorf("tfgate-sso matches %v, want %s", paths, want)
		}
	}

	targeted := map[string]bool{}
	for _, p := range policies {
		ea := p.Spec.ExtAuth
		if ea == nil || ea.GRPC == nil || len(ea.GRPC.BackendRefs) != 1 {
			t.Fatalf("SecurityPolicy %s: want extAuth.grpc with one backendRef", p.Name)
		}
		b := ea.GRPC.BackendRefs[0]
		backend("SecurityPolicy "+p.Name, b.Name, b.Port, "grpc")
		if ea.FailOpen == nil || *ea.FailOpen {
			t.Errorf("SecurityPolicy %s: failOpen must be set to false", p.Name)
		}
		for _, ref := range p.Spec.GetTargetRefs() {
			name := string(ref.Name)
			switch ref.Kind {
			case "HTTPRoute":
				if _, ok := http[name]; !ok {
					t.Errorf("SecurityPolicy %s targets unknown HTTPRoute %s", p.Name, name)
				}
			case "GRPCRoute":
				if _, ok := grpc[name]; !ok {
					t.Errorf("SecurityPolicy %s targets unknown GRPCRoute %s", p.Name, name)
				}
				if ea.BodyToExtAuth == nil || ea.BodyToExtAuth.MaxRequestBytes >= maxRequestBytes(t, top.config) {
					t.Errorf("SecurityPolicy %s: gRPC needs bodyToExtAuth below tfgate's max_request_bytes", p.Name)
				}
			default:
				t.Errorf("SecurityPolicy %s targets a %s", p.Name, ref.Kind)
			}
			if name == "tfgate-sso" {
				t.Errorf("SecurityPolicy %s targets tfgate's own route", p.Name)
			}
			targeted[string(ref.Kind)+"/"+name] = true
		}
	}
	for name := range http {
		if name != "tfgate-sso" && !targeted["HTTPRoute/"+name] {
			t.Errorf("HTTPRoute %s reaches TF Serving without ext_authz", name)
		}
	}
	for name := range grpc {
		if !targeted["GRPCRoute/"+name] {
			t.Errorf("GRPCRoute %s reaches TF Serving without ext_authz", name)
		}
	}
}

func checkParents(t *testing.T, route string, refs []gwv1.ParentReference, gateways []string) {
	t.Helper()
	if len(refs) == 0 {
		t.Errorf("route %s has no parentRefs", route)
	}
	for _, r := range refs {
		if !slices.Contains(gateways, string(r.Name)) {
			t.Errorf("route %s: parent %s is not a Gateway here (%v)", route, r.Name, gateways)
		}
	}
}
