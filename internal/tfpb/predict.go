package tfpb

import (
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
)

// PredictRequest encodes a PredictRequest (model_spec=1, inputs=2) whose
// inputs are rank-1 DT_FLOAT tensors.
func PredictRequest(spec ModelSpec, inputs map[string][]float32) []byte {
	ts := make(map[string]Tensor, len(inputs))
	for k, v := range inputs {
		ts[k] = FloatTensor(v...)
	}
	return PredictRequestTensors(spec, ts)
}

// PredictRequestTensors encodes a PredictRequest with arbitrary tensors.
func PredictRequestTensors(spec ModelSpec, inputs map[string]Tensor) []byte {
	b := appendSpec(nil, 1, spec)
	return appendTensorMap(b, 2, inputs)
}

// ParsePredictRequest decodes a PredictRequest. hasSpec is false when
// model_spec is absent.
func ParsePredictRequest(b []byte) (spec ModelSpec, hasSpec bool, inputs map[string]Tensor, err error) {
	spec, hasSpec, err = specAt(b, 1)
	if err != nil {
		return ModelSpec{}, false, nil, fmt.Errorf("parsing PredictRequest: %w", err)
	}
	inputs, err = tensorMap(b, 2)
	if err != nil {
		return ModelSpec{}, false, nil, fmt.Errorf("parsing PredictRequest inputs: %w", err)
	}
	return spec, hasSpec, inputs, nil
}

// PredictResponse encodes a PredictResponse (outputs=1, model_spec=2).
func PredictResponse(spec ModelSpec, outputs map[string]Tensor) []byte {
	b := appendTensorMap(nil, 1, outputs)
	return appendSpec(b, 2, spec)
}

// ParsePredictResponse decodes a PredictResponse.
func ParsePredictResponse(b []byte) (spec ModelSpec, outputs map[string]Tensor, err error) {
	spec, _, err = specAt(b, 2)
	if err != nil {
		return ModelSpec{}, nil, fmt.Errorf("parsing PredictResponse: %w", err)
	}
	outputs, err = tensorMap(b, 1)
	if err != nil {
		return ModelSpec{}, nil, fmt.Errorf("parsing PredictResponse outputs: %w", err)
	}
	return spec, outputs, nil
}

// PredictResponseFloats decodes a PredictResponse and returns each output's
// float values.
func PredictResponseFloats(b []byte) (map[string][]float32, error) {
	_, outs, err := ParsePredictResponse(b)
	if err != nil {
		return nil, err
	}
	m := make(map[string][]float32, len(outs))
	for k, t := range outs {
		m[k] = t.Floats
	}
	return m, nil
}

// tensorMap decodes every entry of map<string, TensorProto> field num.
func tensorMap(b []byte, num protowire.Number) (map[string]Tensor, error) {
	m := map[string]Tensor{}
	err := walk(b, func(f field) error {
		if f.isBytes(num) {
			return parseTensorMapEntry(f.b, m)
		}
		return nil
	})
	return m, err
}
