package envoy

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc/codes"

	"github.com/tfgate/tfgate/authz"
)

func headerMap(t *testing.T, hs []*corev3.HeaderValueOption) map[string]string {
	t.Helper()
	m := map[string]string{}
	for _, h := range hs {
		// Every mutation must overwrite on every Envoy version (§3.2).
		if h.GetAppend() == nil || h.GetAppend().GetValue() || h.GetAppendAction() != corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD {
			t.Errorf("header %s is not an explicit overwrite: %v", h.GetHeader().GetKey(), h)
		}
		m[h.GetHeader().GetKey()] = h.GetHeader().GetValue()
	}
	return m
}

func TestRespondAllow(t *testing.T) {
	d := &authz.Decision{
		ID: "id1", Allow: true,
		Set:    []authz.Header{{Name: authz.HeaderUser, Value: "alice"}, {Name: authz.HeaderDecisionID, Value: "id1"}},
		Remove: []string{"x-tfgate-email", "authorization"},
	}
	tests := map[string]struct {
		cookie        string
		changed       bool
		wantCookie    string
		wantRemoveCkn bool
	}{
		"bearer":                  {},
		"cookie with others kept": {cookie: "a=1", changed: true, wantCookie: "a=1"},
		"only our cookie":         {cookie: "", changed: true, wantRemoveCkn: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			d := *d
			d.Cookie, d.CookieChanged = tc.cookie, tc.changed
			resp := responder{loginURL: "/saml/login", realm: "tfgate"}.respond(&authz.Request{Header: http.Header{}}, &d)
			if resp.GetStatus().GetCode() != int32(codes.OK) {
				t.Fatalf("status %v", resp.GetStatus())
			}
			ok := resp.GetOkResponse()
			if ok == nil {
				t.Fatal("no ok_response")
			}
			h := headerMap(t, ok.GetHeaders())
			if h[authz.HeaderUser] != "alice" || h[authz.HeaderDecisionID] != "id1" {
				t.Errorf("headers %v", h)
			}
			if h["cookie"] != tc.wantCookie {
				t.Errorf("cookie = %q, want %q", h["cookie"], tc.wantCookie)
			}
			if slices.Contains(ok.GetHeadersToRemove(), "cookie") != tc.wantRemoveCkn {
				t.Errorf("headers_to_remove = %v", ok.GetHeadersToRemove())
			}
			if !slices.Contains(ok.GetHeadersToRemove(), "authorization") {
				t.Errorf("authorization not removed: %v", ok.GetHeadersToRemove())
			}
		})
	}
}

