package envoy

import (
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/protobuf/proto"
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

// TestPooledRequestStartsEmpty: a request reused from the pool carries
// nothing of the Check before it: no header, body, identity or address.
func TestPooledRequestStartsEmpty(t *testing.T) {
	first := &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		Source: &authv3.AttributeContext_Peer{
			Principal: "spiffe://cluster.local/ns/a/sa/b",
			Address:   &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{Address: "10.0.0.1"}}},
		},
		Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
			Id: "1", Method: "POST", Path: "/v1/models/m:predict", RawBody: []byte("{}"),
			Headers:   map[string]string{"authorization": "Bearer secret", "cookie": "tfgate_session=s", "x-custom": "1", "content-type": "application/grpc"},
			HeaderMap: &corev3.HeaderMap{Headers: []*corev3.HeaderValue{{Key: "x-raw", RawValue: []byte("r")}}},
		}},
	}}
	second := &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
			Method: "GET", Path: "/v1/models/m", Headers: map[string]string{"accept": "*/*"},
		}},
	}}
	acquire := func(m *authv3.CheckRequest) *pooledRequest {
		b, err := proto.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		p, err := decodeInto(t, b)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	// The pool may hand back any request; drive it until the same one is
	// reused (sync.Pool keeps a put object for the next get on the same P
	// unless a GC intervened).
	for range 100 {
		p := acquire(first)
		if p.r.Header.Get("Authorization") != "Bearer secret" || p.r.Header.Get("X-Raw") != "r" || !p.r.GRPC {
			t.Fatalf("first request filled wrongly: %+v", p.r)
		}
		p.release()
		q := acquire(second)
		reused := p == q
		if len(q.r.Header) != 1 || q.r.Header.Get("Accept") != "*/*" {
			t.Fatalf("reused request's headers = %v, want only Accept", q.r.Header)
		}
		if q.r.ID != "" || q.r.Body != nil || q.r.GRPC || q.r.SourceIP != "" || q.r.SourcePrincipal != "" || q.r.Method != "GET" {
			t.Fatalf("reused request kept the last Check's fields: %+v", q.r)
		}
		q.release()
		if reused {
			return
		}
	}
	t.Fatal("the pool never handed a released request back: nothing was tested")
}
