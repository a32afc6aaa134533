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
	"github.com/tfgate/tfgate/internal/webpage"
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
	// homeURL, logoutURL and contact are for the deny page of a browser
	// navigation.
	homeURL, logoutURL, contact string
}

func (rs responder) respond(r *authz.Request, d *authz.Decision) *authv3.CheckResponse {
	if d.Allow {
		return rs.ok(d)
	}
	return rs.denied(r, d)
}

func (rs responder) ok(d *authz.Decision) *authv3.CheckResponse {
	n := len(d.Set)
	if d.CookieChanged && d.Cookie != "" {
		n++
	}
	// The response, its parts and every header option in one allocation
	// for the usual handful of headers, instead of about ten per Check.
	a := &okAlloc{}
	var opts []overwriteOption
	if n <= len(a.opts) {
		opts, a.ok.Headers = a.opts[:n], a.headers[:0:n]
	} else {
		opts, a.ok.Headers = make([]overwriteOption, n), make([]*corev3.HeaderValueOption, 0, n)
	}
	a.ok.HeadersToRemove = d.Remove
	for i, h := range d.Set {
		a.ok.Headers = append(a.ok.Headers, opts[i].set(h.Name, h.Value))
	}
	if d.CookieChanged {
		if d.Cookie != "" {
			a.ok.Headers = append(a.ok.Headers, opts[n-1].set("cookie", d.Cookie))
		} else {
			a.ok.HeadersToRemove = append(a.ok.HeadersToRemove, "cookie")
		}
	}
	a.status.Code = int32(codes.OK)
	a.wrap.OkResponse = &a.ok
	a.resp.Status, a.resp.HttpResponse = &a.status, &a.wrap
	return &a.resp
}

// okAlloc is an allowed Check's response with room for its headers.
type okAlloc struct {
	resp    authv3.CheckResponse
	status  rpcstatus.Status
	wrap    authv3.CheckResponse_OkResponse
	ok      authv3.OkHttpResponse
	headers [8]*corev3.HeaderValueOption
	opts    [8]overwriteOption
}

// overwrite builds a header mutation that replaces the header on every
// Envoy version. Every release (v1.36.x, v1.37.0) reads only the append
// BoolValue for request and denied headers and treats false as "set"
// (ext_authz_grpc_impl.cc:19-29 at v1.36.2 and v1.37.0); append_action is
// for builds between PR #42878 and its revert #43442 (main, 2026-01-23 to
// 2026-02-12, in no release) and for any later code that reads it when
// append is absent (§3.2).
func overwrite(name, value string) *corev3.HeaderValueOption {
	return new(overwriteOption).set(name, value)
}

// set fills o as a header mutation replacing name with value.
func (o *overwriteOption) set(name, value string) *corev3.HeaderValueOption {
	o.header.Key, o.header.Value = name, value
	o.option.Header = &o.header
	o.option.Append = appendFalse
	o.option.AppendAction = corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD
	return &o.option
}

// overwriteOption allocates a header option and its header together: one
// allocation per header instead of three on every Check.
type overwriteOption struct {
	option corev3.HeaderValueOption
	header corev3.HeaderValue
}

// appendFalse is shared by every header option: responses are only
// marshalled, never modified, and marshalling only reads it.
var appendFalse = wrapperspb.Bool(false)

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
	case r.IsBrowserNavigation() && rs.homeURL != "":
		// A person in a browser: a page that says who they are, what was
		// refused, why, and what to do next. (API clients below keep TF
		// Serving's JSON.)
		dr.Body = rs.htmlDeny(r, d, httpStatus)
		headers = append(headers, overwrite("content-type", "text/html; charset=utf-8"),
			overwrite("content-security-policy", webpage.CSP), overwrite("x-frame-options", "DENY"))
	case r.GRPC:
		// Envoy turns the body into grpc-message and derives grpc-status
		// from the HTTP code; say the code explicitly so a 400 is
		// INVALID_ARGUMENT rather than Envoy's INTERNAL.
		dr.Body = d.Reason + signInHint(d)
		headers = append(headers, overwrite("grpc-status", strconv.Itoa(int(grpcCode(httpStatus)))))
	default:
		body, _ := json.Marshal(struct {
			Error string `json:"error"`
		}{d.Reason + signInHint(d)})
		dr.Body = string(body)
		headers = append(headers, overwrite("content-type", "application/json"))
	}
	if httpStatus == http.StatusUnauthorized {
		headers = append(headers, overwrite("www-authenticate", rs.challenge(d)))
	}
	dr.Status = &typev3.HttpStatus{Code: typev3.StatusCode(httpStatus)}
	dr.Headers = lastWins(headers)
	return &authv3.CheckResponse{
		Status:       &rpcstatus.Status{Code: int32(code), Message: d.Reason},
		HttpResponse: &authv3.CheckResponse_DeniedResponse{DeniedResponse: dr},
	}
}

// challenge is the WWW-Authenticate of a 401 (RFC 6750 §3): a caller that
// sent no credential gets the bare challenge (§3.1: no error code when
// the request lacks authentication); one whose bearer token names no live
// session gets error="invalid_token", so a program can tell "sign in
// again" from "you never signed in".
func (rs responder) challenge(d *authz.Decision) string {
	c := `Bearer realm="` + rs.realm + `"`
	if d.Denial == authz.DenyUnauthenticated && d.StaleCredential == authz.AuthBearer {
		c += `, error="invalid_token", error_description="the access token expired or was revoked"`
	}
	return c
}

// signInHint is added to a 401's JSON error, for the person reading it.
func signInHint(d *authz.Decision) string {
	if d.Denial != authz.DenyUnauthenticated {
		return ""
	}
	switch d.StaleCredential {
	case authz.AuthBearer:
		return ": the access token expired or was revoked; get a fresh one with `extauthz token`, or sign in again with `extauthz login --server URL`"
	case authz.AuthCookie:
		return ": the session expired or was revoked; sign in again in the browser"
	}
	return ": send Authorization: Bearer TOKEN; sign in with `extauthz login --server URL`, then TOKEN is `extauthz token`"
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
