package samlverify

import (
	"context"
	"errors"
	"strings"
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
			idp, v := e.trustDevIdP(t, cfg)
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

// TestDevIdPLogout verifies the development IdP's LogoutRequests in both
// bindings, trusting it through its own metadata; unsigned ones are
// refused.
func TestDevIdPLogout(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	k := fixture.IdPKey(t)
	idp, v := e.trustDevIdP(t, devidp.Config{
		BaseURL: "http://127.0.0.1:9999", Key: k.Key, Cert: k.Cert, Now: e.clock.Now,
		SPs: []devidp.SP{{EntityID: fixture.SPEntityID, ACSURLs: []string{fixture.ACSURL}}},
	})
	opts := devidp.LogoutOptions{Destination: fixture.SLOURL, NameID: "alice", SessionIndexes: []string{"_s"}, RelayState: "r"}
	u, err := idp.LogoutRedirectURL(opts)
	if err != nil {
		t.Fatal(err)
	}
	req, reply, err := v.VerifyLogoutRedirect(context.Background(), strings.SplitN(u, "?", 2)[1], fixture.SLOURL)
	if err != nil || req.NameID != "alice" || req.IdP != idp.EntityID() || reply.RelayState != "r" || len(req.SessionIndexes) != 1 {
		t.Fatalf("redirect: %+v %+v %v (%v)", req, reply, err, errors.Unwrap(err))
	}
	_, fields, err := idp.LogoutForm(opts)
	if err != nil {
		t.Fatal(err)
	}
	if req, _, err := v.VerifyLogoutPOST(context.Background(), fields.Get("SAMLRequest"), "", fixture.SLOURL); err != nil || req.NameID != "alice" {
		t.Fatalf("post: %+v %v (%v)", req, err, errors.Unwrap(err))
	}
	opts.Unsigned = true
	_, fields, _ = idp.LogoutForm(opts)
	if _, _, err := v.VerifyLogoutPOST(context.Background(), fields.Get("SAMLRequest"), "", fixture.SLOURL); ReasonOf(err) != ReasonSignatureMissing {
		t.Fatalf("unsigned post: %v", err)
	}
}

// trustDevIdP starts no server: it builds a development IdP of cfg and a
// Verifier like e's that trusts it through its own metadata.
func (e *env) trustDevIdP(t *testing.T, cfg devidp.Config) (*devidp.IdP, *Verifier) {
	t.Helper()
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
	return idp, v
}
