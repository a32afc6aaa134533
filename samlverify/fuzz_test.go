package samlverify

import (
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"

	"github.com/tfgate/tfgate/samlverify/internal/fixture"
)

// Fuzz targets. Errors are expected; the invariants are: no panic or hang,
// every error is an *Error with a known reason and a nil identity, and a
// success can only ever yield the identity the IdP signed (so no mutation
// of unsigned content can change who is signed in).

// fuzzSeeds returns signed and hostile messages to start from.
func fuzzSeeds(f *testing.F) [][]byte {
	seeds := [][]byte{
		fixture.Bytes(f, build(f, nil, signAssertion)),
		fixture.Bytes(f, build(f, nil, signResponse)),
		fixture.Bytes(f, build(f, nil, signBoth)),
		fixture.Bytes(f, build(f, nil, signNone)),
		fixture.Bytes(f, fixture.Sign(f, fixture.EncryptAssertionIn(f, fixture.Default().Response(), fixture.SPKey(f).Cert, fixture.AES128GCM), fixture.IdPKey(f), fixture.SignOptions{})),
		fixture.Bytes(f, fixture.EncryptAssertionIn(f, build(f, nil, signAssertion), fixture.SPKey(f).Cert, fixture.AES256CBC)),
	}
	for _, x := range []func(testing.TB) *etree.Element{xsw1, xsw2, xsw3, xsw4, xsw5, xsw6, xsw7, xsw8} {
		seeds = append(seeds, fixture.Bytes(f, x(f)))
	}
	return append(seeds, []byte(`<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "b">]><r>&a;</r>`), []byte("<a><b></a>"))
}

// checkOutcome enforces the fuzz invariants.
func checkOutcome(t *testing.T, id *Identity, err error) {
	if err != nil {
		var e *Error
		if id != nil || !errors.As(err, &e) || messages[e.Reason] == "" {
			t.Fatalf("bad failure: identity %v, error %T %v", id, err, err)
		}
		return
	}
	if id == nil || id.NameID != "alice@example.test" || id.IdP != fixture.IdPEntityID ||
		strings.Join(id.Groups, ",") != "ml-readers,ml-admins" {
		t.Fatalf("success with an identity the IdP did not sign: %+v", id)
	}
}

func FuzzVerifyResponse(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	base := newEnv(f, withDecryption)
	f.Fuzz(func(t *testing.T, doc []byte) {
		// Fresh one-time state each run, so every input can succeed once.
		store := newMemCache(base.clock.Now)
		_ = store.Remember(context.Background(), fixture.RequestID, 10*time.Minute)
		v := &Verifier{cfg: base.v.cfg, idps: base.v.idps, replay: store}
		id, err := v.VerifyResponse(context.Background(), base64.StdEncoding.EncodeToString(doc), ResponseOptions{})
		checkOutcome(t, id, err)
	})
}

func FuzzDecodeResponse(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(base64.StdEncoding.EncodeToString(s))
	}
	f.Add("PD94bWw/Pg==\r\n")
	f.Fuzz(func(t *testing.T, s string) {
		raw, err := decodeBase64(s, DefaultMaxResponseBytes, base64.StdEncoding)
		if err != nil {
			if ReasonOf(err) == "" {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		if _, err := parseXML(raw); err != nil && ReasonOf(err) == "" {
			t.Fatalf("untyped error %v", err)
		}
	})
}

func FuzzVerifyAssertion(f *testing.F) {
	k := fixture.IdPKey(f)
	f.Add(fixture.Bytes(f, fixture.Sign(f, bearerParams().Assertion(), k, fixture.SignOptions{})))
	f.Add(fixture.Bytes(f, bearerParams().Assertion()))
	f.Add(fixture.Bytes(f, fixture.Sign(f, bearerParams().Response(), k, fixture.SignOptions{})))
	base := newEnv(f)
	f.Fuzz(func(t *testing.T, doc []byte) {
		v := &Verifier{cfg: base.v.cfg, idps: base.v.idps, replay: newMemCache(base.clock.Now)}
		id, err := v.VerifyAssertion(context.Background(), base64.RawURLEncoding.EncodeToString(doc), AssertionOptions{TokenURL: fixture.TokenURL})
		checkOutcome(t, id, err)
	})
}

func FuzzParseMetadata(f *testing.F) {
	fed := fixture.NextIdPKey(f)
	f.Add(fixture.Bytes(f, fixture.Sign(f, idpMetadata(f).IdPMetadata(), fed, fixture.SignOptions{})))
	f.Add(fixture.Bytes(f, idpMetadata(f).IdPMetadata()))
	opts := pinned(nil, Fingerprint(fed.Cert))
	f.Fuzz(func(t *testing.T, doc []byte) {
		md, err := ParseMetadata(doc, opts)
		if err != nil {
			if md != nil || ReasonOf(err) != ReasonMetadataInvalid {
				t.Fatalf("bad failure: %v", err)
			}
			return
		}
		// With a pin, nothing unsigned may get through, and the only
		// signed entity is the fixture IdP with its key.
		if !md.Signed || len(md.IdPs) != 1 || md.IdPs[0].EntityID != fixture.IdPEntityID ||
			!md.IdPs[0].SigningCerts[0].Equal(fixture.IdPKey(t).Cert) {
			t.Fatalf("pinned metadata accepted with unsigned content: %+v", md)
		}
	})
}
