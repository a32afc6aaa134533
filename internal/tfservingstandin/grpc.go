package tfservingstandin

import (
	"net/http"
	"strconv"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/tfgate/tfgate/internal/tfpb"
)

// TrailerServedVersion is a trailer the stand-in adds to every successful
// gRPC response, naming the version that answered ("0" when none applies).
// Real TF Serving sends no such trailer; it lets proxy tests check that
// trailers pass through.
const TrailerServedVersion = "x-tfservingstandin-served-version"

// grpcCall is one decoded gRPC request on its way through a method.
type grpcCall struct {
	msg    []byte
	rec    *Record
	served int64
}

// grpcMethods maps full method names to their implementations.
var grpcMethods = map[string]struct {
	verb string
	fn   func(*Server, *grpcCall) ([]byte, error)
}{
	tfpb.MethodPredict:          {"predict", (*Server).grpcPredict},
	tfpb.MethodClassify:         {"classify", (*Server).grpcClassify},
	tfpb.MethodRegress:          {"regress", (*Server).grpcRegress},
	tfpb.MethodMultiInference:   {"multi_inference", (*Server).grpcMultiInference},
	tfpb.MethodGetModelMetadata: {"metadata", (*Server).grpcMetadata},
	tfpb.MethodGetModelStatus:   {"status", (*Server).grpcStatus},
	tfpb.MethodReloadConfig:     {"reload_config", (*Server).grpcReload},
}

// handleGRPC is the grpc.UnknownServiceHandler that serves every method:
// it reads one raw message, records the call and answers.
func (s *Server) handleGRPC(_ any, stream grpc.ServerStream) error {
	method, _ := grpc.MethodFromServerStream(stream)
	rec := Record{API: APIGRPC, Method: http.MethodPost, Path: method, Header: http.Header{}}
	md, _ := metadata.FromIncomingContext(stream.Context())
	for k, vs := range md {
		rec.Header[http.CanonicalHeaderKey(k)] = vs
	}
	rec.Host = rec.Header.Get(":authority")
	call := &grpcCall{rec: &rec}
	err := stream.RecvMsg(&call.msg)
	rec.BodySize = len(call.msg)
	var resp []byte
	if err == nil {
		if m, ok := grpcMethods[method]; ok {
			rec.Verb = m.verb
			resp, err = m.fn(s, call)
		} else {
			err = status.Errorf(codes.Unimplemented, "unknown method %s", method)
		}
	}
	if err == nil {
		rec.Served = call.served
		stream.SetTrailer(metadata.Pairs(TrailerServedVersion, strconv.FormatInt(call.served, 10)))
		err = stream.SendMsg(resp)
	}
	rec.Code = int(status.Code(err))
	s.add(rec)
	return err
}

// grpcSpec records spec and resolves it.
func (s *Server) grpcSpec(c *grpcCall, spec tfpb.ModelSpec, present bool) (*Model, tfpb.ModelSpec, error) {
	c.rec.Spec = spec
	if !present {
		return nil, spec, apiErrorf(codes.InvalidArgument, "Missing ModelSpec")
	}
	m, version, sig, err := s.resolve(spec)
	if err != nil {
		return nil, spec, err
	}
	c.served = version
	return m, tfpb.ModelSpec{Name: m.Name, Version: tfpb.V(version), Signature: sig}, nil
}

// grpcPredict applies the model to input "x" and returns output "y".
func (s *Server) grpcPredict(c *grpcCall) ([]byte, error) {
	spec, ok, inputs, err := tfpb.ParsePredictRequest(c.msg)
	if err != nil {
		return nil, apiErrorf(codes.InvalidArgument, "%v", err)
	}
	m, eff, err := s.grpcSpec(c, spec, ok)
	if err != nil {
		return nil, err
	}
	x, ok := inputs["x"]
	if !ok || len(inputs) != 1 {
		return nil, apiErrorf(codes.InvalidArgument, "input size does not match signature: %d!=1; expected input alias x", len(inputs))
	}
	if x.DType != tfpb.DTFloat {
		return nil, apiErrorf(codes.InvalidArgument, "Expects arg[0] to be float but %d is provided", x.DType)
	}
	y := tfpb.Tensor{DType: tfpb.DTFloat, Shape: x.Shape, Floats: m.apply(x.Floats)}
	return tfpb.PredictResponse(eff, map[string]tfpb.Tensor{"y": y}), nil
}

// grpcRegress applies the model to feature "x" of each example.
func (s *Server) grpcRegress(c *grpcCall) ([]byte, error) {
	m, eff, xs, err := s.inferenceInput(c)
	if err != nil {
		return nil, err
	}
	return tfpb.RegressionResponse(eff, m.apply(xs)), nil
}

// grpcClassify returns one unlabeled class per example, scored y.
func (s *Server) grpcClassify(c *grpcCall) ([]byte, error) {
	m, eff, xs, err := s.inferenceInput(c)
	if err != nil {
		return nil, err
	}
	return tfpb.ClassificationResponse(eff, classesOf(m.apply(xs))), nil
}

