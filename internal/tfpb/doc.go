// Package tfpb encodes and decodes the few TensorFlow Serving protobuf
// messages that tfgate's test harnesses need, by hand with protowire, so that
// nothing in the module depends on generated TF Serving code.
//
// The encoders produce canonical protobuf (fields in number order, maps in
// key order) and the decoders follow protobuf's parse rules where they matter
// for authorization: repeated occurrences of a singular message field merge,
// the last scalar wins, and unknown fields are skipped. ModelSpec parsing in
// particular mirrors docs/tfserving-api.md §4.
//
// Codec lets a grpc-go client or server move these raw bytes:
//
//	var resp []byte
//	err := conn.Invoke(ctx, tfpb.MethodPredict, tfpb.PredictRequest(spec, in), &resp,
//		grpc.ForceCodecV2(tfpb.Codec{}))
package tfpb

// Full gRPC method names (":path") of the TF Serving APIs.
const (
	MethodPredict          = "/tensorflow.serving.PredictionService/Predict"
	MethodClassify         = "/tensorflow.serving.PredictionService/Classify"
	MethodRegress          = "/tensorflow.serving.PredictionService/Regress"
	MethodMultiInference   = "/tensorflow.serving.PredictionService/MultiInference"
	MethodGetModelMetadata = "/tensorflow.serving.PredictionService/GetModelMetadata"
	MethodGetModelStatus   = "/tensorflow.serving.ModelService/GetModelStatus"
	MethodReloadConfig     = "/tensorflow.serving.ModelService/HandleReloadConfigRequest"
)
