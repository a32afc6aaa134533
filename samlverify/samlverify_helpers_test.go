package samlverify

import (
	"context"
	"crypto/x509"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"

	"github.com/tfgate/tfgate/samlverify/internal/fixture"
)

// env is a Verifier wired to a pinned clock, the shared fixture IdP and an
// in-memory replay cache holding fixture.RequestID.
type env struct {
	v     *Verifier
	store *memCache
	clock *dsig.Clock
	idp   *IdP
}

// newEnv returns an env at fixture.T0 after applying mods to the Config.
func newEnv(tb testing.TB, mods ...func(*Config)) *env {
	tb.Helper()
	return newEnvAt(tb, fixture.T0, mods...)
}

// newEnvAt returns an env whose clock is pinned at now.
func newEnvAt(tb testing.TB, now time.Time, mods ...func(*Config)) *env {
	tb.Helper()
	clock := dsig.NewFakeClockAt(now)
	store := newMemCache(clock.Now)
	if err := store.Remember(context.Background(), fixture.RequestID, 10*time.Minute); err != nil {
		tb.Fatal(err)
	}
	idp := &IdP{EntityID: fixture.IdPEntityID, SigningCerts: []*x509.Certificate{fixture.IdPKey(tb).Cert}}
	set, err := NewIdPSet([]*IdP{idp}, "")
	if err != nil {
		tb.Fatal(err)
	}
	cfg := Config{
		SPEntityID: fixture.SPEntityID,
		ACSURL:     fixture.ACSURL,
		Clock:      clock,
		Attributes: AttributeMap{Groups: []string{"groups"}, Email: []string{"mail"}, DisplayName: []string{"displayName"}},
	}
	for _, m := range mods {
		m(&cfg)
	}
	v, err := New(cfg, set, store)
	if err != nil {
		tb.Fatal(err)
	}
	return &env{v: v, store: store, clock: clock, idp: idp}
}

// verify runs VerifyResponse on el's encoding.
func (e *env) verify(tb testing.TB, el *etree.Element) (*Identity, error) {
	tb.Helper()
	return e.v.VerifyResponse(context.Background(), fixture.Encode(tb, el), ResponseOptions{})
}

// signedResponse returns the default Response with p adjusted by mod, its
// assertion signed by the IdP.
func signedResponse(tb testing.TB, mod func(*fixture.Params)) *etree.Element {
	tb.Helper()
	p := fixture.Default()
	if mod != nil {
		mod(&p)
	}
	return fixture.SignAssertionIn(tb, p.Response(), fixture.IdPKey(tb), fixture.SignOptions{})
}

// wantReason fails tb unless err is an *Error with reason want and id is
// nil.
func wantReason(tb testing.TB, id *Identity, err error, want Reason) {
	tb.Helper()
	if id != nil {
		tb.Errorf("identity returned with error %v", err)
	}
	var e *Error
	if !errors.As(err, &e) {
		tb.Fatalf("error = %v (%T), want *Error with reason %q", err, err, want)
	}
	if e.Reason != want {
		tb.Fatalf("reason = %q (cause: %v), want %q", e.Reason, errors.Unwrap(err), want)
	}
}

// signMode says which elements build signs.
type signMode int

const (
	signAssertion signMode = iota
	signResponse
	signBoth
	signNone
)

// build returns the default Response adjusted by mod and signed as m says.
func build(tb testing.TB, mod func(*fixture.Params), m signMode) *etree.Element {
	tb.Helper()
	p := fixture.Default()
	if mod != nil {
		mod(&p)
	}
	r := p.Response()
	k := fixture.IdPKey(tb)
	if m == signAssertion || m == signBoth {
		r = fixture.SignAssertionIn(tb, r, k, fixture.SignOptions{})
	}
	if m == signResponse || m == signBoth {
		r = fixture.Sign(tb, r, k, fixture.SignOptions{})
	}
	return r
}

// errStore is a ReplayCache that cannot answer.
type errStore struct{}

func (errStore) Consume(context.Context, string) (bool, error) {
	return false, errors.New("store down")
}

func (errStore) SeenBefore(context.Context, string, time.Time) (bool, error) {
	return false, errors.New("store down")
}

// memCache is a ReplayCache with the contract of authz/session's Memory
// store (one-time Consume, SeenBefore refusing an until not in the future).
// The tests use their own so that they do not depend on work in progress in
// another package; samlverify/sp's tests exercise the real stores.
type memCache struct {
	mu       sync.Mutex
	now      func() time.Time
	requests map[string]time.Time
	seen     map[string]time.Time
}

func newMemCache(now func() time.Time) *memCache {
	return &memCache{now: now, requests: map[string]time.Time{}, seen: map[string]time.Time{}}
}

// Remember records an outstanding request ID for ttl.
func (m *memCache) Remember(_ context.Context, id string, ttl time.Duration) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.requests[id] = m.now().Add(ttl)
	return nil
}

func (m *memCache) Consume(_ context.Context, id string) (bool, error) {
	if id == "" {
		return false, errors.New("empty key")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	exp, ok := m.requests[id]
	delete(m.requests, id)
	return ok && m.now().Before(exp), nil
}

func (m *memCache) SeenBefore(_ context.Context, id string, until time.Time) (bool, error) {
	if id == "" {
		return false, errors.New("empty key")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	if !now.Before(until) {
		return false, errors.New("expiry is not in the future")
	}
	if exp, ok := m.seen[id]; ok && now.Before(exp) {
		return true, nil
	}
	m.seen[id] = until
	return false, nil
}

// unwrap returns err's cause, for failure messages.
func unwrap(err error) error { return errors.Unwrap(err) }
