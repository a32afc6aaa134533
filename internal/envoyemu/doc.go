// Package envoyemu emulates Envoy's HTTP connection manager and ext_authz
// filter (gRPC service, API v3) in front of an upstream, as an http.Handler
// front proxy, in two modes: V136 (Envoy v1.36.x) and V137 (v1.37.x, v1.36
// plus error_response), each pinned to source lines in its doc comment.
// It exists because tfgate's tests cannot run Envoy;
// docs/envoy-ext-authz.md is its specification and the section numbers in
// comments (§1.4 etc.) refer to that document. FromBootstrap configures it
// from an Envoy bootstrap such as envoy/envoy.yaml.
//
// For each downstream request the Proxy
//
//  1. builds the request headers as Envoy's HTTP connection manager would
//     (lowercase keys, :authority/:method/:path/:scheme pseudo-headers,
//     x-forwarded-proto, x-request-id, x-forwarded-for), applies the
//     codec's header-count and underscore rules and the path handling
//     (a '#' is a 400, escaped slashes, normalize_path, merge_slashes),
//     then the header_mutation removals ahead of ext_authz;
//  2. picks the first Route that matches (no route: 404, no Check);
//  3. buffers the body per with_request_body (413 when it does not fit);
//  4. sends a CheckRequest to the configured AuthorizationClient with a
//     deadline and classifies the answer as OK, Denied or Error (§2);
//  5. applies OK mutations (§3) with validate_mutations and the header
//     limits (a 500 when they fail), or sends Envoy's local reply for
//     Denied (§4.1) and Error (§4.2), including the trailers-only gRPC form;
//  6. forwards the (mutated) request to the route's upstream over HTTP/1.1
//     or h2c and applies response_headers_to_add to the response.
//
// The proxy accepts HTTP/1.1 and h2c with prior knowledge (gRPC clients)
// on one port; see NewServer, Serve and Start.
package envoyemu
