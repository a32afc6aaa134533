package tfpb

import (
	"encoding/binary"
	"fmt"
	"math"

	"google.golang.org/protobuf/encoding/protowire"
)

// DataType is tensorflow.DataType (framework/types.proto). Only the values
// the harness uses are named.
type DataType int32

// DataType values.
const (
	DTInvalid DataType = 0
	DTFloat   DataType = 1
	DTDouble  DataType = 2
	DTInt32   DataType = 3
	DTString  DataType = 7
	DTInt64   DataType = 9
)

// Tensor is the float subset of tensorflow.TensorProto
// (framework/tensor.proto): dtype=1, tensor_shape=2 (TensorShapeProto with
// dim=2 {size=1}), float_val=5 (packed). Other value fields are ignored on
// decode, except tensor_content=4 for DT_FLOAT, which is decoded into Floats.
type Tensor struct {
	DType  DataType
	Shape  []int64
	Floats []float32
}

// FloatTensor returns a DT_FLOAT tensor of shape [len(vs)].
func FloatTensor(vs ...float32) Tensor {
	return Tensor{DType: DTFloat, Shape: []int64{int64(len(vs))}, Floats: vs}
}

// Marshal encodes t as a TensorProto message.
func (t Tensor) Marshal() []byte {
	var b []byte
	b = appendVarint(b, 1, uint64(t.DType))
	if t.Shape != nil {
		b = appendMessage(b, 2, marshalShape(t.Shape))
	}
	return appendPackedFloats(b, 5, t.Floats)
}

// marshalShape encodes dims as a TensorShapeProto message.
func marshalShape(dims []int64) []byte {
	var shape []byte
	for _, d := range dims {
		var dim []byte
		dim = appendVarint(dim, 1, uint64(d))
		shape = appendMessage(shape, 2, dim)
	}
	return shape
}

// ParseTensor decodes a TensorProto message.
func ParseTensor(b []byte) (Tensor, error) {
	var t Tensor
	var content []byte
	err := walk(b, func(f field) error {
		var err error
		switch {
		case f.isVarint(1):
			t.DType = DataType(int32(f.v))
		case f.isBytes(2):
			t.Shape, err = parseShape(f.b, t.Shape)
		case f.isBytes(4):
			content = f.b
		case f.num == 5:
			t.Floats, err = f.floats(t.Floats)
		}
		return err
	})
	if err != nil {
		return Tensor{}, fmt.Errorf("parsing TensorProto: %w", err)
	}
	if t.DType == DTFloat && len(t.Floats) == 0 && len(content) > 0 {
		if len(content)%4 != 0 {
			return Tensor{}, fmt.Errorf("%w: tensor_content of %d bytes is not float32s", ErrMalformed, len(content))
		}
		for i := 0; i < len(content); i += 4 {
			t.Floats = append(t.Floats, math.Float32frombits(binary.LittleEndian.Uint32(content[i:])))
		}
	}
	return t, nil
}

// parseShape appends the dim sizes of a TensorShapeProto to dims.
func parseShape(b []byte, dims []int64) ([]int64, error) {
	if dims == nil {
		dims = []int64{}
	}
	err := walk(b, func(f field) error {
		if !f.isBytes(2) {
			return nil
		}
		var size int64
		err := walk(f.b, func(g field) error {
			if g.isVarint(1) {
				size = int64(g.v)
			}
			return nil
		})
		dims = append(dims, size)
		return err
	})
	return dims, err
}

// appendTensorMap appends a map<string, TensorProto> field.
func appendTensorMap(b []byte, num protowire.Number, m map[string]Tensor) []byte {
	return appendMapEntries(b, num, m, Tensor.Marshal)
}

// parseTensorMapEntry decodes one map<string, TensorProto> entry into m.
// A later entry with the same key replaces the earlier one, as in protobuf.
func parseTensorMapEntry(entry []byte, m map[string]Tensor) error {
	k, v, err := parseMapEntry(entry)
	if err != nil {
		return err
	}
	t, err := ParseTensor(v)
	if err != nil {
		return fmt.Errorf("map key %q: %w", k, err)
	}
	m[k] = t
	return nil
}