func TestRespondDeny(t *testing.T) {
	browser := &authz.Request{Method: "GET", Path: "/v1/models/m?x=1", Header: http.Header{"Accept": {"text/html,application/xhtml+xml"}}}
	curl := &authz.Request{Method: "GET", Path: "/v1/models/m", Header: http.Header{"Accept": {"*/*"}}}
	grpcReq := &authz.Request{Method: "POST", Path: "/tensorflow.serving.PredictionService/Predict", GRPC: true, Header: http.Header{}}
	tests := map[string]struct {
		req        *authz.Request
		d          authz.Decision
		wantHTTP   int
		wantCode   codes.Code
		wantHeader map[string]string
		wantBody   string
	}{
		"anonymous browser redirected": {
			req: browser, d: authz.Decision{Denial: authz.DenyUnauthenticated, Reason: "authentication required"},
			wantHTTP: 302, wantCode: codes.Unauthenticated,
			wantHeader: map[string]string{"location": "/saml/login?return_to=%2Fv1%2Fmodels%2Fm%3Fx%3D1"},
		},
		"anonymous api 401": {
			req: curl, d: authz.Decision{Denial: authz.DenyUnauthenticated, Reason: "authentication required"},
			wantHTTP: 401, wantCode: codes.Unauthenticated,
			wantHeader: map[string]string{"www-authenticate": `Bearer realm="tfgate"`, "content-type": "application/json"},
			wantBody:   `{"error":"authentication required"}`,
		},
		"forbidden browser 403 not redirect": {
			req: browser, d: authz.Decision{Denial: authz.DenyForbidden, Reason: "no \"grant\""},
			wantHTTP: 403, wantCode: codes.PermissionDenied,
			wantBody: `{"error":"no \"grant\""}`,
		},
		"policy status": {
			req: curl, d: authz.Decision{Denial: authz.DenyForbidden, Status: 404, Reason: "unknown"},
			wantHTTP: 404, wantCode: codes.PermissionDenied,
		},
		"policy status out of range ignored": {
			req: curl, d: authz.Decision{Denial: authz.DenyForbidden, Status: 200, Reason: "x"},
			wantHTTP: 403, wantCode: codes.PermissionDenied,
		},
		"bad request": {
			req: curl, d: authz.Decision{Denial: authz.DenyBadRequest, Reason: "both"},
			wantHTTP: 400, wantCode: codes.InvalidArgument,
		},
		"grpc unauthenticated": {
			req: grpcReq, d: authz.Decision{Denial: authz.DenyUnauthenticated, Reason: "authentication required"},
			wantHTTP: 401, wantCode: codes.Unauthenticated,
			wantHeader: map[string]string{"grpc-status": "16"},
			wantBody:   "authentication required",
		},
		"grpc forbidden": {
			req: grpcReq, d: authz.Decision{Denial: authz.DenyForbidden, Reason: "no grant"},
			wantHTTP: 403, wantCode: codes.PermissionDenied,
			wantHeader: map[string]string{"grpc-status": "7"},
			wantBody:   "no grant",
		},
		"grpc malformed": {
			req: grpcReq, d: authz.Decision{Denial: authz.DenyBadRequest, Reason: "truncated"},
			wantHTTP: 400, wantCode: codes.InvalidArgument,
			wantHeader: map[string]string{"grpc-status": "3"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			tc.d.ID = "did"
			resp := responder{loginURL: "/saml/login", realm: "tfgate"}.respond(tc.req, &tc.d)
			if resp.GetStatus().GetCode() != int32(tc.wantCode) {
				t.Errorf("status code %d, want %d", resp.GetStatus().GetCode(), tc.wantCode)
			}
			dr := resp.GetDeniedResponse()
			if dr == nil {
				t.Fatal("no denied_response")
			}
			if int(dr.GetStatus().GetCode()) != tc.wantHTTP {
				t.Errorf("http status %d, want %d", dr.GetStatus().GetCode(), tc.wantHTTP)
			}
			h := headerMap(t, dr.GetHeaders())
			for k, v := range tc.wantHeader {
				if h[k] != v {
					t.Errorf("header %s = %q, want %q", k, h[k], v)
				}
			}
			if h[authz.HeaderDecisionID] != "did" || h["cache-control"] != "no-store" {
				t.Errorf("headers %v", h)
			}
			if tc.wantBody != "" && dr.GetBody() != tc.wantBody {
				t.Errorf("body %q, want %q", dr.GetBody(), tc.wantBody)
			}
		})
	}
}

func TestNewRequest(t *testing.T) {
	req := &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
			Id: "42", Method: "POST", Path: "/tensorflow.serving.PredictionService/Predict", Host: "h:8500",
			Headers: map[string]string{":path": "/x", "content-type": "application/grpc", "cookie": "a=1", "x-envoy-auth-partial-body": "false"},
			RawBody: []byte{0, 0, 0, 0, 0},
		}},
	}}
	r := NewRequest(req)
	if !r.GRPC || r.Method != "POST" || r.Path != "/tensorflow.serving.PredictionService/Predict" || r.Host != "h:8500" || r.ID != "42" {
		t.Errorf("request %+v", r)
	}
	if r.Header.Get("Cookie") != "a=1" || r.Header.Get(":path") != "" || len(r.Body) != 5 {
		t.Errorf("headers %v body %v", r.Header, r.Body)
	}
	// A sparse or empty CheckRequest must not panic.
	for _, req := range []*authv3.CheckRequest{nil, {}, {Attributes: &authv3.AttributeContext{}}} {
		if r := NewRequest(req); r.Header == nil {
			t.Error("nil header map")
		}
	}
}

