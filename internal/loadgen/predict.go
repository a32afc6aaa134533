package loadgen

import (
	"encoding/binary"
	"math"

	"google.golang.org/protobuf/encoding/protowire"
)

// PredictBody returns what Envoy buffers for tfgate from a gRPC Predict
// call on half_plus_two: one uncompressed gRPC frame holding a
// tensorflow.serving.PredictRequest with model_spec {name: Model} and one
// input "x", a DT_FLOAT tensor of shape [TensorFloats] (1 KiB of floats).
//
// It is encoded here with protowire, field by field (apis/predict.proto,
// apis/model.proto, framework/tensor.proto), so the load generator depends
// on no TF Serving code.
func PredictBody() []byte {
	spec := protowire.AppendTag(nil, 1, protowire.BytesType) // ModelSpec.name
	spec = protowire.AppendString(spec, Model)

	floats := make([]byte, 0, 4*TensorFloats)
	for i := range TensorFloats {
		floats = binary.LittleEndian.AppendUint32(floats, math.Float32bits(float32(i)))
	}
	dim := protowire.AppendTag(nil, 1, protowire.VarintType) // Dim.size
	dim = protowire.AppendVarint(dim, TensorFloats)
	shape := appendBytes(nil, 2, dim) // TensorShapeProto.dim
	tensor := protowire.AppendTag(nil, 1, protowire.VarintType)
	tensor = protowire.AppendVarint(tensor, 1) // dtype: DT_FLOAT
	tensor = appendBytes(tensor, 2, shape)     // tensor_shape
	tensor = appendBytes(tensor, 5, floats)    // float_val, packed

	entry := appendBytes(nil, 1, []byte("x")) // map entry key
	entry = appendBytes(entry, 2, tensor)     // map entry value

	msg := appendBytes(nil, 1, spec) // PredictRequest.model_spec
	msg = appendBytes(msg, 2, entry) // PredictRequest.inputs

	// gRPC Length-Prefixed-Message: flag 0 (uncompressed), big-endian length.
	frame := make([]byte, 5, 5+len(msg))
	binary.BigEndian.PutUint32(frame[1:], uint32(len(msg)))
	return append(frame, msg...)
}

// appendBytes appends a length-delimited field.
func appendBytes(b []byte, num protowire.Number, v []byte) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, v)
}
