package samlverify

import (
	"context"
	"testing"
	"time"

	"github.com/tfgate/tfgate/authz/session"
	"github.com/tfgate/tfgate/samlverify/internal/fixture"
)

// authz/session's stores are the ReplayCache cmd/extauthz wires in.
var (
	_ ReplayCache = (*session.Memory)(nil)
	_ ReplayCache = (*session.Redis)(nil)
)

// TestWithSessionMemory runs a login and its replay against the real
// in-memory store.
func TestWithSessionMemory(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	store := session.NewMemory(session.MemoryConfig{Now: e.clock.Now})
	v, err := New(e.v.cfg, e.v.idps, store)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	in := fixture.Encode(t, build(t, nil, signAssertion))
	id, err := v.VerifyResponse(ctx, in, ResponseOptions{})
	wantReason(t, id, err, ReasonUnknownRequest) // nothing remembered yet
	if err := store.Remember(ctx, fixture.RequestID, time.Minute); err != nil {
		t.Fatal(err)
	}
	// The failed attempt above recorded the assertion ID: state is only
	// touched after every stateless check passed, and it did pass them.
	id, err = v.VerifyResponse(ctx, in, ResponseOptions{})
	wantReason(t, id, err, ReasonReplay)

	fresh := fixture.Encode(t, build(t, func(p *fixture.Params) { p.AssertionID = "_assert-fresh" }, signAssertion))
	if _, err := v.VerifyResponse(ctx, fresh, ResponseOptions{}); err != nil {
		t.Fatalf("fresh assertion: %v (%v)", err, unwrap(err))
	}
	id, err = v.VerifyResponse(ctx, fresh, ResponseOptions{})
	wantReason(t, id, err, ReasonReplay)
}
