package envoy

import (
	"testing"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
)

// TestNewRequestSourcePrincipal: the peer identity comes from
// attributes.source.principal only, never from a header.
func TestNewRequestSourcePrincipal(t *testing.T) {
	const id = "spiffe://cluster.local/ns/batch/sa/scorer"
	req := &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		Source: &authv3.AttributeContext_Peer{Principal: id},
		Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
			Method: "POST", Path: "/v1/models/m:predict",
			Headers: map[string]string{"x-forwarded-client-cert": "URI=spiffe://cluster.local/ns/x/sa/y"},
		}},
	}}
	if got := NewRequest(req).SourcePrincipal; got != id {
		t.Fatalf("SourcePrincipal = %q, want %q", got, id)
	}
	req.Attributes.Source = nil
	if got := NewRequest(req).SourcePrincipal; got != "" {
		t.Fatalf("SourcePrincipal = %q without a source, want empty", got)
	}
}
