package samlverify

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tfgate/tfgate/samlverify/internal/fixture"
)

// signedLogout returns the default LogoutRequest adjusted by mod, signed
// by the fixture IdP (enveloped), base64 for the HTTP-POST binding.
func signedLogout(tb testing.TB, mod func(*fixture.Logout)) string {
	tb.Helper()
	l := fixture.DefaultLogout()
	if mod != nil {
		mod(&l)
	}
	return fixture.Encode(tb, fixture.Sign(tb, l.Element(), fixture.IdPKey(tb), fixture.SignOptions{}))
}

// redirectLogout returns the default LogoutRequest adjusted by mod as a
// signed HTTP-Redirect query with relayState.
func redirectLogout(tb testing.TB, mod func(*fixture.Logout), relayState string) string {
	tb.Helper()
	l := fixture.DefaultLogout()
	if mod != nil {
		mod(&l)
	}
	return fixture.RedirectQuery(tb, "SAMLRequest", fixture.Deflate(tb, l.Element()), relayState,
		fixture.IdPKey(tb).Key, fixture.SigAlgRSASHA256)
}

func wantLogoutReason(tb testing.TB, req *LogoutRequest, err error, want Reason) {
	tb.Helper()
	if req != nil {
		tb.Errorf("request returned with error %v", err)
	}
	if got := ReasonOf(err); got != want {
		tb.Fatalf("reason = %q (cause: %v), want %q", got, unwrap(err), want)
	}
	if Advice(err) == "" {
		tb.Errorf("no advice for %v", err)
	}
}

func TestVerifyLogoutPOST(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	msg := signedLogout(t, func(l *fixture.Logout) { l.SessionIndexes = []string{"_s1", "_s2"} })
	req, reply, err := e.v.VerifyLogoutPOST(ctx, msg, "relay-1", fixture.SLOURL)
	if err != nil {
		t.Fatalf("VerifyLogoutPOST: %v (%v)", err, unwrap(err))
	}
	if req.ID != "_logout-0001" || req.IdP != fixture.IdPEntityID || req.NameID != "alice@example.test" ||
		req.NameIDFormat != fixture.EmailFormat || !slices.Equal(req.SessionIndexes, []string{"_s1", "_s2"}) || req.Binding != BindingPOST {
		t.Errorf("request = %+v", req)
	}
	if reply.IdP != e.idp || reply.InResponseTo != "_logout-0001" || reply.RelayState != "relay-1" || reply.Binding != BindingPOST {
		t.Errorf("reply = %+v", reply)
	}
	req, reply, err = e.v.VerifyLogoutPOST(ctx, msg, "", fixture.SLOURL)
	wantLogoutReason(t, req, err, ReasonReplay)
	if reply.InResponseTo != "_logout-0001" || reply.IdP != e.idp {
		t.Errorf("reply of a replay = %+v, want one to answer", reply)
	}
}

func TestVerifyLogoutRedirect(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	q := redirectLogout(t, func(l *fixture.Logout) { l.SessionIndexes = nil }, "back/to?x=1&y")
	req, reply, err := e.v.VerifyLogoutRedirect(ctx, q, fixture.SLOURL)
	if err != nil {
		t.Fatalf("VerifyLogoutRedirect: %v (%v)", err, unwrap(err))
	}
	if req.NameID != "alice@example.test" || len(req.SessionIndexes) != 0 || req.Binding != BindingRedirect {
		t.Errorf("request = %+v", req)
	}
	if reply.RelayState != "back/to?x=1&y" || reply.InResponseTo != req.ID {
		t.Errorf("reply = %+v", reply)
	}
	req, _, err = e.v.VerifyLogoutRedirect(ctx, q, fixture.SLOURL)
	wantLogoutReason(t, req, err, ReasonReplay)
}

// TestVerifyLogoutRedirectOriginalEncoding: the signature covers the query
// as sent. An IdP that percent-encodes in lower case (or more than Go
// does) must verify; re-encoding the decoded values would not.
func TestVerifyLogoutRedirectOriginalEncoding(t *testing.T) {
	e := newEnv(t)
	b64 := fixture.Deflate(t, fixture.DefaultLogout().Element())
	enc := strings.NewReplacer("+", "%2b", "/", "%2f", "=", "%3d").Replace(b64)
	q := "SAMLRequest=" + enc + "&RelayState=%41bc&SigAlg=http%3a%2f%2fwww.w3.org%2f2001%2f04%2fxmldsig-more%23rsa-sha256"
	q += "&Signature=" + strings.NewReplacer("+", "%2B", "/", "%2F", "=", "%3D").Replace(fixture.SignQuery(t, q, fixture.IdPKey(t).Key, fixture.SigAlgRSASHA256))
	_, reply, err := e.v.VerifyLogoutRedirect(context.Background(), "foo=bar&"+q, fixture.SLOURL)
	if err != nil {
		t.Fatalf("VerifyLogoutRedirect: %v (%v)", err, unwrap(err))
	}
	if reply.RelayState != "Abc" {
		t.Errorf("RelayState = %q", reply.RelayState)
	}
}

