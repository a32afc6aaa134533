package envoy

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/tfgate/tfgate/authz"
)

// protoOK is what the message path sends for d: responder.ok marshalled
// as gRPC's codec marshals it.
func protoOK(t testing.TB, d *authz.Decision) ([]byte, error) {
	t.Helper()
	resp := responder{}.respond(&authz.Request{Header: http.Header{}}, d)
	return proto.Marshal(resp)
}

// wireOK is encodeOK's bytes, or ok false when it declined.
func wireOK(t testing.TB, d *authz.Decision) ([]byte, bool) {
	t.Helper()
	data, ok := encodeOK(d)
	if !ok {
		return nil, false
	}
	defer data.Free()
	return data.Materialize(), true
}

func TestWireOKMatchesProto(t *testing.T) {
	many := make([]authz.Header, 20)
	for i := range many {
		many[i] = authz.Header{Name: fmt.Sprintf("x-tfgate-extra-%d", i), Value: strings.Repeat("v", i*40)}
	}
	long := strings.Repeat("g", 5000) // a groups header past one-byte lengths and the pooling threshold
	cases := map[string]authz.Decision{
		"nothing":        {Allow: true},
		"identity":       {Allow: true, Set: []authz.Header{{Name: authz.HeaderUser, Value: "alice"}, {Name: authz.HeaderDecisionID, Value: "01J"}}, Remove: []string{"x-tfgate-email"}},
		"cookie kept":    {Allow: true, Set: []authz.Header{{Name: authz.HeaderUser, Value: "alice"}}, Cookie: "a=1; b=2", CookieChanged: true},
		"cookie removed": {Allow: true, Set: []authz.Header{{Name: authz.HeaderUser, Value: "alice"}}, CookieChanged: true, Remove: []string{"authorization"}},
		"cookie same":    {Allow: true, Cookie: "a=1", CookieChanged: false},
		"more than 8":    {Allow: true, Set: many},
		"long value":     {Allow: true, Set: []authz.Header{{Name: authz.HeaderGroups, Value: long}}},
		"empty value":    {Allow: true, Set: []authz.Header{{Name: "x-tfgate-user", Value: ""}}, Remove: []string{""}},
		"unicode":        {Allow: true, Set: []authz.Header{{Name: authz.HeaderUser, Value: "zoë@例え.jp"}}},
	}
	for name, d := range cases {
		t.Run(name, func(t *testing.T) {
			want, err := protoOK(t, &d)
			if err != nil {
				t.Fatal(err)
			}
			got, ok := wireOK(t, &d)
			if !ok {
				t.Fatal("encodeOK declined valid UTF-8")
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("wire bytes differ from proto.Marshal\n got %x\nwant %x", got, want)
			}
			var back authv3.CheckResponse
			if err := proto.Unmarshal(got, &back); err != nil {
				t.Fatal(err)
			}
			if back.GetOkResponse() == nil || back.GetStatus() == nil || back.GetStatus().GetCode() != 0 {
				t.Fatalf("decoded %v", &back)
			}
		})
	}
}

// TestWireOKDeclinesInvalidUTF8: proto.Marshal refuses a string field that
// is not UTF-8, so the gRPC answer is an error (and Envoy denies). The wire
// path must not send such bytes instead.
func TestWireOKDeclinesInvalidUTF8(t *testing.T) {
	for name, d := range map[string]authz.Decision{
		"value":  {Allow: true, Set: []authz.Header{{Name: authz.HeaderUser, Value: "a\xffb"}}},
		"name":   {Allow: true, Set: []authz.Header{{Name: "x-\xc3", Value: "v"}}},
		"cookie": {Allow: true, Cookie: "a=\xfe", CookieChanged: true},
		"remove": {Allow: true, Remove: []string{"x-\x80"}},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := protoOK(t, &d); err == nil {
				t.Fatal("proto.Marshal accepted invalid UTF-8; the premise of encodeOK's check is gone")
			}
			if got, ok := wireOK(t, &d); ok {
				t.Fatalf("encodeOK encoded invalid UTF-8: %x", got)
			}
		})
	}
}

