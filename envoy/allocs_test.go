package envoy_test

import (
	"context"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	"github.com/tfgate/tfgate/envoy"
)

// checkAllocBudget is issue 12's target for a Check whose session and
// decision are both cached: at most 25 allocations, the whole server as
// extauthz serve wires it (policy, memory store, metrics, decision log).
const checkAllocBudget = 25

// wireAllocBudget is the same Check run by the gRPC server's own handler
// (admission, the request read from its bytes: a string per header value)
// with the answer written to bytes, plus 2 allocations of the test's
// stand-in for gRPC's call of the codec. With proto.Unmarshal and
// proto.Marshal it was 124; without the pooled request, 46.
const wireAllocBudget = 40

// TestCheckAllocationBudget keeps the cached Check's allocations counted:
// a change that adds a few per Check fails here rather than showing up
// months later as a slower benchmark. (It counts allocations, which are
// deterministic, never time.)
func TestCheckAllocationBudget(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the whole server")
	}
	if raceEnabled {
		t.Skip("the race detector makes sync.Pool drop objects: allocation counts are not the program's")
	}
	ctx := context.Background()
	srv, _, token := newMemoryCheckServer(t)
	for _, tc := range allowedRequests(token) {
		check := func() {
			resp, err := srv.Check(ctx, tc.req)
			if err != nil || resp.GetStatus().GetCode() != int32(codes.OK) {
				t.Fatalf("%s: not allowed: %v %v", tc.name, resp.GetStatus(), err)
			}
		}
		check() // fill the session and decision caches
		if n := testing.AllocsPerRun(500, check); n > checkAllocBudget {
			t.Errorf("%s: a cached Check allocates %.0f times, budget %d (profile: go test -run '^$' -bench CheckInProcess -memprofile m.out -memprofilerate 1 ./envoy)", tc.name, n, checkAllocBudget)
		} else {
			t.Logf("%s: %.0f allocations per cached Check (budget %d)", tc.name, n, checkAllocBudget)
		}
		// The same Check as the gRPC server runs it: the request read from
		// its bytes, the answer written to bytes.
		b, err := proto.Marshal(tc.req)
		if err != nil {
			t.Fatal(err)
		}
		wire := func() {
			if _, err := envoy.CheckEncoded(srv, ctx, b, true); err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
		}
		if n := testing.AllocsPerRun(500, wire); n > wireAllocBudget {
			t.Errorf("%s: a cached Check with its decoding and encoding allocates %.0f times, budget %d (profile: go test -run '^$' -bench CheckEncoded -memprofile m.out -memprofilerate 1 ./envoy)", tc.name, n, wireAllocBudget)
		} else {
			t.Logf("%s: %.0f allocations per cached Check with decoding and encoding (budget %d)", tc.name, n, wireAllocBudget)
		}
	}
}
