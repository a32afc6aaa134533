package samlverify

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tfgate/tfgate/internal/devidp"
	"github.com/tfgate/tfgate/samlverify/internal/fixture"
)

// TestDevIdP verifies Responses from the development IdP, trusting it
// through its own metadata, with each of its signing modes.
func TestDevIdP(t *testing.T) {
	t.Parallel()
	modes := map[string]func(*devidp.Config){
		"both signed":      func(*devidp.Config) {},
		"assertion signed": func(c *devidp.Config) { c.UnsignedResponse = true },
		"response signed":  func(c *devidp.Config) { c.UnsignedAssertion = true },
	}
	for name, mode := range modes {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			k := fixture.IdPKey(t)
			cfg := devidp.Config{
				BaseURL: "http://127.0.0.1:9999", Key: k.Key, Cert: k.Cert, Now: e.clock.Now,
				SPs: []devidp.SP{{EntityID: fixture.SPEntityID, ACSURLs: []string{fixture.ACSURL}}},
			}
			mode(&cfg)
			idp, err := devidp.New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			raw, err := idp.Metadata()
			if err != nil {
				t.Fatal(err)
			}
			md, err := ParseMetadata(raw, MetadataOptions{Clock: e.clock})
			if err != nil {
				t.Fatalf("ParseMetadata: %v (%v)", err, unwrap(err))
			}
			set, err := NewIdPSet(md.IdPs, "")
			if err != nil {
				t.Fatal(err)
			}
			v, err := New(e.v.cfg, set, e.store)
			if err != nil {
				t.Fatal(err)
			}
			user := devidp.DefaultUsers()[0]
			_, b64, err := idp.NewResponse(devidp.ResponseOptions{User: user, InResponseTo: fixture.RequestID})
			if err != nil {
				t.Fatal(err)
			}
			id, err := v.VerifyResponse(context.Background(), b64, ResponseOptions{ExpectedIdP: idp.EntityID()})
			if err != nil {
				t.Fatalf("VerifyResponse: %v (%v)", err, errors.Unwrap(err))
			}
			if len(id.Groups) != len(user.Groups) || id.DisplayName != user.Name ||
				id.NameID != user.ID || id.IdP != idp.EntityID() || id.SessionNotOnOrAfter.Before(e.clock.Now().Add(time.Hour)) {
				t.Errorf("identity = %+v", id)
			}
		})
	}
}
