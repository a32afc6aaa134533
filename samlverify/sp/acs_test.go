package sp

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tfgate/tfgate/authz"
	"github.com/tfgate/tfgate/samlverify"
	"github.com/tfgate/tfgate/samlverify/internal/fixture"
)

func TestACSSignsIn(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rec, c, l := e.signInLogin(t, "return_to="+url.QueryEscape("/v1/models/half_plus_two/versions/1"))
	mustEqual(t, "Location", rec.Header().Get("Location"), "/v1/models/half_plus_two/versions/1")

	t.Run("session cookie", func(t *testing.T) {
		mustEqual(t, "name", c.Name, "__Host-tfgate")
		mustEqual(t, "Secure", c.Secure, true)
		mustEqual(t, "HttpOnly", c.HttpOnly, true)
		mustEqual(t, "SameSite", c.SameSite, http.SameSiteLaxMode)
		mustEqual(t, "Path", c.Path, "/")
		mustEqual(t, "Domain", c.Domain, "")
		mustEqual(t, "MaxAge", c.MaxAge, int((8 * time.Hour).Seconds()))
		if !strings.HasPrefix(c.Value, authz.TokenPrefix) || len(c.Value) != 47 {
			t.Errorf("token shape: %d bytes", len(c.Value))
		}
	})
	t.Run("binding cookie cleared", func(t *testing.T) {
		b := cookieNamed(rec.Result().Cookies(), l.binding.Name)
		if b == nil || b.MaxAge >= 0 || b.Value != "" || !b.Secure || b.Path != "/" {
			t.Errorf("binding cookie not deleted: %+v", b)
		}
	})
	t.Run("session", func(t *testing.T) {
		s, ok := e.store.session(c.Value)
		if !ok {
			t.Fatal("no session stored under the cookie's token")
		}
		p := fixture.Default()
		mustEqual(t, "Subject", s.Subject, p.NameID)
		mustEqual(t, "Email", s.Email, "alice@example.test")
		mustEqual(t, "Name", s.Name, "Alice Example")
		mustEqual(t, "Groups", strings.Join(s.Groups, ","), "ml-readers,ml-admins")
		mustEqual(t, "IdP", s.IdP, fixture.IdPEntityID)
		mustEqual(t, "CreatedAt", s.CreatedAt, fixture.T0)
		mustEqual(t, "ExpiresAt", s.ExpiresAt, fixture.T0.Add(8*time.Hour))
		mustEqual(t, "SessionIndex", s.SessionIndex, "_session-1")
		mustEqual(t, "NameIDFormat", s.NameIDFormat, fixture.EmailFormat)
	})
	t.Run("log", func(t *testing.T) {
		log := e.logs.String()
		if !strings.Contains(log, "saml: signed in") || !strings.Contains(log, "session="+authz.SessionHandle(c.Value)) {
			t.Errorf("no sign-in line with the session handle: %s", log)
		}
		for _, secret := range []string{c.Value, fixture.Default().NameID, "alice@example.test"} {
			if strings.Contains(log, secret) {
				t.Errorf("log contains a secret or personal data (%s)", fingerprint(secret))
			}
		}
	})
}

// TestSessionLifetime: the session ends at the sooner of SessionLifetime
// and the IdP's SessionNotOnOrAfter.
func TestSessionLifetime(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		lifetime, idp, want time.Duration // idp 0: no SessionNotOnOrAfter
	}{
		"default 8h, IdP 8h":      {0, 8 * time.Hour, 8 * time.Hour},
		"IdP sooner":              {0, time.Hour, time.Hour},
		"lifetime sooner":         {2 * time.Hour, 8 * time.Hour, 2 * time.Hour},
		"no SessionNotOnOrAfter":  {3 * time.Hour, 0, 3 * time.Hour},
		"IdP far later than ours": {time.Hour, 24 * time.Hour, time.Hour},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, func(c *Config, _ *[]*samlverify.IdP) { c.SessionLifetime = tc.lifetime })
			l := e.login(t, "")
			resp := response(t, l.requestID, func(p *fixture.Params) {
				p.SessionNotOnOrAfter = time.Time{}
				if tc.idp > 0 {
					p.SessionNotOnOrAfter = fixture.T0.Add(tc.idp)
				}
			})
			rec := e.do(acsRequest(url.Values{"SAMLResponse": {resp}}, l.binding))
			c := cookieNamed(rec.Result().Cookies(), "__Host-tfgate")
			if c == nil {
				t.Fatalf("%d %s", rec.Code, e.logs)
			}
			s, _ := e.store.session(c.Value)
			mustEqual(t, "ExpiresAt", s.ExpiresAt, fixture.T0.Add(tc.want))
			mustEqual(t, "cookie MaxAge", c.MaxAge, int(tc.want.Seconds()))
		})
	}
}

