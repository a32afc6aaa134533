package envoyemu

import (
	"net/http"
	"testing"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
)

// TestSourcePrincipal: the principal a test gives is sent as
// attributes.source.principal, and without one none is, whatever headers
// the client sends.
func TestSourcePrincipal(t *testing.T) {
	const id = "spiffe://cluster.local/ns/batch/sa/scorer"
	h := newHarness(t, reply(&authv3.CheckResponse{}), func(c *Config) {
		c.SourcePrincipal = func(*http.Request) string { return id }
	})
	if resp, _ := h.do(t, "GET", "/", nil, nil); resp.StatusCode != 200 {
		t.Fatalf("status = %d", resp.StatusCode)
	}
	if got := h.authz.requests()[0].GetAttributes().GetSource().GetPrincipal(); got != id {
		t.Fatalf("source.principal = %q, want %q", got, id)
	}

	plain := newHarness(t, reply(&authv3.CheckResponse{}), nil)
	if resp, _ := plain.do(t, "GET", "/", http.Header{"X-Forwarded-Client-Cert": {"URI=" + id}}, nil); resp.StatusCode != 200 {
		t.Fatalf("status = %d", resp.StatusCode)
	}
	if got := plain.authz.requests()[0].GetAttributes().GetSource().GetPrincipal(); got != "" {
		t.Fatalf("source.principal = %q without mTLS", got)
	}
}
