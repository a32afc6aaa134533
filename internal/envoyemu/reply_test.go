package envoyemu

import (
	"bytes"
	"io"
	"net/http"
	"strconv"
	"testing"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
)

// grpcCall posts a fake gRPC request over h2c and returns the response.
// The body is an empty gRPC message unless body is given. (A body the
// proxy never reads keeps the client stream open, and the server's
// graceful shutdown then waits out HTTP/2's one-second GOAWAY timer.)
func grpcCall(tb testing.TB, addr, contentType string, body ...byte) *http.Response {
	tb.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, _ := http.NewRequest("POST", "http://"+addr+"/tensorflow.serving.PredictionService/Predict", rd)
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Te", "trailers")
	resp, err := h2Client(tb).Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	_, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp
}

func TestGRPCDeniedMapping(t *testing.T) {
	tests := map[int]int{400: 13, 401: 16, 403: 7, 404: 12, 429: 14, 502: 14, 503: 14, 504: 14, 413: 2, 500: 2, 302: 2, 200: 2}
	for httpStatus, grpcStatus := range tests {
		t.Run(strconv.Itoa(httpStatus), func(t *testing.T) {
			h := newHarness(t, reply(deniedResp(httpStatus, "")), nil)
			resp := grpcCall(t, h.addr, "application/grpc")
			if resp.StatusCode != 200 || resp.Header.Get("Grpc-Status") != strconv.Itoa(grpcStatus) ||
				resp.Header.Get("Content-Type") != "application/grpc" {
				t.Fatalf("response %d grpc-status %q content-type %q; want 200, %d, application/grpc",
					resp.StatusCode, resp.Header.Get("Grpc-Status"), resp.Header.Get("Content-Type"), grpcStatus)
			}
			if _, ok := resp.Header["Grpc-Message"]; ok {
				t.Fatalf("grpc-message %q set for an empty body", resp.Header.Get("Grpc-Message"))
			}
		})
	}
}

func TestGRPCLocalReplies(t *testing.T) {
	tests := map[string]struct {
		resp        *authv3.CheckResponse
		contentType string
		status      int
		grpcStatus  string
		grpcMessage string
	}{
		"message percent-encoded": {resp: deniedResp(403, "no: 100% sure\nthé\n"), contentType: "application/grpc+proto",
			status: 200, grpcStatus: "7", grpcMessage: "no: 100%25 sure%0Ath%C3%A9%0A"},
		"server grpc-status kept": {resp: deniedResp(403, "later", hv("grpc-status", "14", nil, 0)), contentType: "application/grpc",
			status: 200, grpcStatus: "14", grpcMessage: "later"},
		"status without denied_response": {resp: &authv3.CheckResponse{Status: &rpcstatus.Status{Code: 16}}, contentType: "application/grpc",
			status: 200, grpcStatus: "7"},
		"grpc-web is not gRPC": {resp: deniedResp(401, "x"), contentType: "application/grpc-web", status: 401},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, reply(tc.resp), nil)
			resp := grpcCall(t, h.addr, tc.contentType)
			if resp.StatusCode != tc.status || resp.Header.Get("Grpc-Status") != tc.grpcStatus || resp.Header.Get("Grpc-Message") != tc.grpcMessage {
				t.Fatalf("got %d grpc-status %q grpc-message %q; want %d %q %q", resp.StatusCode,
					resp.Header.Get("Grpc-Status"), resp.Header.Get("Grpc-Message"), tc.status, tc.grpcStatus, tc.grpcMessage)
			}
			if _, ok := resp.Header["Content-Length"]; ok && tc.status == 200 {
				t.Fatalf("content-length %q on a gRPC local reply", resp.Header.Get("Content-Length"))
			}
		})
	}
}

func TestGRPCErrorAndTooLarge(t *testing.T) {
	tests := map[string]struct {
		edit       func(*Config)
		body       []byte
		grpcStatus string
	}{
		"status_on_error 503 → UNAVAILABLE": {edit: func(c *Config) { c.StatusOnError = 503 }, grpcStatus: "14"},
		"default error → PERMISSION_DENIED": {grpcStatus: "7"},
		"413 → UNKNOWN": {edit: func(c *Config) {
			c.WithRequestBody = &BufferSettings{MaxRequestBytes: 2, PackAsBytes: true}
		}, body: []byte{0, 0, 0, 0, 1, 'x'}, grpcStatus: "2"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, func(*authv3.CheckRequest) (*authv3.CheckResponse, error) {
				return nil, io.ErrUnexpectedEOF
			}, tc.edit)
			resp := grpcCall(t, h.addr, "application/grpc", tc.body...)
			if resp.StatusCode != 200 || resp.Header.Get("Grpc-Status") != tc.grpcStatus {
				t.Fatalf("got %d grpc-status %q, want 200 %s", resp.StatusCode, resp.Header.Get("Grpc-Status"), tc.grpcStatus)
			}
		})
	}
}

func TestPercentEncode(t *testing.T) {
	// '~' is encoded: Envoy's test is ch >= '~' (utility.cc:1267 at v1.36.2).
	tests := map[string]string{"plain text ~": "plain text %7E", "a}b": "a}b", "%": "%25", "\x7f\x1f": "%7F%1F", "é": "%C3%A9"}
	for in, want := range tests {
		if got := percentEncode(in); got != want {
			t.Errorf("percentEncode(%q) = %q, want %q", in, got, want)
		}
	}
}
