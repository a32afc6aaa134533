package tfpb

import "errors"

// Sentinel errors returned (wrapped) by the decoders.
var (
	// ErrMalformed means the bytes are not valid protobuf wire format.
	ErrMalformed = errors.New("tfpb: malformed protobuf")
	// ErrInvalidUTF8 means a proto3 string field holds invalid UTF-8, which
	// the C++ server rejects.
	ErrInvalidUTF8 = errors.New("tfpb: string field is not valid UTF-8")
	// ErrFrame means a gRPC length-prefixed message is truncated, has extra
	// bytes or an unknown flag.
	ErrFrame = errors.New("tfpb: bad gRPC frame")
	// ErrCodecType means Codec was given a value that is not []byte or *[]byte.
	ErrCodecType = errors.New("tfpb: codec needs []byte or *[]byte")
)