// TestACSRefuses runs the ACS on responses and requests it must refuse,
// each against a fresh login.
func TestACSRefuses(t *testing.T) {
	t.Parallel()
	type call struct {
		form    url.Values
		cookies []*http.Cookie
	}
	tests := map[string]struct {
		prepare    func(t *testing.T, e *env, l login) call
		status     int
		reason     string
		consumedID bool // the login's request ID is gone afterwards
	}{
		"no binding cookie": {
			prepare: func(t *testing.T, _ *env, l login) call {
				return call{form: url.Values{"SAMLResponse": {response(t, l.requestID, nil)}}}
			},
			status: 403, reason: "no_binding",
		},
		"garbled binding cookie": {
			prepare: func(t *testing.T, _ *env, l login) call {
				return call{url.Values{"SAMLResponse": {response(t, l.requestID, nil)}},
					[]*http.Cookie{{Name: l.binding.Name, Value: "x.y.z"}}}
			},
			status: 403, reason: "no_binding",
		},
		"binding cookie derived from the response (the old, unkeyed format)": {
			prepare: func(t *testing.T, _ *env, l login) call {
				// Everything in it is in the Response, so whoever captured an
				// unused Response could make it: it must not open.
				v := l.requestID + "." + base64.RawURLEncoding.EncodeToString([]byte(fixture.IdPEntityID)) + "."
				return call{url.Values{"SAMLResponse": {response(t, l.requestID, nil)}},
					[]*http.Cookie{{Name: "__Host-tfgate-req", Value: v}, {Name: l.binding.Name, Value: v}}}
			},
			status: 403, reason: "no_binding",
		},
		"binding cookie sealed under another key": {
			prepare: func(t *testing.T, e *env, l login) call {
				s, err := newBindingSealer(make([]byte, BindingKeySize))
				if err != nil {
					t.Fatal(err)
				}
				v, err := s.seal(l.binding.Name, binding{RequestID: l.requestID, IdP: fixture.IdPEntityID, Issued: fixture.T0}, zeroReader{})
				if err != nil {
					t.Fatal(err)
				}
				return call{url.Values{"SAMLResponse": {response(t, l.requestID, nil)}}, []*http.Cookie{{Name: l.binding.Name, Value: v}}}
			},
			status: 403, reason: "no_binding",
		},
		"binding cookie moved to another name": {
			prepare: func(t *testing.T, e *env, l login) call {
				other := e.login(t, "")
				return call{url.Values{"SAMLResponse": {response(t, other.requestID, nil)}},
					[]*http.Cookie{{Name: other.binding.Name, Value: l.binding.Value}}}
			},
			status: 403, reason: "no_binding",
		},
		"response to another browser's request (login CSRF)": {
			prepare: func(t *testing.T, e *env, l login) call {
				// The attacker starts a sign-in of their own and posts the
				// Response they get into the victim's browser, which holds
				// the binding cookie of its own request.
				attacker := e.login(t, "")
				return call{url.Values{"SAMLResponse": {response(t, attacker.requestID, nil)}}, []*http.Cookie{l.binding}}
			},
			status: 403, reason: string(samlverify.ReasonUnknownRequest),
		},
		"unsolicited response": {
			prepare: func(t *testing.T, _ *env, l login) call {
				return call{url.Values{"SAMLResponse": {response(t, "", func(p *fixture.Params) { p.InResponseTo, p.SCDInResponseTo = "", "" })}}, []*http.Cookie{l.binding}}
			},
			status: 403, reason: string(samlverify.ReasonUnknownRequest),
		},
		"unknown request ID": {
			prepare: func(t *testing.T, _ *env, l login) call {
				return call{url.Values{"SAMLResponse": {response(t, "_00000000000000000000000000000000", nil)}}, []*http.Cookie{l.binding}}
			},
			status: 403, reason: string(samlverify.ReasonUnknownRequest),
		},
		"binding expired": {
			prepare: func(t *testing.T, e *env, l login) call {
				e.fake.Advance(DefaultRequestTTL)
				return call{url.Values{"SAMLResponse": {response(t, l.requestID, nil)}}, []*http.Cookie{l.binding}}
			},
			status: 403, reason: "no_binding",
		},
		"response from another trusted IdP than the request went to": {
			prepare: func(t *testing.T, e *env, _ login) call {
				l := e.login(t, "idp=other")
				return call{url.Values{"SAMLResponse": {response(t, l.requestID, nil)}}, []*http.Cookie{l.binding}}
			},
			status: 403, reason: string(samlverify.ReasonWrongIssuer),
		},
		"bad signature": {
			prepare: func(t *testing.T, _ *env, l login) call {
				p := fixture.Default()
				p.InResponseTo, p.SCDInResponseTo = l.requestID, l.requestID
				signed := fixture.SignAssertionIn(t, p.Response(), fixture.OtherKey(t), fixture.SignOptions{})
				return call{url.Values{"SAMLResponse": {fixture.Encode(t, signed)}}, []*http.Cookie{l.binding}}
			},
			status: 403, reason: string(samlverify.ReasonUntrustedKey),
		},
		"expired": {
			prepare: func(t *testing.T, _ *env, l login) call {
				return call{url.Values{"SAMLResponse": {response(t, l.requestID, func(p *fixture.Params) {
					p.NotOnOrAfter, p.SCDNotOnOrAfter = fixture.T0.Add(-time.Hour), fixture.T0.Add(-time.Hour)
				})}}, []*http.Cookie{l.binding}}
			},
			status: 403, reason: string(samlverify.ReasonExpired),
		},
		"IdP says no": {
			prepare: func(t *testing.T, _ *env, l login) call {
				return call{url.Values{"SAMLResponse": {response(t, l.requestID, func(p *fixture.Params) {
					p.Status = "urn:oasis:names:tc:SAML:2.0:status:Responder"
				})}}, []*http.Cookie{l.binding}}
			},
			status: 403, reason: string(samlverify.ReasonStatusNotSuccess),
		},
		"not base64": {
			prepare: func(_ *testing.T, _ *env, l login) call {
				return call{url.Values{"SAMLResponse": {"%%%not base64"}}, []*http.Cookie{l.binding}}
			},
			status: 400, reason: string(samlverify.ReasonMalformed),
		},
		"no SAMLResponse": {
			prepare: func(_ *testing.T, _ *env, l login) call {
				return call{url.Values{"RelayState": {"/"}}, []*http.Cookie{l.binding}}
			},
			status: 400, reason: "bad_form",
		},
		"two SAMLResponses": {
			prepare: func(t *testing.T, _ *env, l login) call {
				r := response(t, l.requestID, nil)
				return call{url.Values{"SAMLResponse": {r, r}}, []*http.Cookie{l.binding}}
			},
			status: 400, reason: "bad_form",
		},
		"two RelayStates": {
			prepare: func(t *testing.T, _ *env, l login) call {
				return call{url.Values{"SAMLResponse": {response(t, l.requestID, nil)}, "RelayState": {"/a", "/b"}}, []*http.Cookie{l.binding}}
			},
			status: 400, reason: "bad_form",
		},
		"form too large": {
			prepare: func(_ *testing.T, _ *env, l login) call {
				return call{url.Values{"SAMLResponse": {strings.Repeat("A", DefaultMaxFormBytes)}}, []*http.Cookie{l.binding}}
			},
			status: 413, reason: "form_too_large",
		},
		"store down at the replay check": {
			prepare: func(t *testing.T, e *env, l login) call {
				e.store.failing("SeenBefore", errStore)
				return call{url.Values{"SAMLResponse": {response(t, l.requestID, nil)}}, []*http.Cookie{l.binding}}
			},
			status: 503, reason: string(samlverify.ReasonUnavailable),
		},
		"store down at session creation": {
			prepare: func(t *testing.T, e *env, l login) call {
				e.store.failing("Create", errStore)
				return call{url.Values{"SAMLResponse": {response(t, l.requestID, nil)}}, []*http.Cookie{l.binding}}
			},
			status: 503, reason: "unavailable", consumedID: true,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			l := e.login(t, "return_to=/ok")
			c := tc.prepare(t, e, l)
			rec := e.do(acsRequest(c.form, c.cookies...))
			mustEqual(t, "status", rec.Code, tc.status)
			if rec.Header().Get("Location") != "" || cookieNamed(rec.Result().Cookies(), "__Host-tfgate") != nil {
				t.Errorf("refused, yet redirected or set a session: %v", rec.Header())
			}
			if !strings.Contains(e.logs.String(), "reason="+tc.reason+" ") {
				t.Errorf("log lacks reason=%s: %s", tc.reason, e.logs)
			}
			mustEqual(t, "request ID answered", e.store.answered(l.requestID), tc.consumedID)
			checkErrorPage(t, e, rec.Body.String(), c.form.Get("SAMLResponse"))
		})
	}
}

