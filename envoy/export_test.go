package envoy

import (
	"context"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"
)

// CheckEncoded runs a Check on a CheckRequest's wire bytes as the gRPC
// server does: its Check handler (admission, decoding, the decision), then
// the answer encoded with the server's codec;
// it returns the answer's size. wire false takes the message path that
// every Check took before decode.go and wire.go (proto.Unmarshal, Check,
// proto marshalling), for comparison.
func CheckEncoded(s *Server, ctx context.Context, req []byte, wire bool) (int, error) {
	var (
		resp any
		err  error
	)
	if wire {
		// The gRPC server's own handler, given the bytes as gRPC would.
		dec := func(v any) error { return newBudgetCodec().Unmarshal(mem.BufferSlice{mem.SliceBuffer(req)}, v) }
		resp, err = checkHandler(s, ctx, dec, nil)
	} else {
		msg := new(authv3.CheckRequest)
		if err := proto.Unmarshal(req, msg); err != nil {
			return 0, err
		}
		resp, err = s.Check(ctx, msg)
	}
	if err != nil {
		return 0, err
	}
	data, err := newBudgetCodec().Marshal(resp)
	if err != nil {
		return 0, err
	}
	n := data.Len()
	data.Free()
	return n, nil
}
