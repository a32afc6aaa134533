package tfservingstandin

import (
	"context"
	"reflect"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/tfgate/tfgate/internal/tfpb"
)

// dialGRPC returns a client connection to s's gRPC listener.
func dialGRPC(tb testing.TB, s *Server) *grpc.ClientConn {
	tb.Helper()
	conn, err := grpc.NewClient(s.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { conn.Close() })
	return conn
}

// invoke makes one raw unary call.
func invoke(ctx context.Context, conn *grpc.ClientConn, method string, req []byte) ([]byte, error) {
	var resp []byte
	err := conn.Invoke(ctx, method, req, &resp, grpc.ForceCodecV2(tfpb.Codec{}))
	return resp, err
}

func TestGRPCPredict(t *testing.T) {
	s := Start(t)
	conn := dialGRPC(t, s)
	ctx := metadata.AppendToOutgoingContext(t.Context(), "x-tfgate-user", "bob")
	tests := map[string]struct {
		spec    tfpb.ModelSpec
		inputs  map[string][]float32
		code    codes.Code
		want    []float32
		version int64
	}{
		"latest":          {spec: tfpb.ModelSpec{Name: "half_plus_two"}, inputs: map[string][]float32{"x": {1, 2, 5}}, want: []float32{2.5, 3, 4.5}, version: 2},
		"label":           {spec: tfpb.ModelSpec{Name: "half_plus_two", Label: tfpb.L("stable")}, inputs: map[string][]float32{"x": {0}}, want: []float32{2}, version: 1},
		"other model":     {spec: tfpb.ModelSpec{Name: "half_plus_three", Version: tfpb.V(1)}, inputs: map[string][]float32{"x": {1}}, want: []float32{3.5}, version: 1},
		"unknown model":   {spec: tfpb.ModelSpec{Name: "nope"}, inputs: map[string][]float32{"x": {1}}, code: codes.NotFound},
		"unknown version": {spec: tfpb.ModelSpec{Name: "half_plus_two", Version: tfpb.V(0)}, inputs: map[string][]float32{"x": {1}}, code: codes.NotFound},
		"unknown label":   {spec: tfpb.ModelSpec{Name: "half_plus_two", Label: tfpb.L("")}, inputs: map[string][]float32{"x": {1}}, code: codes.InvalidArgument},
		"wrong input":     {spec: tfpb.ModelSpec{Name: "half_plus_two"}, inputs: map[string][]float32{"z": {1}}, code: codes.InvalidArgument},
		"no name":         {spec: tfpb.ModelSpec{}, inputs: map[string][]float32{"x": {1}}, code: codes.InvalidArgument},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			s.Reset()
			resp, err := invoke(ctx, conn, tfpb.MethodPredict, tfpb.PredictRequest(tc.spec, tc.inputs))
			if status.Code(err) != tc.code {
				t.Fatalf("code = %v (%v), want %v", status.Code(err), err, tc.code)
			}
			rec := s.Requests()[0]
			if rec.API != APIGRPC || rec.Path != tfpb.MethodPredict || rec.Verb != "predict" ||
				rec.Spec.Name != tc.spec.Name || rec.Code != int(tc.code) || rec.Header.Get("X-Tfgate-User") != "bob" {
				t.Fatalf("record = %+v", rec)
			}
			if tc.code != codes.OK {
				return
			}
			spec, outs, err := tfpb.ParsePredictResponse(resp)
			if err != nil || !reflect.DeepEqual(outs["y"].Floats, tc.want) || *spec.Version != tc.version || rec.Served != tc.version {
				t.Fatalf("response y=%v version=%v served=%d err=%v; want %v v%d", outs["y"].Floats, spec.Version, rec.Served, err, tc.want, tc.version)
			}
		})
	}
}

