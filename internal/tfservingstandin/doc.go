// Package tfservingstandin is a stand-in for TensorFlow Serving: it serves the
// REST API (docs/tfserving-api.md §2, including its odd path-matching rules)
// on one listener and the gRPC API (§3, raw protobuf via internal/tfpb, h2c
// with prior knowledge like the real server) on another, and records every
// request that reached it so tests can assert what got past the proxy.
//
// Models are simple affine functions y = Slope*x + Intercept with named
// versions and labels; DefaultConfig serves half_plus_two (versions 1 and 2,
// labels stable→1 and canary→2) and half_plus_three (version 1).
//
// Tests use Start; long-running tools use New and Serve:
//
//	srv, err := tfservingstandin.New(tfservingstandin.DefaultConfig())
//	...
//	err = srv.Serve(ctx, restListener, grpcListener)
package tfservingstandin
