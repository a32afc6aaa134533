package envoy_test

import (
	"os"
	"slices"
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
)

// TestEnvoyMTLSConfig splices the clusters of envoy-mtls.yaml into
// envoy.yaml, validates the whole Bootstrap as TestEnvoyConfig does, and
// checks that both tfgate clusters speak TLS 1.2+ with a client certificate,
// verify tfgate's certificate against a CA and a SAN, and offer the ALPN
// tfgate's listeners require.
func TestEnvoyMTLSConfig(t *testing.T) {
	t.Parallel()
	base, err := os.ReadFile(envoyConfigFile)
	if err != nil {
		t.Fatal(err)
	}
	overlay, err := os.ReadFile("envoy-mtls.yaml")
	if err != nil {
		t.Fatal(err)
	}
	bs, err := parseBootstrap(base)
	if err != nil {
		t.Fatal(err)
	}
	mtls, err := parseBootstrap(overlay)
	if err != nil {
		t.Fatalf("envoy-mtls.yaml: %v", err)
	}
	replaced := 0
	clusters := bs.GetStaticResources().GetClusters()
	for _, cl := range mtls.GetStaticResources().GetClusters() {
		i := slices.IndexFunc(clusters, func(c *clusterv3.Cluster) bool { return c.GetName() == cl.GetName() })
		if i < 0 {
			t.Fatalf("envoy-mtls.yaml: cluster %q is not in envoy.yaml", cl.GetName())
		}
		clusters[i] = cl
		replaced++
	}
	if replaced != 2 {
		t.Fatalf("envoy-mtls.yaml replaces %d clusters, want extauthz_grpc and extauthz_http", replaced)
	}
	problems, seen := validateDeep(bs)
	for _, p := range problems {
		t.Errorf("envoy.yaml + envoy-mtls.yaml: %s", p)
	}
	if seen["envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext"] != 2 {
		t.Errorf("validated %d UpstreamTlsContexts, want 2: %v", seen["envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext"], seen)
	}
	for _, p := range checkTopology(bs) {
		t.Errorf("envoy.yaml + envoy-mtls.yaml: %s", p)
	}
	alpn := map[string]string{"extauthz_grpc": "h2", "extauthz_http": "http/1.1"}
	for _, cl := range mtls.GetStaticResources().GetClusters() {
		var tc tlsv3.UpstreamTlsContext
		if err := cl.GetTransportSocket().GetTypedConfig().UnmarshalTo(&tc); err != nil {
			t.Fatalf("%s: transport socket: %v", cl.GetName(), err)
		}
		ctx := tc.GetCommonTlsContext()
		switch {
		case ctx.GetTlsParams().GetTlsMinimumProtocolVersion() < tlsv3.TlsParameters_TLSv1_2:
			t.Errorf("%s: TLS minimum below 1.2", cl.GetName())
		case len(ctx.GetTlsCertificates()) != 1:
			t.Errorf("%s: no client certificate for tfgate's client_ca_file", cl.GetName())
		case ctx.GetValidationContext().GetTrustedCa().GetFilename() == "":
			t.Errorf("%s: tfgate's certificate is not verified against a CA", cl.GetName())
		case len(ctx.GetValidationContext().GetMatchTypedSubjectAltNames()) == 0:
			t.Errorf("%s: tfgate's certificate SAN is not checked", cl.GetName())
		case !slices.Equal(ctx.GetAlpnProtocols(), []string{alpn[cl.GetName()]}):
			t.Errorf("%s: ALPN %v, want [%s]", cl.GetName(), ctx.GetAlpnProtocols(), alpn[cl.GetName()])
		}
	}
}
