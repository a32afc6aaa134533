package tfpb

import (
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
)

// SignatureDefMapTypeURL is the google.protobuf.Any type URL under which
// GetModelMetadataResponse.metadata["signature_def"] carries a
// tensorflow.serving.SignatureDefMap.
const SignatureDefMapTypeURL = "type.googleapis.com/tensorflow.serving.SignatureDefMap"

// TensorInfo is the dense subset of tensorflow.TensorInfo
// (protobuf/meta_graph.proto): name=1, dtype=2, tensor_shape=3.
type TensorInfo struct {
	Name  string
	DType DataType
	Shape []int64
}

// SignatureDef is tensorflow.SignatureDef: inputs=1, outputs=2 (maps of
// TensorInfo) and method_name=3.
type SignatureDef struct {
	Inputs     map[string]TensorInfo
	Outputs    map[string]TensorInfo
	MethodName string
}

// GetModelMetadataRequest encodes a GetModelMetadataRequest (model_spec=1,
// metadata_field=2).
func GetModelMetadataRequest(spec ModelSpec, fields ...string) []byte {
	b := appendSpec(nil, 1, spec)
	for _, f := range fields {
		b = protowire.AppendTag(b, 2, protowire.BytesType)
		b = protowire.AppendString(b, f)
	}
	return b
}

// ParseGetModelMetadataRequest decodes a GetModelMetadataRequest.
func ParseGetModelMetadataRequest(b []byte) (spec ModelSpec, hasSpec bool, fields []string, err error) {
	spec, hasSpec, err = specAt(b, 1)
	if err == nil {
		err = walk(b, func(f field) error {
			if !f.isBytes(2) {
				return nil
			}
			s, err := f.str()
			fields = append(fields, s)
			return err
		})
	}
	if err != nil {
		return ModelSpec{}, false, nil, fmt.Errorf("parsing GetModelMetadataRequest: %w", err)
	}
	return spec, hasSpec, fields, nil
}

// GetModelMetadataResponse encodes a GetModelMetadataResponse whose
// metadata map holds "signature_def" → Any(SignatureDefMap{sigs}).
func GetModelMetadataResponse(spec ModelSpec, sigs map[string]SignatureDef) []byte {
	sigMap := appendMapEntries(nil, 1, sigs, SignatureDef.marshal)
	var anyMsg []byte
	anyMsg = appendString(anyMsg, 1, SignatureDefMapTypeURL)
	anyMsg = appendMessage(anyMsg, 2, sigMap)
	b := appendSpec(nil, 1, spec)
	return appendMapEntries(b, 2, map[string][]byte{"signature_def": anyMsg}, func(v []byte) []byte { return v })
}

// ParseGetModelMetadataResponse decodes a GetModelMetadataResponse and the
// SignatureDefMap in its "signature_def" entry (nil when absent).
func ParseGetModelMetadataResponse(b []byte) (ModelSpec, map[string]SignatureDef, error) {
	spec, _, err := specAt(b, 1)
	if err != nil {
		return ModelSpec{}, nil, fmt.Errorf("parsing GetModelMetadataResponse: %w", err)
	}
	var sigs map[string]SignatureDef
	err = walk(b, func(f field) error {
		if !f.isBytes(2) {
			return nil
		}
		k, anyMsg, err := parseMapEntry(f.b)
		if err != nil || k != "signature_def" {
			return err
		}
		value, _, err := messageField(anyMsg, 2)
		if err != nil {
			return err
		}
		sigs, err = parseSignatureDefMap(value)
		return err
	})
	if err != nil {
		return ModelSpec{}, nil, fmt.Errorf("parsing GetModelMetadataResponse: %w", err)
	}
	return spec, sigs, nil
}

// marshal encodes s as a SignatureDef message.
func (s SignatureDef) marshal() []byte {
	b := appendMapEntries(nil, 1, s.Inputs, TensorInfo.marshal)
	b = appendMapEntries(b, 2, s.Outputs, TensorInfo.marshal)
	return appendString(b, 3, s.MethodName)
}

// marshal encodes t as a TensorInfo message.
func (t TensorInfo) marshal() []byte {
	b := appendString(nil, 1, t.Name)
	b = appendVarint(b, 2, uint64(t.DType))
	if t.Shape != nil {
		b = appendMessage(b, 3, marshalShape(t.Shape))
	}
	return b
}

// parseSignatureDefMap decodes a SignatureDefMap message.
func parseSignatureDefMap(b []byte) (map[string]SignatureDef, error) {
	sigs := map[string]SignatureDef{}
	err := walk(b, func(f field) error {
		if !f.isBytes(1) {
			return nil
		}
		k, v, err := parseMapEntry(f.b)
		if err != nil {
			return err
		}
		sigs[k], err = parseSignatureDef(v)
		return err
	})
	return sigs, err
}

// parseSignatureDef decodes a SignatureDef message.
func parseSignatureDef(b []byte) (SignatureDef, error) {
	s := SignatureDef{Inputs: map[string]TensorInfo{}, Outputs: map[string]TensorInfo{}}
	err := walk(b, func(f field) error {
		var err error
		switch {
		case f.isBytes(1), f.isBytes(2):
			dst := s.Inputs
			if f.num == 2 {
				dst = s.Outputs
			}
			k, v, err := parseMapEntry(f.b)
			if err != nil {
				return err
			}
			dst[k], err = parseTensorInfo(v)
			return err
		case f.isBytes(3):
			s.MethodName, err = f.str()
		}
		return err
	})
	return s, err
}

// parseTensorInfo decodes a TensorInfo message.
func parseTensorInfo(b []byte) (TensorInfo, error) {
	var t TensorInfo
	err := walk(b, func(f field) error {
		var err error
		switch {
		case f.isBytes(1):
			t.Name, err = f.str()
		case f.isVarint(2):
			t.DType = DataType(int32(f.v))
		case f.isBytes(3):
			t.Shape, err = parseShape(f.b, t.Shape)
		}
		return err
	})
	return t, err
}