// TestNewRequestGRPCBodyIsRawOnly: a gRPC request's body comes only from
// raw_body. The UTF-8-sanitised body (Envoy without pack_as_bytes) can be a
// different, valid protobuf message, so it must never be read; REST may
// still use it.
func TestNewRequestGRPCBodyIsRawOnly(t *testing.T) {
	check := func(contentType string, raw []byte, body string) *authz.Request {
		return NewRequest(&authv3.CheckRequest{Attributes: &authv3.AttributeContext{
			Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
				Method: "POST", Path: "/p", Headers: map[string]string{"content-type": contentType},
				RawBody: raw, Body: body,
			}},
		}})
	}
	if r := check("application/grpc", nil, "\x00\x00\x00\x00\x02\x0a\x00"); r.Body != nil {
		t.Errorf("gRPC without raw_body: body %q, want none (the parser denies)", r.Body)
	}
	if r := check("application/grpc", []byte{1, 2}, "ignored"); string(r.Body) != "\x01\x02" {
		t.Errorf("gRPC raw_body: %q", r.Body)
	}
	if r := check("application/json", nil, `{"signature_name":"s"}`); string(r.Body) != `{"signature_name":"s"}` {
		t.Errorf("REST sanitised body: %q", r.Body)
	}
}

// TestIsGRPCMatchesEnvoy pins Grpc::Common::hasGrpcContentType: exact,
// case-sensitive, "+" suffixes only.
func TestIsGRPCMatchesEnvoy(t *testing.T) {
	for ct, want := range map[string]bool{
		"application/grpc":           true,
		"application/grpc+proto":     true,
		"application/grpc+json":      true,
		"application/grpc-web":       false,
		"application/grpc-web+proto": false,
		"Application/gRPC":           false,
		"APPLICATION/GRPC":           false,
		"application/grpcx":          false,
		"application/grpc;charset=x": false,
		"":                           false,
		" application/grpc":          false,
	} {
		if got := isGRPC(ct); got != want {
			t.Errorf("isGRPC(%q) = %v, want %v", ct, got, want)
		}
	}
}

// TestRespondDenyDeduplicatesHeaders: a policy header with a name tfgate
// sets itself must not reach Envoy twice; Envoy would add both entries to
// its local reply (and join content-type's with ","). tfgate's value wins.
func TestRespondDenyDeduplicatesHeaders(t *testing.T) {
	rs := responder{loginURL: "/saml/login", realm: "tfgate"}
	policy := []authz.Header{{Name: "location", Value: "https://evil.example/"}, {Name: "content-type", Value: "text/html"}, {Name: "Cache-Control", Value: "max-age=60"}, {Name: "x-policy", Value: "1"}}
	browser := &authz.Request{Method: "GET", Path: "/v1/models/m", Header: http.Header{"Accept": {"text/html"}}}
	curl := &authz.Request{Method: "GET", Path: "/v1/models/m", Header: http.Header{"Accept": {"*/*"}}}
	for name, tc := range map[string]struct {
		req  *authz.Request
		d    authz.Decision
		want map[string]string
	}{
		"redirect": {browser, authz.Decision{Denial: authz.DenyUnauthenticated, Set: policy},
			map[string]string{"location": "/saml/login?return_to=%2Fv1%2Fmodels%2Fm", "cache-control": "no-store", "x-policy": "1"}},
		"json": {curl, authz.Decision{Denial: authz.DenyForbidden, Set: policy},
			map[string]string{"content-type": "application/json", "cache-control": "no-store", "x-policy": "1"}},
	} {
		t.Run(name, func(t *testing.T) {
			hs := rs.respond(tc.req, &tc.d).GetDeniedResponse().GetHeaders()
			count := map[string]int{}
			got := map[string]string{}
			for _, h := range hs {
				k := http.CanonicalHeaderKey(h.GetHeader().GetKey())
				count[k]++
				got[strings.ToLower(k)] = h.GetHeader().GetValue()
			}
			for k, n := range count {
				if n > 1 {
					t.Errorf("%s sent %d times", k, n)
				}
			}
			for k, v := range tc.want {
				if got[k] != v {
					t.Errorf("%s = %q, want %q", k, got[k], v)
				}
			}
		})
	}
}
