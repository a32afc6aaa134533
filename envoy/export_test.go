package envoy

import (
	"context"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
)

// CheckEncoded runs a Check and encodes its answer with the server's
// codec, as the gRPC server does, and returns the encoded size. wire false
// takes the message path (Check, then proto marshalling) that every answer
// took before wire.go, for comparison.
func CheckEncoded(s *Server, ctx context.Context, req *authv3.CheckRequest, wire bool) (int, error) {
	var (
		resp any
		err  error
	)
	if wire {
		resp, err = s.checkWire(ctx, req)
	} else {
		resp, err = s.Check(ctx, req)
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
