package e2e

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/encoding/gzip"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/tfgate/tfgate/internal/tfpb"
)

// bearer is per-RPC credentials carrying a tfgate token, the way a Go
// client of TF Serving would add one without changing its stubs.
type bearer string

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(b)}, nil
}

// RequireTransportSecurity is false only because these tests run on
// loopback without TLS; real clients should keep it true.
func (bearer) RequireTransportSecurity() bool { return false }

func dial(t *testing.T, addr string, token string) *grpc.ClientConn {
	t.Helper()
	opts := []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
	if token != "" {
		opts = append(opts, grpc.WithPerRPCCredentials(bearer(token)))
	}
	conn, err := grpc.NewClient(addr, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// appendModelSpec appends a second top-level model_spec (field 1) to a
// request message: protobuf merges it, so TF Serving serves its name.
func appendModelSpec(msg []byte, name string) []byte {
	spec := protowire.AppendString(protowire.AppendTag(nil, 1, protowire.BytesType), name)
	return protowire.AppendBytes(protowire.AppendTag(msg, 1, protowire.BytesType), spec)
}

func TestGRPC(t *testing.T) {
	s := startStack(t)
	x := map[string][]float32{"x": {1, 2, 5}}
	tests := map[string]struct {
		token       string
		method      string
		req         []byte
		opts        []grpc.CallOption
		wantCode    codes.Code
		wantReached bool
	}{
		"allowed predict": {
			token: aliceToken, method: tfpb.MethodPredict,
			req:      tfpb.PredictRequest(tfpb.ModelSpec{Name: "half_plus_two", Version: tfpb.V(1)}, x),
			wantCode: codes.OK, wantReached: true,
		},
		"allowed label": {
			token: aliceToken, method: tfpb.MethodPredict,
			req:      tfpb.PredictRequest(tfpb.ModelSpec{Name: "half_plus_two", Label: tfpb.L("stable")}, x),
			wantCode: codes.OK, wantReached: true,
		},
		"forbidden model": {
			token: aliceToken, method: tfpb.MethodPredict,
			req:      tfpb.PredictRequest(tfpb.ModelSpec{Name: "half_plus_three"}, x),
			wantCode: codes.PermissionDenied,
		},
		"forbidden version": {
			token: aliceToken, method: tfpb.MethodPredict,
			req:      tfpb.PredictRequest(tfpb.ModelSpec{Name: "half_plus_two", Version: tfpb.V(2)}, x),
			wantCode: codes.PermissionDenied,
		},
		"second model_spec smuggles another model": {
			token: aliceToken, method: tfpb.MethodPredict,
			req:      appendModelSpec(tfpb.PredictRequest(tfpb.ModelSpec{Name: "half_plus_two", Version: tfpb.V(1)}, x), "half_plus_three"),
			wantCode: codes.PermissionDenied,
		},
		"multi inference with a task on another model": {
			token: aliceToken, method: tfpb.MethodMultiInference,
			req: tfpb.MultiInferenceRequest([]tfpb.InferenceTask{
				{Spec: tfpb.ModelSpec{Name: "half_plus_two", Version: tfpb.V(1), Signature: "regress_x_to_y"}, MethodName: "tensorflow/serving/regress"},
				{Spec: tfpb.ModelSpec{Name: "half_plus_three", Signature: "regress_x_to_y"}, MethodName: "tensorflow/serving/regress"},
			}, tfpb.Example{"x": {1}}),
			wantCode: codes.InvalidArgument,
		},
		"reload config is not for users": {
			token: aliceToken, method: tfpb.MethodReloadConfig, req: []byte{},
			wantCode: codes.PermissionDenied,
		},
		// TF Serving decompresses grpc-encoding: gzip, so tfgate reads the
		// ModelSpec inside it rather than refusing the client.
		"gzip-compressed frame is decided on its ModelSpec": {
			token: aliceToken, method: tfpb.MethodPredict,
			req:         tfpb.PredictRequest(tfpb.ModelSpec{Name: "half_plus_two", Version: tfpb.V(1)}, x),
			opts:        []grpc.CallOption{grpc.UseCompressor(gzip.Name)},
			wantCode:    codes.OK,
			wantReached: true,
		},
		"gzip-compressed frame for a model the group may not use": {
			token: bobToken, method: tfpb.MethodPredict,
			req:      tfpb.PredictRequest(tfpb.ModelSpec{Name: "half_plus_two", Version: tfpb.V(1)}, x),
			opts:     []grpc.CallOption{grpc.UseCompressor(gzip.Name)},
			wantCode: codes.PermissionDenied,
		},
		"anonymous": {
			method:   tfpb.MethodPredict,
			req:      tfpb.PredictRequest(tfpb.ModelSpec{Name: "half_plus_two", Version: tfpb.V(1)}, x),
			wantCode: codes.Unauthenticated,
		},
		"forbidden group": {
			token: bobToken, method: tfpb.MethodPredict,
			req:      tfpb.PredictRequest(tfpb.ModelSpec{Name: "half_plus_two", Version: tfpb.V(1)}, x),
			wantCode: codes.PermissionDenied,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			s.reached()
			conn := dial(t, s.grpcAddr, tc.token)
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			var resp []byte
			opts := append([]grpc.CallOption{grpc.ForceCodecV2(tfpb.Codec{})}, tc.opts...)
			err := conn.Invoke(ctx, tc.method, tc.req, &resp, opts...)
			if got := status.Code(err); got != tc.wantCode {
				t.Fatalf("code %v (%v), want %v", got, err, tc.wantCode)
			}
			if err != nil && status.Convert(err).Message() == "" {
				t.Error("a deny without a grpc-message")
			}
			recs := s.reached()
			if tc.wantReached != (len(recs) == 1) || len(recs) > 1 {
				t.Fatalf("%d requests reached TF Serving; want reached=%v", len(recs), tc.wantReached)
			}
			if tc.wantReached {
				if recs[0].Header.Get("X-Tfgate-User") != "alice" || recs[0].Header.Get("Authorization") != "" {
					t.Errorf("upstream metadata %v", recs[0].Header)
				}
				if tc.method == tfpb.MethodPredict {
					out, err := tfpb.PredictResponseFloats(resp)
					if err != nil || len(out["y"]) != 3 || out["y"][0] != 2.5 {
						t.Errorf("predict response %v, %v", out, err)
					}
				}
			}
		})
	}
}