// inferenceInput decodes a Classification/RegressionRequest.
func (s *Server) inferenceInput(c *grpcCall) (*Model, tfpb.ModelSpec, []float32, error) {
	spec, ok, examples, err := tfpb.ParseInferenceRequest(c.msg)
	if err != nil {
		return nil, spec, nil, apiErrorf(codes.InvalidArgument, "%v", err)
	}
	m, eff, err := s.grpcSpec(c, spec, ok)
	if err != nil {
		return nil, eff, nil, err
	}
	xs, err := featureXs(examples)
	return m, eff, xs, err
}

// grpcMultiInference follows multi_inference.cc: the servable comes from
// tasks[0] only, every task must name the same model with a unique
// signature and a classify/regress method.
func (s *Server) grpcMultiInference(c *grpcCall) ([]byte, error) {
	tasks, examples, err := tfpb.ParseMultiInferenceRequest(c.msg)
	if err != nil {
		return nil, apiErrorf(codes.InvalidArgument, "%v", err)
	}
	if len(tasks) == 0 {
		_, _, err := s.grpcSpec(c, tfpb.ModelSpec{}, true)
		return nil, err
	}
	m, eff, err := s.grpcSpec(c, tasks[0].Spec, true)
	if err != nil {
		return nil, err
	}
	xs, err := featureXs(examples)
	if err != nil {
		return nil, err
	}
	ys := m.apply(xs)
	seen := map[string]bool{}
	var results []tfpb.InferenceResult
	for _, t := range tasks {
		if t.Spec.Name != tasks[0].Spec.Name {
			return nil, apiErrorf(codes.InvalidArgument, "All ModelSpecs in a MultiInferenceRequest must access the same model name.")
		}
		if seen[t.Spec.Signature] {
			return nil, apiErrorf(codes.InvalidArgument, "Duplicate evaluation of signature: %s", t.Spec.Signature)
		}
		seen[t.Spec.Signature] = true
		r := tfpb.InferenceResult{Spec: tfpb.ModelSpec{Name: m.Name, Version: eff.Version, Signature: t.Spec.Signature}}
		switch t.MethodName {
		case tfpb.MethodNameClassify:
			r.Classifications = classesOf(ys)
		case tfpb.MethodNameRegress:
			r.Regressions = ys
		default:
			return nil, apiErrorf(codes.Unimplemented, "Unsupported signature method_name: %s", t.MethodName)
		}
		results = append(results, r)
	}
	return tfpb.MultiInferenceResponse(results), nil
}

// grpcMetadata answers GetModelMetadata; only "signature_def" is supported.
func (s *Server) grpcMetadata(c *grpcCall) ([]byte, error) {
	spec, ok, fields, err := tfpb.ParseGetModelMetadataRequest(c.msg)
	if err != nil {
		return nil, apiErrorf(codes.InvalidArgument, "%v", err)
	}
	spec.Signature = ""
	m, eff, err := s.grpcSpec(c, spec, ok)
	if err != nil {
		return nil, err
	}
	if len(fields) == 0 {
		return nil, apiErrorf(codes.InvalidArgument, "GetModelMetadataRequest must specify at least one metadata_field")
	}
	for _, f := range fields {
		if f != "signature_def" {
			return nil, apiErrorf(codes.InvalidArgument, "Metadata field %s is not supported", f)
		}
	}
	eff.Signature = ""
	return tfpb.GetModelMetadataResponse(eff, signatureDefs(m)), nil
}

// grpcStatus answers GetModelStatus: a label is ignored.
func (s *Server) grpcStatus(c *grpcCall) ([]byte, error) {
	spec, ok, err := tfpb.RequestModelSpec(c.msg)
	if err != nil {
		return nil, apiErrorf(codes.InvalidArgument, "%v", err)
	}
	c.rec.Spec = spec
	if !ok {
		return nil, apiErrorf(codes.InvalidArgument, "Missing ModelSpec")
	}
	statuses, err := s.modelStatus(spec)
	if err != nil {
		return nil, err
	}
	if spec.Version != nil {
		c.served = *spec.Version
	}
	return tfpb.GetModelStatusResponse(statuses), nil
}

// grpcReload accepts HandleReloadConfigRequest and changes nothing; the
// empty ReloadConfigResponse means OK. It exists so tests can see whether
// an admin call got through the proxy.
func (s *Server) grpcReload(*grpcCall) ([]byte, error) { return nil, nil }

// featureXs reads float feature "x" (first value) of every example.
func featureXs(examples []tfpb.Example) ([]float32, error) {
	xs := make([]float32, 0, len(examples))
	for i, ex := range examples {
		v := ex["x"]
		if len(v) == 0 {
			return nil, apiErrorf(codes.InvalidArgument, "example %d: missing float feature \"x\"", i)
		}
		xs = append(xs, v[0])
	}
	return xs, nil
}

// classesOf wraps each score in a single unlabeled class.
func classesOf(ys []float32) [][]tfpb.Class {
	out := make([][]tfpb.Class, len(ys))
	for i, y := range ys {
		out[i] = []tfpb.Class{{Score: y}}
	}
	return out
}
