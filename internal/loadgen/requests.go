package loadgen

import (
	"crypto/rand"
	"fmt"
	"strconv"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// The requests below are what Envoy's ext_authz filter sends for a client
// calling TF Serving through envoy/envoy.yaml (docs/envoy-ext-authz.md §1):
// every header lowercase in the headers map, pseudo-headers included, the
// HCM's x-request-id and x-forwarded-* already added, and a body only on the
// gRPC listener (with_request_body, pack_as_bytes: true).

// Model is the model every scenario asks for; data.yaml grants predict on it
// to the group in Groups.
const Model = "half_plus_two"

// Groups are the benchmark session's groups.
var Groups = []string{"ml-engineers"}

// restPath is the REST predict call on Model.
const restPath = "/v1/models/" + Model + ":predict"

// restBody is the JSON a client posts. Envoy does not forward it to tfgate on
// the REST listener (no with_request_body there); it only sets content-length.
const restBody = `{"instances": [1.0, 2.0, 5.0]}`

// methodPredict is the gRPC method (":path") of TF Serving's Predict.
const methodPredict = "/tensorflow.serving.PredictionService/Predict"

// TensorFloats is the size of the gRPC Predict input: 256 float32s, 1 KiB.
const TensorFloats = 256

// RESTPredict returns the CheckRequest for POST /v1/models/half_plus_two:predict
// carrying "Authorization: Bearer token" (none when token is empty). Requests
// with different i differ in Envoy's stream id, x-request-id and the client
// port, as consecutive requests do.
func RESTPredict(token string, i int) *authv3.CheckRequest {
	h := map[string]string{
		":authority":        "models.example.com:8501",
		":method":           "POST",
		":path":             restPath,
		":scheme":           "http",
		"accept":            "*/*",
		"accept-encoding":   "gzip, deflate",
		"content-length":    strconv.Itoa(len(restBody)),
		"content-type":      "application/json",
		"user-agent":        "python-requests/2.32.3",
		"x-forwarded-for":   "10.1.2.3",
		"x-forwarded-proto": "http",
		"x-request-id":      newUUID(),
	}
	if token != "" {
		h["authorization"] = "Bearer " + token
	}
	return checkRequest(i, 8501, &authv3.AttributeContext_HttpRequest{
		Method: "POST", Path: restPath, Host: h[":authority"], Scheme: "http",
		Protocol: "HTTP/1.1", Headers: h,
	})
}

// GRPCPredict returns the CheckRequest for a gRPC Predict call with body
// (from PredictBody) carrying "authorization: Bearer token" (none when token
// is empty). i varies the request as in RESTPredict.
func GRPCPredict(token string, body []byte, i int) *authv3.CheckRequest {
	h := map[string]string{
		":authority":                "models.example.com:8500",
		":method":                   "POST",
		":path":                     methodPredict,
		":scheme":                   "http",
		"content-type":              "application/grpc",
		"te":                        "trailers",
		"grpc-accept-encoding":      "identity, deflate, gzip",
		"user-agent":                "grpc-python/1.66.1 grpc-c/43.0.0 (linux; chttp2)",
		"x-forwarded-for":           "10.1.2.3",
		"x-forwarded-proto":         "http",
		"x-request-id":              newUUID(),
		"x-envoy-auth-partial-body": "false",
	}
	if token != "" {
		h["authorization"] = "Bearer " + token
	}
	return checkRequest(i, 8500, &authv3.AttributeContext_HttpRequest{
		Method: "POST", Path: methodPredict, Host: h[":authority"], Scheme: "http",
		Protocol: "HTTP/2", Headers: h, Size: int64(len(body)), RawBody: body,
	})
}

// checkRequest wraps an HttpRequest with the peers and time Envoy adds.
func checkRequest(i int, listenerPort uint32, h *authv3.AttributeContext_HttpRequest) *authv3.CheckRequest {
	h.Id = strconv.FormatUint(0x9e3779b97f4a7c15*uint64(i+1), 10)
	return &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		Source:      &authv3.AttributeContext_Peer{Address: socketAddress("10.1.2.3", 40000+uint32(i%20000))},
		Destination: &authv3.AttributeContext_Peer{Address: socketAddress("10.0.0.2", listenerPort)},
		Request: &authv3.AttributeContext_Request{
			Time: timestamppb.New(time.Now()),
			Http: h,
		},
	}}
}

func socketAddress(ip string, port uint32) *corev3.Address {
	return &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
		Address: ip, PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: port},
	}}}
}

// newUUID returns a random (version 4) UUID, the form of Envoy's x-request-id.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
