package envoy

import (
	"net/http"
	"reflect"
	"strings"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// predict is a CheckRequest as Envoy sends one for a TF Serving call (the
// shape of loadgen's RESTPredict and GRPCPredict, which this package's
// internal tests cannot import).
func predict(token string, grpc bool) *authv3.CheckRequest {
	h := map[string]string{
		":authority": "models.example.com:8501", ":method": "POST", ":path": "/v1/models/m:predict",
		":scheme": "http", "accept": "*/*", "accept-encoding": "gzip, deflate", "content-length": "23",
		"content-type": "application/json", "user-agent": "python-requests/2.32.3",
		"x-forwarded-for": "10.1.2.3", "x-forwarded-proto": "http", "x-request-id": "4bf92f35-77b3-4da6-a3ce-929d0e0e4736",
	}
	if token != "" {
		h["authorization"] = "Bearer " + token
	}
	hr := &authv3.AttributeContext_HttpRequest{
		Id: "12", Method: "POST", Path: "/v1/models/m:predict", Host: h[":authority"], Scheme: "http",
		Protocol: "HTTP/1.1", Headers: h, Body: `{"instances":[1.0,2.0]}`,
	}
	if grpc {
		h["content-type"], h["te"], h[":path"] = "application/grpc", "trailers", "/tensorflow.serving.PredictionService/Predict"
		hr.Path, hr.Protocol, hr.Body = h[":path"], "HTTP/2", ""
		hr.RawBody = []byte{0, 0, 0, 0, 7, 10, 5, 10, 1, 'm', 26, 0}
	}
	return &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		Source: &authv3.AttributeContext_Peer{Address: &corev3.Address{Address: &corev3.Address_SocketAddress{
			SocketAddress: &corev3.SocketAddress{Address: "127.0.0.1", PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: 40000}}}}},
		Destination: &authv3.AttributeContext_Peer{Address: &corev3.Address{Address: &corev3.Address_SocketAddress{
			SocketAddress: &corev3.SocketAddress{Address: "127.0.0.1", PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: 8501}}}}},
		Request:           &authv3.AttributeContext_Request{Http: hr},
		ContextExtensions: map[string]string{"virtual_host": "tfserving"},
	}}
}

// decodeCases are CheckRequests as Envoy sends them and as it could.
func decodeCases() map[string]*authv3.CheckRequest {
	withHTTP := func(h *authv3.AttributeContext_HttpRequest) *authv3.CheckRequest {
		return &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
			Request: &authv3.AttributeContext_Request{Http: h},
		}}
	}
	withSource := predict("tok", false)
	withSource.Attributes.Source = &authv3.AttributeContext_Peer{
		Principal: "spiffe://cluster.local/ns/a/sa/b", Service: "svc", Certificate: "PEM",
		Labels:  map[string]string{"app": "x"},
		Address: &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{Address: "10.1.2.3", PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: 443}}}},
	}
	pipe := predict("tok", false)
	pipe.Attributes.Source = &authv3.AttributeContext_Peer{Address: &corev3.Address{Address: &corev3.Address_Pipe{Pipe: &corev3.Pipe{Path: "/run/s"}}}}
	return map[string]*authv3.CheckRequest{
		"empty":        {},
		"rest predict": predict("tok", false),
		"anonymous":    predict("", false),
		"grpc predict": predict("tok", true),
		"source":       withSource,
		"pipe":         pipe,
		"raw headers": withHTTP(&authv3.AttributeContext_HttpRequest{
			Method: "POST", Path: "/v1/models/m:predict",
			Headers: map[string]string{"x-a": "map", ":path": "/ignored"},
			HeaderMap: &corev3.HeaderMap{Headers: []*corev3.HeaderValue{
				{Key: "x-a", RawValue: []byte("raw")}, {Key: "x-b", Value: "v"}, {Key: "x-b", RawValue: []byte("r2")},
				{Key: ":authority", RawValue: []byte("h")}, {Key: "Cookie", Value: "c=1"},
			}},
		}),
		"string body":    withHTTP(&authv3.AttributeContext_HttpRequest{Method: "POST", Body: `{"instances":[1]}`, Headers: map[string]string{"content-type": "application/json"}}),
		"grpc string":    withHTTP(&authv3.AttributeContext_HttpRequest{Method: "POST", Body: "ignored", Headers: map[string]string{"content-type": "application/grpc"}}),
		"empty raw body": withHTTP(&authv3.AttributeContext_HttpRequest{Method: "POST", RawBody: []byte{}, Body: "b"}),
		"raw body":       withHTTP(&authv3.AttributeContext_HttpRequest{Method: "POST", RawBody: []byte("raw"), Body: "b"}),
		"everything": withHTTP(&authv3.AttributeContext_HttpRequest{
			Id: "7", Method: "GET", Path: "/v1/models/m", Host: "h", Scheme: "https", Query: "q=1",
			Fragment: "f", Size: 12, Protocol: "HTTP/2", Headers: map[string]string{"accept": "*/*", "X-Mixed-Case": "1", "weird key": "v"},
		}),
	}
}