// TestVerifyLogoutRefusals: every way a LogoutRequest is refused, with
// nothing recorded in the replay cache.
func TestVerifyLogoutRefusals(t *testing.T) {
	other := fixture.OtherKey(t)
	post := func(mod func(*fixture.Logout)) func(testing.TB) (string, bool) {
		return func(tb testing.TB) (string, bool) { return signedLogout(tb, mod), true }
	}
	redir := func(mod func(*fixture.Logout), relay string) func(testing.TB) (string, bool) {
		return func(tb testing.TB) (string, bool) { return redirectLogout(tb, mod, relay), false }
	}
	raw := func(s string, isPost bool) func(testing.TB) (string, bool) {
		return func(testing.TB) (string, bool) { return s, isPost }
	}
	cases := []struct {
		name string
		msg  func(testing.TB) (string, bool) // message, is POST
		want Reason
	}{
		{"post unsigned", func(tb testing.TB) (string, bool) {
			return fixture.Encode(tb, fixture.DefaultLogout().Element()), true
		}, ReasonSignatureMissing},
		{"post signed by another key", func(tb testing.TB) (string, bool) {
			return fixture.Encode(tb, fixture.Sign(tb, fixture.DefaultLogout().Element(), other, fixture.SignOptions{})), true
		}, ReasonUntrustedKey},
		{"post SHA-1", func(tb testing.TB) (string, bool) {
			return fixture.Encode(tb, fixture.Sign(tb, fixture.DefaultLogout().Element(), fixture.IdPKey(tb), fixture.SignOptions{SHA1: true})), true
		}, ReasonSHA1Disabled},
		{"post NameID changed after signing", func(tb testing.TB) (string, bool) {
			el := fixture.Sign(tb, fixture.DefaultLogout().Element(), fixture.IdPKey(tb), fixture.SignOptions{})
			el.SelectElement("NameID").SetText("bob@example.test")
			return fixture.Encode(tb, el), true
		}, ReasonSignatureInvalid},
		{"post wrapped: signed request moved into an unsigned one", func(tb testing.TB) (string, bool) {
			signed := fixture.Sign(tb, fixture.DefaultLogout().Element(), fixture.IdPKey(tb), fixture.SignOptions{})
			l := fixture.DefaultLogout()
			l.ID, l.NameID = "_evil", "bob@example.test"
			outer := l.Element()
			outer.AddChild(signed)
			return fixture.Encode(tb, outer), true
		}, ReasonSignatureMissing},
		{"post wrong destination", post(func(l *fixture.Logout) { l.Destination = "https://sp.example.test/saml/acs" }), ReasonWrongDestination},
		{"post no destination", post(func(l *fixture.Logout) { l.Destination = "" }), ReasonWrongDestination},
		{"post unknown issuer", post(func(l *fixture.Logout) { l.Issuer = "https://evil.example.test" }), ReasonUnknownIdP},
		{"post no issuer", post(func(l *fixture.Logout) { l.Issuer = "" }), ReasonWrongIssuer},
		{"post issued 6 minutes ago", post(func(l *fixture.Logout) {
			l.IssueInstant, l.NotOnOrAfter = fixture.T0.Add(-6*time.Minute-DefaultSkew), time.Time{}
		}), ReasonExpired},
		{"post past NotOnOrAfter", post(func(l *fixture.Logout) {
			l.IssueInstant, l.NotOnOrAfter = fixture.T0.Add(-3*time.Minute), fixture.T0.Add(-2*time.Minute)
		}), ReasonExpired},
		{"post issued in the future", post(func(l *fixture.Logout) { l.IssueInstant = fixture.T0.Add(10 * time.Minute) }), ReasonNotYetValid},
		{"post no IssueInstant", post(func(l *fixture.Logout) { l.IssueInstant = time.Time{} }), ReasonMalformed},
		{"post version 1.1", post(func(l *fixture.Logout) { l.Version = "1.1" }), ReasonUnsupported},
		{"post empty NameID", post(func(l *fixture.Logout) { l.NameID = "" }), ReasonMalformed},
		{"post too many SessionIndexes", post(func(l *fixture.Logout) {
			l.SessionIndexes = slices.Repeat([]string{"_s"}, 33)
		}), ReasonMalformed},
		{"post a Response", func(tb testing.TB) (string, bool) {
			return fixture.Encode(tb, fixture.Sign(tb, fixture.Default().Response(), fixture.IdPKey(tb), fixture.SignOptions{})), true
		}, ReasonMalformed},
		{"post DTD", raw("PD94bWwgdmVyc2lvbj0iMS4wIj8+PCFET0NUWVBFIHIgWzwhRU5USVRZIGEgImIiPl0+PHI+JmE7PC9yPg==", true), ReasonDoctype},
		{"post not base64", raw("!!!", true), ReasonMalformed},
		{"redirect unsigned", func(tb testing.TB) (string, bool) {
			return fixture.RedirectQuery(tb, "SAMLRequest", fixture.Deflate(tb, fixture.DefaultLogout().Element()), "r", nil, ""), false
		}, ReasonSignatureMissing},
		{"redirect SHA-1", func(tb testing.TB) (string, bool) {
			return fixture.RedirectQuery(tb, "SAMLRequest", fixture.Deflate(tb, fixture.DefaultLogout().Element()), "", fixture.IdPKey(tb).Key, fixture.SigAlgRSASHA1), false
		}, ReasonSHA1Disabled},
		{"redirect unknown SigAlg", func(tb testing.TB) (string, bool) {
			return fixture.RedirectQuery(tb, "SAMLRequest", fixture.Deflate(tb, fixture.DefaultLogout().Element()), "", fixture.IdPKey(tb).Key, "urn:x"), false
		}, ReasonUnsupportedAlgorithm},
		{"redirect signed by another key", func(tb testing.TB) (string, bool) {
			return fixture.RedirectQuery(tb, "SAMLRequest", fixture.Deflate(tb, fixture.DefaultLogout().Element()), "", other.Key, fixture.SigAlgRSASHA256), false
		}, ReasonSignatureInvalid},
		{"redirect RelayState changed", func(tb testing.TB) (string, bool) {
			return strings.Replace(redirectLogout(tb, nil, "safe"), "RelayState=safe", "RelayState=evil", 1), false
		}, ReasonSignatureInvalid},
		{"redirect RelayState dropped", func(tb testing.TB) (string, bool) {
			return strings.Replace(redirectLogout(tb, nil, "safe"), "&RelayState=safe", "", 1), false
		}, ReasonSignatureInvalid},
		{"redirect repeated SAMLRequest", func(tb testing.TB) (string, bool) {
			q := redirectLogout(tb, nil, "")
			return q + "&SAMLRequest=" + strings.Split(strings.Split(q, "SAMLRequest=")[1], "&")[0], false
		}, ReasonMalformed},
		{"redirect wrong destination", redir(func(l *fixture.Logout) { l.Destination = "https://elsewhere.example.test/slo" }, ""), ReasonWrongDestination},
		{"redirect expired", redir(func(l *fixture.Logout) { l.NotOnOrAfter = fixture.T0.Add(-2 * time.Minute) }, ""), ReasonExpired},
		{"redirect not deflated", func(tb testing.TB) (string, bool) {
			return fixture.RedirectQuery(tb, "SAMLRequest", fixture.Encode(tb, fixture.DefaultLogout().Element()), "", fixture.IdPKey(tb).Key, fixture.SigAlgRSASHA256), false
		}, ReasonMalformed},
		{"redirect deflate bomb", func(tb testing.TB) (string, bool) {
			return fixture.RedirectQuery(tb, "SAMLRequest", fixture.DeflateBytes(tb, []byte("<a>"+strings.Repeat(" ", 10<<20)+"</a>")), "", fixture.IdPKey(tb).Key, fixture.SigAlgRSASHA256), false
		}, ReasonTooLarge},
		{"redirect no SAMLRequest", raw("RelayState=x", false), ReasonMalformed},
		{"redirect bad escape", raw("SAMLRequest=%zz", false), ReasonMalformed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			before := len(e.store.seen)
			msg, isPost := c.msg(t)
			var req *LogoutRequest
			var err error
			if isPost {
				req, _, err = e.v.VerifyLogoutPOST(context.Background(), msg, "", fixture.SLOURL)
			} else {
				req, _, err = e.v.VerifyLogoutRedirect(context.Background(), msg, fixture.SLOURL)
			}
			wantLogoutReason(t, req, err, c.want)
			if len(e.store.seen) != before {
				t.Errorf("a refused request was recorded in the replay cache")
			}
		})
	}
}

