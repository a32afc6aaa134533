package session

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tfgate/tfgate/authz"
)

func testMaxLifetime(t *testing.T, h *harness) {
	ctx := context.Background()
	h.store = h.reopen(Lifetime{Max: time.Hour})
	long, short := h.token(t), h.token(t)
	if err := h.store.Create(ctx, long, h.session(24*time.Hour)); err != nil {
		t.Fatalf("Create: %v", err)
	}
	if err := h.store.Create(ctx, short, h.session(time.Minute)); err != nil {
		t.Fatalf("Create: %v", err)
	}
	got, err := h.store.Lookup(ctx, long)
	if err != nil || !got.ExpiresAt.Equal(h.clock.Now().Add(time.Hour)) {
		t.Errorf("ExpiresAt = %v, %v; want capped at Now+1h", got.ExpiresAt, err)
	}
	if got, _ := h.store.Lookup(ctx, short); !got.ExpiresAt.Equal(h.clock.Now().Add(time.Minute)) {
		t.Errorf("ExpiresAt = %v; a sooner expiry must be kept", got.ExpiresAt)
	}
	h.clock.Advance(time.Hour)
	if _, err := h.store.Lookup(ctx, long); !errors.Is(err, authz.ErrNoSession) {
		t.Errorf("Lookup after Max: error = %v, want authz.ErrNoSession", err)
	}
}

func testMaxAuthAge(t *testing.T, h *harness) {
	ctx := context.Background()
	tok := h.token(t)
	signedIn := h.session(24 * time.Hour)
	signedIn.CreatedAt = h.clock.Now().Add(-50 * time.Minute)
	if err := h.store.Create(ctx, tok, signedIn); err != nil {
		t.Fatalf("Create: %v", err)
	}
	// Lowering MaxAuthAge applies to sessions already stored.
	h.store = h.reopen(Lifetime{MaxAuthAge: time.Hour})
	got, err := h.store.Lookup(ctx, tok)
	if err != nil || !got.ExpiresAt.Equal(signedIn.CreatedAt.Add(time.Hour)) {
		t.Fatalf("Lookup = %v, %v; want ExpiresAt at CreatedAt+1h", got.ExpiresAt, err)
	}
	h.clock.Advance(10 * time.Minute)
	if _, err := h.store.Lookup(ctx, tok); !errors.Is(err, ErrExpired) {
		t.Errorf("Lookup at CreatedAt+MaxAuthAge: error = %v, want ErrExpired", err)
	}
	// A session whose sign-in is already too old is not stored.
	if err := h.store.Create(ctx, h.token(t), signedIn); !errors.Is(err, ErrInvalidExpiry) {
		t.Errorf("Create of a too-old sign-in: error = %v, want ErrInvalidExpiry", err)
	}
}

// testIdleTimeout runs on the real clock as well as the test clock: a Redis
// store's idle deadline is the key's TTL, which Redis counts down itself.
func testIdleTimeout(t *testing.T, h *harness) {
	const idle, step = time.Second, 200 * time.Millisecond
	ctx := context.Background()
	h.store = h.reopen(Lifetime{Idle: idle, TouchInterval: step})
	tok := h.token(t)
	if err := h.store.Create(ctx, tok, h.session(time.Hour)); err != nil {
		t.Fatalf("Create: %v", err)
	}
	wait := func(d time.Duration) { time.Sleep(d); h.clock.Advance(d) }
	// Used every step for twice the idle timeout: it slides.
	for i := range int(2 * idle / step) {
		wait(step)
		if _, err := h.store.Lookup(ctx, tok); err != nil {
			t.Fatalf("Lookup %d while in use: %v", i, err)
		}
	}
	wait(idle + step)
	if _, err := h.store.Lookup(ctx, tok); !errors.Is(err, authz.ErrNoSession) {
		t.Errorf("Lookup after idling: error = %v, want authz.ErrNoSession", err)
	}
}