// decodeInto runs decodeCheckRequest on a request from the pool, as the
// server does, so a reused request is part of every comparison.
func decodeInto(t testing.TB, b []byte) (*pooledRequest, error) {
	t.Helper()
	p := requestPool.Get().(*pooledRequest)
	return p, decodeCheckRequest(b, p)
}

func TestDecodeMatchesNewRequest(t *testing.T) {
	for name, req := range decodeCases() {
		t.Run(name, func(t *testing.T) {
			b, err := proto.Marshal(req)
			if err != nil {
				t.Fatal(err)
			}
			p, err := decodeInto(t, b)
			if err != nil {
				t.Fatal(err)
			}
			defer p.release()
			// What the server built before: NewRequest of the message
			// proto.Unmarshal decodes.
			var back authv3.CheckRequest
			if err := proto.Unmarshal(b, &back); err != nil {
				t.Fatal(err)
			}
			if want := NewRequest(&back); !reflect.DeepEqual(&p.r, want) {
				t.Fatalf("decoded\n %+v\nNewRequest\n %+v", p.r, *want)
			}
		})
	}
}

// TestDecodeProtoSemantics: what proto.Unmarshal does with a field seen
// twice, a message seen twice, a field of the wrong wire type and a
// string that is not UTF-8, decoding does too.
func TestDecodeProtoSemantics(t *testing.T) {
	str := func(b []byte, num protowire.Number, s string) []byte {
		return protowire.AppendString(protowire.AppendTag(b, num, protowire.BytesType), s)
	}
	msg := func(b []byte, num protowire.Number, m []byte) []byte {
		return protowire.AppendBytes(protowire.AppendTag(b, num, protowire.BytesType), m)
	}
	// CheckRequest{attributes{request{http{...}}}} around an HttpRequest's bytes.
	wrap := func(httpReq []byte) []byte {
		return msg(nil, 1, msg(nil, 4, msg(nil, 2, httpReq)))
	}
	entry := func(k, v string) []byte { return str(str(nil, 1, k), 2, v) }
	cases := map[string][]byte{
		"path twice":             wrap(str(str(nil, 4, "/first"), 4, "/second")),
		"http twice, merged":     append(wrap(str(nil, 4, "/p")), wrap(str(nil, 2, "GET"))...),
		"path as a varint":       wrap(protowire.AppendVarint(protowire.AppendTag(str(nil, 4, "/p"), 4, protowire.VarintType), 7)),
		"header twice":           wrap(msg(msg(nil, 3, entry("x-a", "1")), 3, entry("x-a", "2"))),
		"entry without value":    wrap(msg(nil, 3, str(nil, 1, "x-a"))),
		"entry with extra field": wrap(msg(nil, 3, str(entry("x-a", "1"), 9, "zz"))),
		"unknown fields":         append(str(nil, 99, "x"), wrap(protowire.AppendFixed32(protowire.AppendTag(str(nil, 4, "/p"), 50, protowire.Fixed32Type), 1))...),
		"socket then pipe":       msg(nil, 1, msg(nil, 1, msg(msg(nil, 1, msg(nil, 1, str(nil, 2, "10.0.0.1"))), 2, str(nil, 1, "/pipe")))),
		"empty raw body present": wrap(protowire.AppendBytes(protowire.AppendTag(str(nil, 11, "string body"), 12, protowire.BytesType), nil)),
		"socket merged":          msg(nil, 1, msg(msg(nil, 1, msg(nil, 1, msg(nil, 1, str(nil, 2, "10.0.0.1")))), 1, msg(nil, 1, msg(nil, 1, protowire.AppendVarint(protowire.AppendTag(nil, 3, protowire.VarintType), 80))))),
	}
	for name, b := range cases {
		t.Run(name, func(t *testing.T) {
			var req authv3.CheckRequest
			if err := proto.Unmarshal(b, &req); err != nil {
				t.Fatalf("the case is not a valid message: %v", err)
			}
			p, err := decodeInto(t, b)
			if err != nil {
				t.Fatal(err)
			}
			defer p.release()
			if want := NewRequest(&req); !reflect.DeepEqual(&p.r, want) {
				t.Fatalf("decoded\n %+v\nNewRequest\n %+v", p.r, *want)
			}
		})
	}
	for name, b := range map[string][]byte{
		"path not UTF-8":         wrap(str(nil, 4, "/\xff")),
		"header value not UTF-8": wrap(msg(nil, 3, entry("x-a", "\xc3"))),
		"query not UTF-8":        wrap(str(nil, 7, "\xff")),
		"truncated":              wrap(str(nil, 4, "/path"))[:8],
		"field number 0":         {0x02, 0x00},
	} {
		t.Run(name, func(t *testing.T) {
			if err := proto.Unmarshal(b, new(authv3.CheckRequest)); err == nil {
				t.Fatal("proto.Unmarshal accepts the case; it tests nothing")
			}
			p, err := decodeInto(t, b)
			defer p.release()
			if err == nil {
				t.Fatalf("decoded a message proto.Unmarshal refuses: %+v", p.r)
			}
		})
	}
}

