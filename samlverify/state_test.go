package samlverify

import (
	"context"
	"crypto/x509"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tfgate/tfgate/samlverify/internal/fixture"
)

func TestReplay(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	in := fixture.Encode(t, build(t, nil, signAssertion))
	if _, err := e.v.VerifyResponse(context.Background(), in, ResponseOptions{}); err != nil {
		t.Fatal(err)
	}
	// The attacker captured the response and the request ID is outstanding
	// again (a second login): the assertion ID still refuses it.
	if err := e.store.Remember(context.Background(), fixture.RequestID, time.Minute); err != nil {
		t.Fatal(err)
	}
	id, err := e.v.VerifyResponse(context.Background(), in, ResponseOptions{})
	wantReason(t, id, err, ReasonReplay)
}

func TestRequestIDIsOneTime(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	if _, err := e.verify(t, build(t, nil, signAssertion)); err != nil {
		t.Fatal(err)
	}
	// A fresh assertion (new ID) answering the same, now consumed, request.
	id, err := e.verify(t, build(t, func(p *fixture.Params) { p.AssertionID = "_assert-0002" }, signAssertion))
	wantReason(t, id, err, ReasonUnknownRequest)
}

func TestReplayCacheUntil(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	if _, err := e.verify(t, build(t, nil, signAssertion)); err != nil {
		t.Fatal(err)
	}
	want := fixture.T0.Add(5*time.Minute + DefaultSkew)
	if got := e.store.seen["_assert-0001"]; !got.Equal(want) {
		t.Errorf("replay cache holds the ID until %v, want NotOnOrAfter+skew %v", got, want)
	}
}

func TestStoreUnavailable(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	v, err := New(e.v.cfg, e.v.idps, errStore{})
	if err != nil {
		t.Fatal(err)
	}
	id, err := v.VerifyResponse(context.Background(), fixture.Encode(t, build(t, nil, signAssertion)), ResponseOptions{})
	wantReason(t, id, err, ReasonUnavailable)
}

func TestKeyRollover(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.idp.SigningCerts = append(e.idp.SigningCerts, fixture.NextIdPKey(t).Cert)
	for name, opts := range map[string]fixture.SignOptions{"with KeyInfo": {}, "without KeyInfo": {NoKeyInfo: true}} {
		p := fixture.Default()
		p.AssertionID = "_rollover-" + strings.ReplaceAll(name, " ", "-")
		if err := e.store.Remember(context.Background(), fixture.RequestID, time.Minute); err != nil {
			t.Fatal(err)
		}
		resp := fixture.SignAssertionIn(t, p.Response(), fixture.NextIdPKey(t), opts)
		if _, err := e.verify(t, resp); err != nil {
			t.Errorf("%s: signature by the second metadata key: %v (%v)", name, err, errors.Unwrap(err))
		}
	}
}

func TestExpectedIdP(t *testing.T) {
	t.Parallel()
	other := &IdP{EntityID: "https://idp-b.example.test", SigningCerts: []*x509.Certificate{fixture.OtherKey(t).Cert}}
	e := newEnv(t)
	set, err := NewIdPSet([]*IdP{e.idp, other}, "")
	if err != nil {
		t.Fatal(err)
	}
	v, err := New(e.v.cfg, set, e.store)
	if err != nil {
		t.Fatal(err)
	}
	in := fixture.Encode(t, build(t, nil, signAssertion))
	// A Response from IdP A while the request went to IdP B.
	id, err := v.VerifyResponse(context.Background(), in, ResponseOptions{ExpectedIdP: other.EntityID})
	wantReason(t, id, err, ReasonWrongIssuer)
	// IdP B signs an assertion that claims to come from IdP A.
	forged := fixture.SignAssertionIn(t, fixture.Default().Response(), fixture.OtherKey(t), fixture.SignOptions{})
	id, err = v.VerifyResponse(context.Background(), fixture.Encode(t, forged), ResponseOptions{})
	wantReason(t, id, err, ReasonUntrustedKey)
	id, err = v.VerifyResponse(context.Background(), in, ResponseOptions{ExpectedIdP: "https://nobody.test"})
	wantReason(t, id, err, ReasonUnknownIdP)
	if _, err := v.VerifyResponse(context.Background(), in, ResponseOptions{ExpectedIdP: fixture.IdPEntityID}); err != nil {
		t.Fatalf("expected IdP: %v", err)
	}
}

func TestLineWrappedBase64(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	in := fixture.Encode(t, build(t, nil, signAssertion))
	var b strings.Builder
	for i := 0; i < len(in); i += 76 {
		b.WriteString(in[i:min(i+76, len(in))])
		b.WriteString("\r\n")
	}
	if _, err := e.v.VerifyResponse(context.Background(), b.String(), ResponseOptions{}); err != nil {
		t.Fatal(err)
	}
}

func TestNewValidatesConfig(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tests := map[string]Config{
		"no entity ID":  {ACSURL: fixture.ACSURL},
		"relative ACS":  {SPEntityID: "sp", ACSURL: "/saml/acs"},
		"negative skew": {SPEntityID: "sp", ACSURL: fixture.ACSURL, Skew: -time.Second},
	}
	for name, cfg := range tests {
		if _, err := New(cfg, e.v.idps, e.store); err == nil {
			t.Errorf("%s: New accepted an invalid config", name)
		}
	}
	if _, err := New(Config{SPEntityID: "sp", ACSURL: fixture.ACSURL}, nil, e.store); err == nil {
		t.Error("New accepted a nil IdPSource")
	}
}

func TestErrorContract(t *testing.T) {
	t.Parallel()
	err := error(failf(ReasonReplay, "x"))
	if !errors.Is(err, &Error{Reason: ReasonReplay}) || errors.Is(err, &Error{Reason: ReasonExpired}) {
		t.Error("errors.Is does not match on Reason")
	}
	var e *Error
	if !errors.As(err, &e) || e.Reason != ReasonReplay || ReasonOf(err) != ReasonReplay {
		t.Error("errors.As / ReasonOf")
	}
	for r := range messages {
		if got := (&Error{Reason: r}).Error(); !strings.HasPrefix(got, "samlverify: ") {
			t.Errorf("%s: message %q", r, got)
		}
	}
	if ReasonOf(errors.New("other")) != "" {
		t.Error("ReasonOf of a foreign error")
	}
}