// TestVerifyLogoutAllowSHA1: saml.allow_sha1 applies to logout too.
func TestVerifyLogoutAllowSHA1(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.AllowSHA1 = true })
	q := fixture.RedirectQuery(t, "SAMLRequest", fixture.Deflate(t, fixture.DefaultLogout().Element()), "", fixture.IdPKey(t).Key, fixture.SigAlgRSASHA1)
	if _, _, err := e.v.VerifyLogoutRedirect(context.Background(), q, fixture.SLOURL); err != nil {
		t.Fatalf("SHA-1 with AllowSHA1: %v (%v)", err, unwrap(err))
	}
}

// TestVerifyLogoutKeyRollover: a request signed by the IdP's second key
// (redirect signatures carry no certificate) verifies.
func TestVerifyLogoutKeyRollover(t *testing.T) {
	e := newEnv(t)
	e.idp.SigningCerts = []*x509.Certificate{fixture.IdPKey(t).Cert, fixture.NextIdPKey(t).Cert}
	q := fixture.RedirectQuery(t, "SAMLRequest", fixture.Deflate(t, fixture.DefaultLogout().Element()), "", fixture.NextIdPKey(t).Key, fixture.SigAlgRSASHA256)
	if _, _, err := e.v.VerifyLogoutRedirect(context.Background(), q, fixture.SLOURL); err != nil {
		t.Fatalf("second key: %v (%v)", err, unwrap(err))
	}
}