// FuzzDecodeCheckRequest: decoding never panics, and every message
// proto.Unmarshal accepts decodes to NewRequest's Request.
func FuzzDecodeCheckRequest(f *testing.F) {
	for _, req := range decodeCases() {
		b, err := proto.Marshal(req)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := decodeInto(t, b)
		defer p.release()
		var req authv3.CheckRequest
		if proto.Unmarshal(b, &req) != nil {
			return
		}
		if err != nil {
			t.Fatalf("proto.Unmarshal accepts the message, decoding fails: %v", err)
		}
		if ambiguousHeaders(req.GetAttributes().GetRequest().GetHttp().GetHeaders()) {
			return // NewRequest's answer depends on map order
		}
		if want := NewRequest(&req); !reflect.DeepEqual(&p.r, want) {
			t.Fatalf("decoded\n %+v\nNewRequest\n %+v", p.r, *want)
		}
	})
}

// ambiguousHeaders reports two names in the map that become one header
// ("x-a" and "X-A"): which value NewRequest keeps depends on map order.
func ambiguousHeaders(m map[string]string) bool {
	seen := map[string]bool{}
	for k := range m {
		if strings.HasPrefix(k, ":") {
			continue
		}
		ck := http.CanonicalHeaderKey(k)
		if seen[ck] {
			return true
		}
		seen[ck] = true
	}
	return false
}

// BenchmarkDecodeCheckRequest compares reading a Check's request straight
// from its bytes with proto.Unmarshal followed by NewRequest.
func BenchmarkDecodeCheckRequest(b *testing.B) {
	req, err := proto.Marshal(predict("tok", false))
	if err != nil {
		b.Fatal(err)
	}
	b.Run("wire", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			p := requestPool.Get().(*pooledRequest)
			if err := decodeCheckRequest(req, p); err != nil {
				b.Fatal(err)
			}
			p.release()
		}
	})
	b.Run("message", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var m authv3.CheckRequest
			if err := proto.Unmarshal(req, &m); err != nil {
				b.Fatal(err)
			}
			if NewRequest(&m).Method != "POST" {
				b.Fatal("not decoded")
			}
		}
	})
}