// checkErrorPage checks that a refusal shows a support reference that is
// in the log, and echoes no part of the message, NameID or cookie.
func checkErrorPage(t *testing.T, e *env, body, samlResponse string) {
	t.Helper()
	_, ref, ok := strings.Cut(body, "Support reference: <code>")
	ref, _, _ = strings.Cut(ref, "</code>")
	if !ok || len(ref) != 16 || !strings.Contains(e.logs.String(), "ref="+ref) {
		t.Errorf("reference %q not on the page or not in the log", ref)
	}
	secrets := []string{fixture.Default().NameID, "Alice Example", "ml-admins"}
	if len(samlResponse) > 40 {
		secrets = append(secrets, samlResponse[:40], samlResponse[len(samlResponse)-40:])
	}
	for _, s := range secrets {
		if strings.Contains(body, s) {
			t.Errorf("error page echoes %s", fingerprint(s))
		}
		if strings.Contains(e.logs.String(), s) {
			t.Errorf("log contains %s", fingerprint(s))
		}
	}
}

// TestACSReplay posts the same Response twice: the second is refused, and
// its binding cookie (now deleted by the first) does not help.
func TestACSReplay(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	l := e.login(t, "")
	form := url.Values{"SAMLResponse": {response(t, l.requestID, nil)}}
	if rec := e.do(acsRequest(form, l.binding)); rec.Code != http.StatusSeeOther {
		t.Fatalf("first post: %d", rec.Code)
	}
	rec := e.do(acsRequest(form, l.binding))
	mustEqual(t, "replay status", rec.Code, http.StatusForbidden)
	if !strings.Contains(e.logs.String(), "reason=replay") {
		t.Errorf("log: %s", e.logs)
	}
	// A second sign-in in the same browser, whose request matches, with the
	// old Response: still a replay.
	l2 := e.login(t, "")
	rec = e.do(acsRequest(form, l2.binding))
	mustEqual(t, "replay with a fresh cookie", rec.Code, http.StatusForbidden)
}

