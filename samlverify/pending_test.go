package samlverify

import (
	"context"
	"testing"
	"time"

	"github.com/tfgate/tfgate/samlverify/internal/fixture"
)

// pendingOf returns a ResponseOptions.Pending holding one request.
func pendingOf(id, idp string, until time.Time, saw *string) func(string) (PendingRequest, bool) {
	return func(irt string) (PendingRequest, bool) {
		*saw = irt
		if irt != id {
			return PendingRequest{}, false
		}
		return PendingRequest{ID: id, IdP: idp, NotOnOrAfter: until}, true
	}
}

// TestPendingRequest: with ResponseOptions.Pending, the caller's binding
// replaces the store's outstanding request: a Response to it is accepted
// once and recorded as answered; one to another request is refused before
// anything is recorded.
func TestPendingRequest(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	until := fixture.T0.Add(5 * time.Minute)
	in := fixture.Encode(t, build(t, nil, signAssertion))

	t.Run("other request: nothing recorded", func(t *testing.T) {
		e := newEnv(t)
		var saw string
		id, err := e.v.VerifyResponse(ctx, in, ResponseOptions{Pending: pendingOf("_other", fixture.IdPEntityID, until, &saw)})
		wantReason(t, id, err, ReasonUnknownRequest)
		mustEq(t, "InResponseTo given to Pending", saw, fixture.RequestID)
		if len(e.store.seen) != 0 {
			t.Errorf("replay cache written: %v", e.store.seen)
		}
	})
	t.Run("accepted once, without the store's request", func(t *testing.T) {
		e := newEnv(t)
		if _, err := e.store.Consume(ctx, fixture.RequestID); err != nil { // not outstanding in the store
			t.Fatal(err)
		}
		var saw string
		opts := ResponseOptions{Pending: pendingOf(fixture.RequestID, fixture.IdPEntityID, until, &saw)}
		if _, err := e.v.VerifyResponse(ctx, in, opts); err != nil {
			t.Fatal(err)
		}
		if _, ok := e.store.seen[answeredDomain+fixture.RequestID]; !ok {
			t.Error("request not recorded as answered")
		}
		again := fixture.Encode(t, build(t, func(p *fixture.Params) { p.AssertionID = "_assert-0002" }, signAssertion))
		id, err := e.v.VerifyResponse(ctx, again, opts)
		wantReason(t, id, err, ReasonUnknownRequest)
	})
	t.Run("expired binding", func(t *testing.T) {
		e := newEnv(t)
		var saw string
		id, err := e.v.VerifyResponse(ctx, in, ResponseOptions{Pending: pendingOf(fixture.RequestID, fixture.IdPEntityID, fixture.T0, &saw)})
		wantReason(t, id, err, ReasonUnknownRequest)
	})
	t.Run("binding names another IdP", func(t *testing.T) {
		e := newEnv(t)
		var saw string
		id, err := e.v.VerifyResponse(ctx, in, ResponseOptions{Pending: pendingOf(fixture.RequestID, "https://other.example", until, &saw)})
		if err == nil {
			t.Fatalf("accepted for another IdP: %+v", id)
		}
		if len(e.store.seen) != 0 {
			t.Errorf("replay cache written: %v", e.store.seen)
		}
	})
}

func mustEq(t *testing.T, what, got, want string) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %q, want %q", what, got, want)
	}
}
