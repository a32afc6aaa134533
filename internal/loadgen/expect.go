package loadgen

import (
	"fmt"
	"slices"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc/codes"

	"github.com/tfgate/tfgate/authz"
)

// Expectation is the answer every request of a scenario must get.
type Expectation struct {
	// Allow is whether the request must be allowed.
	Allow bool
	// HTTPStatus is the status a deny must carry; ignored when Allow.
	HTTPStatus int
	// User, when set, is the x-tfgate-user an allow must set upstream.
	User string
}

// String describes the expectation for the report: "allow", "deny 401".
func (e Expectation) String() string {
	if e.Allow {
		return "allow"
	}
	return fmt.Sprintf("deny %d", e.HTTPStatus)
}

// Verify checks resp in full: allow or deny, the deny's HTTP status, and
// for an allow with User set, the identity header and the credential's
// removal. Errors wrap ErrWrongOutcome.
func (e Expectation) Verify(resp *authv3.CheckResponse) error {
	if err := e.check(resp); err != nil {
		return err
	}
	if !e.Allow {
		if got := int(resp.GetDeniedResponse().GetStatus().GetCode()); got != e.HTTPStatus {
			return fmt.Errorf("%w: denied with HTTP %d, want %d (reason %q)",
				ErrWrongOutcome, got, e.HTTPStatus, resp.GetStatus().GetMessage())
		}
		return nil
	}
	if e.User == "" {
		return nil
	}
	ok := resp.GetOkResponse()
	var user string
	for _, h := range ok.GetHeaders() {
		if h.GetHeader().GetKey() == authz.HeaderUser {
			user = h.GetHeader().GetValue()
		}
	}
	if user != e.User {
		return fmt.Errorf("%w: allowed with %s %q, want %q", ErrWrongOutcome, authz.HeaderUser, user, e.User)
	}
	if !slices.Contains(ok.GetHeadersToRemove(), "authorization") {
		return fmt.Errorf("%w: allowed without removing the bearer token", ErrWrongOutcome)
	}
	return nil
}

// check is the per-request check: allow or deny only, so that checking
// costs the load loop next to nothing.
func (e Expectation) check(resp *authv3.CheckResponse) error {
	allowed := resp.GetStatus().GetCode() == int32(codes.OK)
	if allowed == e.Allow {
		return nil
	}
	if allowed {
		return fmt.Errorf("%w: allowed, want %s", ErrWrongOutcome, e)
	}
	return fmt.Errorf("%w: denied (%s: %s), want %s",
		ErrWrongOutcome, codes.Code(resp.GetStatus().GetCode()), resp.GetStatus().GetMessage(), e)
}
