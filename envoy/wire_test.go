package envoy

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"testing"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
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