// FuzzWireOK: for any headers, cookie and names, encodeOK writes what
// proto.Marshal writes, or declines exactly when proto.Marshal fails.
func FuzzWireOK(f *testing.F) {
	f.Add("x-tfgate-user", "alice", "a=1", true, "x-tfgate-email", uint8(3))
	f.Add("", "", "", true, "", uint8(0))
	f.Add("x-\xff", "v", "c=\x00", false, "authorization", uint8(200))
	f.Add("k", strings.Repeat("é", 700), "", false, "cookie", uint8(9))
	f.Fuzz(func(t *testing.T, name, value, cookie string, changed bool, remove string, n uint8) {
		d := &authz.Decision{Allow: true, Cookie: cookie, CookieChanged: changed}
		for i := range int(n % 12) {
			d.Set = append(d.Set, authz.Header{Name: name, Value: strings.Repeat(value, i)})
			if i%3 == 0 {
				d.Remove = append(d.Remove, remove)
			}
		}
		want, err := protoOK(t, d)
		got, ok := wireOK(t, d)
		if (err == nil) != ok {
			t.Fatalf("proto.Marshal error %v, encodeOK ok %v", err, ok)
		}
		if ok && !bytes.Equal(got, want) {
			t.Fatalf("wire bytes differ from proto.Marshal\n got %x\nwant %x", got, want)
		}
	})
}

// pathRecorder allows every Check with an identity header and sends the
// path it saw (a copy: the request is not kept).
type pathRecorder struct{ paths chan string }

func (p pathRecorder) Check(_ context.Context, r *authz.Request) (*authz.Decision, error) {
	p.paths <- r.Path
	return &authz.Decision{ID: "d1", Allow: r.Path != "/deny", Set: []authz.Header{{Name: authz.HeaderUser, Value: "alice"}}}, nil
}

// TestCheckWireEncodesOnlyAllowed: the gRPC server's Check sends an
// allowed answer as wire bytes and a denial as the message.
func TestCheckWireEncodesOnlyAllowed(t *testing.T) {
	s, err := NewServer(Config{Checker: pathRecorder{paths: make(chan string, 2)}})
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{"/v1/models/m": "*envoy.encodedResponse", "/deny": "*authv3.CheckResponse"} {
		resp, err := s.checkWire(t.Context(), &authz.Request{Path: path, Header: http.Header{}})
		if err != nil {
			t.Fatal(err)
		}
		if got := fmt.Sprintf("%T", resp); got != want {
			t.Errorf("%s: answer is %s, want %s", path, got, want)
		}
	}
}

// rawCodec sends and receives bytes as they are, so a test can send a
// CheckRequest no protobuf library would write.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) { return *v.(*[]byte), nil }
func (rawCodec) Unmarshal(data []byte, v any) error {
	*v.(*[]byte) = append([]byte(nil), data...)
	return nil
}
func (rawCodec) Name() string { return "proto" }

// TestHandlerReadsTheWire: over real gRPC the server reads the request
// with decode.go, not proto.Unmarshal. The request carries a malformed
// destination, which tfgate does not read: decode.go checks its framing
// only and decides, while the message path (taken when an interceptor is
// configured) fails the whole request. The allowed answer written by
// wire.go decodes as the CheckResponse the message path would send.
func TestHandlerReadsTheWire(t *testing.T) {
	good, err := proto.Marshal(&authv3.CheckRequest{Attributes: &authv3.AttributeContext{Request: &authv3.AttributeContext_Request{
		Http: &authv3.AttributeContext_HttpRequest{Method: "GET", Path: "/v1/models/m"},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	// A second attributes field, merged into the first, whose destination
	// (field 2) holds an invalid tag.
	req := append(good, 0x0a, 0x04, 0x12, 0x02, 0xff, 0xff)
	if proto.Unmarshal(req, new(authv3.CheckRequest)) == nil {
		t.Fatal("proto.Unmarshal accepts the request; it tests nothing")
	}
	passThrough := grpc.UnaryInterceptor(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		return h(ctx, req)
	})
	for name, tc := range map[string]struct {
		opts []grpc.ServerOption
		want codes.Code
	}{
		"wire path":                      {nil, codes.OK},
		"message path, with interceptor": {[]grpc.ServerOption{passThrough}, codes.Internal},
	} {
		t.Run(name, func(t *testing.T) {
			rec := pathRecorder{paths: make(chan string, 1)}
			conn, _ := serveChecksConn(t, Config{Checker: rec}, tc.opts...)
			var reply []byte
			err := conn.Invoke(t.Context(), authv3.Authorization_Check_FullMethodName, &req, &reply, grpc.ForceCodec(rawCodec{}))
			if code := status.Code(err); code != tc.want {
				t.Fatalf("Check = %v, want %v", err, tc.want)
			}
			if tc.want != codes.OK {
				return
			}
			if got := <-rec.paths; got != "/v1/models/m" {
				t.Errorf("the Checker saw path %q", got)
			}
			var resp authv3.CheckResponse
			if err := proto.Unmarshal(reply, &resp); err != nil {
				t.Fatal(err)
			}
			if h := headerMap(t, resp.GetOkResponse().GetHeaders()); h[authz.HeaderUser] != "alice" {
				t.Errorf("answer %v lacks the identity header", &resp)
			}
		})
	}
}