// TestVerifyLogoutStoreDown: a replay cache that cannot answer is
// ReasonUnavailable, never success.
func TestVerifyLogoutStoreDown(t *testing.T) {
	e := newEnv(t)
	v, err := New(e.v.cfg, e.v.idps, errStore{})
	if err != nil {
		t.Fatal(err)
	}
	req, _, err := v.VerifyLogoutPOST(context.Background(), signedLogout(t, nil), "", fixture.SLOURL)
	wantLogoutReason(t, req, err, ReasonUnavailable)
}

// FuzzVerifyLogout feeds the LogoutRequest parser attacker bytes in both
// bindings: doc as the XML of an HTTP-POST SAMLRequest, and query as a
// whole HTTP-Redirect query string. Invariants: no panic or hang; every
// error is an *Error with a known reason and no request; a success can
// only be the request the IdP signed.
func FuzzVerifyLogout(f *testing.F) {
	l := fixture.DefaultLogout()
	signed := fixture.Bytes(f, fixture.Sign(f, l.Element(), fixture.IdPKey(f), fixture.SignOptions{}))
	f.Add(signed, redirectLogout(f, nil, "relay"))
	f.Add(fixture.Bytes(f, l.Element()), fixture.RedirectQuery(f, "SAMLRequest", fixture.Deflate(f, l.Element()), "", nil, ""))
	f.Add([]byte(`<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "b">]><r>&a;</r>`), "SAMLRequest=%zz&SigAlg=&Signature=")
	f.Add([]byte("<a><b></a>"), "SAMLRequest=&SAMLRequest=&RelayState")
	base := newEnv(f)
	f.Fuzz(func(t *testing.T, doc []byte, query string) {
		store := newMemCache(base.clock.Now)
		v, err := New(base.v.cfg, base.v.idps, store)
		if err != nil {
			t.Fatal(err)
		}
		req, _, err := v.VerifyLogoutPOST(context.Background(), base64.StdEncoding.EncodeToString(doc), "", fixture.SLOURL)
		checkLogoutOutcome(t, req, err)
		req, _, err = v.VerifyLogoutRedirect(context.Background(), query, fixture.SLOURL)
		checkLogoutOutcome(t, req, err)
	})
}

func checkLogoutOutcome(t *testing.T, req *LogoutRequest, err error) {
	if err != nil {
		if req != nil || messages[ReasonOf(err)] == "" {
			t.Fatalf("bad failure: request %v, error %T %v", req, err, err)
		}
		return
	}
	if req == nil || req.ID != "_logout-0001" || req.NameID != "alice@example.test" || req.IdP != fixture.IdPEntityID ||
		!slices.Equal(req.SessionIndexes, []string{"_session-1"}) {
		t.Fatalf("success with a request the IdP did not sign: %+v", req)
	}
}