// TestACSReturnTo: the destination is checked again at the ACS, since
// RelayState and the cookie pass through other hands.
func TestACSReturnTo(t *testing.T) {
	t.Parallel()
	long := "/v1/models/" + strings.Repeat("m", 100)
	tests := map[string]struct {
		query      string
		relayState func(l login) string
		want       string
	}{
		"RelayState":                 {"return_to=/a", func(l login) string { return l.relayState }, "/a"},
		"long one from the cookie":   {"return_to=" + url.QueryEscape(long), func(login) string { return "/ignored" }, long},
		"tampered RelayState":        {"return_to=/a", func(login) string { return "https://evil.example/" }, "/"},
		"RelayState lost on the way": {"return_to=/a", func(login) string { return "" }, "/"},
		"loop to login refused":      {"return_to=/a", func(login) string { return "/saml/login" }, "/"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			l := e.login(t, tc.query)
			form := url.Values{"SAMLResponse": {response(t, l.requestID, nil)}}
			if rs := tc.relayState(l); rs != "" {
				form.Set("RelayState", rs)
			}
			rec := e.do(acsRequest(form, l.binding))
			mustEqual(t, "status", rec.Code, http.StatusSeeOther)
			mustEqual(t, "Location", rec.Header().Get("Location"), tc.want)
		})
	}
}

// TestACSConcurrentReplay posts one Response many times at once: exactly
// one sign-in succeeds.
func TestACSConcurrentReplay(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	l := e.login(t, "")
	form := url.Values{"SAMLResponse": {response(t, l.requestID, nil)}}
	codes := make(chan int, 8)
	for range 8 {
		go func() { codes <- e.do(acsRequest(form, l.binding)).Code }()
	}
	var got []int
	for range 8 {
		got = append(got, <-codes)
	}
	slices.Sort(got)
	if got[0] != http.StatusSeeOther || got[1] != http.StatusForbidden {
		t.Errorf("statuses %v: want one 303 and the rest 403", got)
	}
}

// TestSessionCookieDev: over http the session cookie has no prefix and no
// Secure, and is still HttpOnly and SameSite=Lax.
func TestSessionCookieDev(t *testing.T) {
	t.Parallel()
	e := newEnv(t, insecure)
	l := e.login(t, "return_to=/m")
	base := "http://127.0.0.1:8080"
	resp := response(t, l.requestID, func(p *fixture.Params) {
		p.Destination, p.Recipient, p.Audiences = base+ACSPath, base+ACSPath, []string{base + MetadataPath}
	})
	rec := e.do(acsRequest(url.Values{"SAMLResponse": {resp}, "RelayState": {l.relayState}}, l.binding))
	c := cookieNamed(rec.Result().Cookies(), "tfgate")
	if rec.Code != http.StatusSeeOther || c == nil {
		t.Fatalf("%d %v\n%s", rec.Code, rec.Header(), e.logs)
	}
	mustEqual(t, "Secure", c.Secure, false)
	mustEqual(t, "HttpOnly", c.HttpOnly, true)
	mustEqual(t, "SameSite", c.SameSite, http.SameSiteLaxMode)
	mustEqual(t, "Path", c.Path, "/")
	b := cookieNamed(rec.Result().Cookies(), l.binding.Name)
	if b == nil || b.MaxAge >= 0 || b.Secure {
		t.Errorf("binding cookie not deleted: %+v", b)
	}
}