func TestGRPCOtherMethods(t *testing.T) {
	s := Start(t)
	conn := dialGRPC(t, s)
	spec := tfpb.ModelSpec{Name: "half_plus_two", Signature: SignatureRegress}
	ex := tfpb.Example{"x": {4}}
	tests := map[string]struct {
		method string
		req    []byte
		code   codes.Code
		check  func(t *testing.T, resp []byte)
	}{
		"regress": {method: tfpb.MethodRegress, req: tfpb.RegressionRequest(spec, ex), check: func(t *testing.T, resp []byte) {
			if _, vs, err := tfpb.ParseRegressionResponse(resp); err != nil || !reflect.DeepEqual(vs, []float32{4}) {
				t.Fatalf("regress = %v %v", vs, err)
			}
		}},
		"classify": {method: tfpb.MethodClassify, req: tfpb.ClassificationRequest(tfpb.ModelSpec{Name: "half_plus_two", Signature: SignatureClassify}, ex), check: func(t *testing.T, resp []byte) {
			if _, cs, err := tfpb.ParseClassificationResponse(resp); err != nil || cs[0][0].Score != 4 {
				t.Fatalf("classify = %v %v", cs, err)
			}
		}},
		"multi inference": {method: tfpb.MethodMultiInference, req: tfpb.MultiInferenceRequest([]tfpb.InferenceTask{
			{Spec: tfpb.ModelSpec{Name: "half_plus_two", Label: tfpb.L("stable"), Signature: SignatureClassify}, MethodName: tfpb.MethodNameClassify},
			{Spec: tfpb.ModelSpec{Name: "half_plus_two", Signature: SignatureRegress}, MethodName: tfpb.MethodNameRegress},
		}, ex), check: func(t *testing.T, resp []byte) {
			rs, err := tfpb.ParseMultiInferenceResponse(resp)
			if err != nil || len(rs) != 2 || *rs[1].Spec.Version != 1 || rs[1].Regressions[0] != 4 {
				t.Fatalf("multi = %+v %v", rs, err)
			}
		}},
		"multi inference mixed models": {method: tfpb.MethodMultiInference, req: tfpb.MultiInferenceRequest([]tfpb.InferenceTask{
			{Spec: tfpb.ModelSpec{Name: "half_plus_two", Signature: "a"}, MethodName: tfpb.MethodNameRegress},
			{Spec: tfpb.ModelSpec{Name: "half_plus_three", Signature: "b"}, MethodName: tfpb.MethodNameRegress},
		}, ex), code: codes.InvalidArgument},
		"multi inference no tasks": {method: tfpb.MethodMultiInference, req: tfpb.MultiInferenceRequest(nil, ex), code: codes.InvalidArgument},
		"metadata": {method: tfpb.MethodGetModelMetadata, req: tfpb.GetModelMetadataRequest(tfpb.ModelSpec{Name: "half_plus_two"}, "signature_def"), check: func(t *testing.T, resp []byte) {
			spec, sigs, err := tfpb.ParseGetModelMetadataResponse(resp)
			if err != nil || *spec.Version != 2 || sigs[SignatureDefault].Inputs["x"].DType != tfpb.DTFloat {
				t.Fatalf("metadata = %+v %+v %v", spec, sigs, err)
			}
		}},
		"metadata bad field": {method: tfpb.MethodGetModelMetadata, req: tfpb.GetModelMetadataRequest(tfpb.ModelSpec{Name: "half_plus_two"}, "x"), code: codes.InvalidArgument},
		"status": {method: tfpb.MethodGetModelStatus, req: tfpb.GetModelStatusRequest(tfpb.ModelSpec{Name: "half_plus_two", Label: tfpb.L("stable")}), check: func(t *testing.T, resp []byte) {
			st, err := tfpb.ParseGetModelStatusResponse(resp)
			if err != nil || len(st) != 2 || st[0].State != tfpb.StateAvailable {
				t.Fatalf("status = %+v %v (label must be ignored)", st, err)
			}
		}},
		"status missing spec":  {method: tfpb.MethodGetModelStatus, req: nil, code: codes.InvalidArgument},
		"status unknown model": {method: tfpb.MethodGetModelStatus, req: tfpb.GetModelStatusRequest(tfpb.ModelSpec{Name: "nope"}), code: codes.NotFound},
		"unknown method":       {method: "/tensorflow.serving.SessionService/SessionRun", req: nil, code: codes.Unimplemented},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			resp, err := invoke(t.Context(), conn, tc.method, tc.req)
			if status.Code(err) != tc.code {
				t.Fatalf("code = %v (%v), want %v", status.Code(err), err, tc.code)
			}
			if tc.check != nil {
				tc.check(t, resp)
			}
		})
	}
}
