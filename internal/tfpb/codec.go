package tfpb

import (
	"fmt"

	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
)

// Codec is a grpc-go encoding.CodecV2 that moves messages as raw bytes: it
// marshals a []byte or *[]byte unchanged and unmarshals into a *[]byte. Use
// it with grpc.ForceCodecV2 on a client call or grpc.ForceServerCodecV2 on a
// server. It names itself "proto", so a grpc-go client forcing it sends
// content-type application/grpc+proto (grpc-go derives the content subtype
// from a forced codec's name), which TF Serving and Envoy treat as gRPC. Do
// not register it globally: it would replace the real proto codec.
type Codec struct{}

var _ encoding.CodecV2 = Codec{}

// Name returns "proto".
func (Codec) Name() string { return "proto" }

// Marshal returns v's bytes. v must be []byte or *[]byte.
func (Codec) Marshal(v any) (mem.BufferSlice, error) {
	var b []byte
	switch m := v.(type) {
	case []byte:
		b = m
	case *[]byte:
		b = *m
	default:
		return nil, fmt.Errorf("%w: got %T", ErrCodecType, v)
	}
	return mem.BufferSlice{mem.SliceBuffer(b)}, nil
}

// Unmarshal copies data into *v. v must be *[]byte.
func (Codec) Unmarshal(data mem.BufferSlice, v any) error {
	p, ok := v.(*[]byte)
	if !ok {
		return fmt.Errorf("%w: got %T", ErrCodecType, v)
	}
	*p = data.Materialize()
	return nil
}
