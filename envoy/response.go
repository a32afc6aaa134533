package envoy

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/tfgate/tfgate/authz"
)

// This file is the one translation table from tfgate's outcomes to what
// Envoy does with them (envoy-ext-authz.md §2-§4).

// errCouldNotDecide is what Envoy (and so nobody) sees of an internal
// error; the cause is logged once by the server. Envoy treats a failed RPC
// as an error and, with failure_mode_allow: false, denies.
var errCouldNotDecide = status.Error(codes.Unavailable, "tfgate could not decide")

// responder turns decisions into CheckResponses.
type responder struct {
	// loginURL is where anonymous browser navigations are sent.
	loginURL string
	// realm is the WWW-Authenticate realm.
	realm string
}

func (rs responder) respond(r *authz.Request, d *authz.Decision) *authv3.CheckResponse {
	if d.Allow {
		return rs.ok(d)
	}
	return rs.denied(r, d)
}

func (rs responder) ok(d *authz.Decision) *authv3.CheckResponse {
	ok := &authv3.OkHttpResponse{HeadersToRemove: d.Remove}
	for _, h := range d.Set {
		ok.Headers = append(ok.Headers, overwrite(h.Name, h.Value))
	}
	if d.CookieChanged {
		if d.Cookie != "" {
			ok.Headers = append(ok.Headers, overwrite("cookie", d.Cookie))
		} else {
			ok.HeadersToRemove = append(ok.HeadersToRemove, "cookie")
		}
	}
	return &authv3.CheckResponse{
		Status:       &rpcstatus.Status{Code: int32(codes.OK)},
		HttpResponse: &authv3.CheckResponse_OkResponse{OkResponse: ok},
	}
}

// overwrite builds a header mutation that replaces the header on every
// Envoy version. Every release (v1.36.x, v1.37.0) reads only the append
// BoolValue for request and denied headers and treats false as "set"
// (ext_authz_grpc_impl.cc:19-29 at v1.36.2 and v1.37.0); append_action is
// for builds between PR #42878 and its revert #43442 (main, 2026-01-23 to
// 2026-02-12, in no release) and for any later code that reads it when
// append is absent (§3.2).
func overwrite(name, value string) *corev3.HeaderValueOption {
	return &corev3.HeaderValueOption{
		Header:       &corev3.HeaderValue{Key: name, Value: value},
		Append:       wrapperspb.Bool(false),
		AppendAction: corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD,
	}
}

func (rs responder) denied(r *authz.Request, d *authz.Decision) *authv3.CheckResponse {
	httpStatus, code := rs.statusFor(d)
	dr := &authv3.DeniedHttpResponse{}
	var headers []*corev3.HeaderValueOption
	for _, h := range d.Set {
		headers = append(headers, overwrite(h.Name, h.Value))
	}
	headers = append(headers, overwrite("cache-control", "no-store"), overwrite(authz.HeaderDecisionID, d.ID))
	switch {
	case d.Denial == authz.DenyUnauthenticated && r.IsBrowserNavigation():
		httpStatus = http.StatusFound
		headers = append(headers, overwrite("location", rs.loginURL+"?return_to="+url.QueryEscape(r.Path)))
	case r.GRPC:
		// Envoy turns the body into grpc-message and derives grpc-status
		// from the HTTP code; say the code explicitly so a 400 is
		// INVALID_ARGUMENT rather than Envoy's INTERNAL.
		dr.Body = d.Reason
		headers = append(headers, overwrite("grpc-status", strconv.Itoa(int(grpcCode(httpStatus)))))
	default:
		body, _ := json.Marshal(struct {
			Error string `json:"error"`
		}{d.Reason})
		dr.Body = string(body)
		headers = append(headers, overwrite("content-type", "application/json"))
	}
	if httpStatus == http.StatusUnauthorized {
		headers = append(headers, overwrite("www-authenticate", `Bearer realm="`+rs.realm+`"`))
	}
	dr.Status = &typev3.HttpStatus{Code: typev3.StatusCode(httpStatus)}
	dr.Headers = lastWins(headers)
	return &authv3.CheckResponse{
		Status:       &rpcstatus.Status{Code: int32(code), Message: d.Reason},
		HttpResponse: &authv3.CheckResponse_DeniedResponse{DeniedResponse: dr},
	}
}

// lastWins drops every header but the last of each name. Envoy removes
// each denied header's name from its local reply and then adds every entry
// (ext_authz.cc:951-960 at v1.36.2), so a name the policy sets and tfgate
// sets too (location, content-type, cache-control) would reach the client
// twice, or joined with "," for inline headers such as content-type. tfgate
// appends its own headers after the policy's, so tfgate's value wins.
func lastWins(headers []*corev3.HeaderValueOption) []*corev3.HeaderValueOption {
	last := make(map[string]int, len(headers))
	for i, h := range headers {
		last[strings.ToLower(h.GetHeader().GetKey())] = i
	}
	out := headers[:0]
	for i, h := range headers {
		if last[strings.ToLower(h.GetHeader().GetKey())] == i {
			out = append(out, h)
		}
	}
	return out
}

// statusFor picks the HTTP status of a deny and the matching gRPC code for
// CheckResponse.status (which must be non-OK for Envoy to deny).
func (rs responder) statusFor(d *authz.Decision) (int, codes.Code) {
	switch d.Denial {
	case authz.DenyUnauthenticated:
		return http.StatusUnauthorized, codes.Unauthenticated
	case authz.DenyBadRequest:
		return http.StatusBadRequest, codes.InvalidArgument
	}
	if d.Status >= 400 && d.Status <= 599 {
		return d.Status, codes.PermissionDenied
	}
	return http.StatusForbidden, codes.PermissionDenied
}

// grpcCode maps a deny's HTTP status to the grpc-status a gRPC client sees.
func grpcCode(httpStatus int) codes.Code {
	switch httpStatus {
	case http.StatusBadRequest:
		return codes.InvalidArgument
	case http.StatusUnauthorized:
		return codes.Unauthenticated
	case http.StatusForbidden:
		return codes.PermissionDenied
	case http.StatusNotFound:
		return codes.NotFound
	case http.StatusTooManyRequests:
		return codes.ResourceExhausted
	case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return codes.Unavailable
	}
	return codes.PermissionDenied
}
