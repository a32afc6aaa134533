package sp

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// jar is a cookie jar for one browser: what the SP sets, it sends.
type jar map[string]*http.Cookie

func (b jar) keep(rec *httptest.ResponseRecorder) {
	for _, c := range rec.Result().Cookies() {
		if c.MaxAge < 0 {
			delete(b, c.Name)
		} else {
			b[c.Name] = c
		}
	}
}

func (b jar) list() []*http.Cookie {
	out := make([]*http.Cookie, 0, len(b))
	for _, c := range b {
		out = append(out, c)
	}
	return out
}

// startIn runs GET /saml/login in browser br and returns the request ID
// and RelayState.
func (e *env) startIn(t *testing.T, br jar, query string) (id, relay string) {
	t.Helper()
	req := httptest.NewRequest("GET", LoginPath+"?"+query, nil)
	for _, c := range br.list() {
		req.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
	}
	rec := e.do(req)
	if rec.Code != http.StatusFound {
		t.Fatalf("login: %d", rec.Code)
	}
	br.keep(rec)
	loc, _ := url.Parse(rec.Header().Get("Location"))
	return inflate(t, loc.Query().Get("SAMLRequest")).SelectAttrValue("ID", ""), loc.Query().Get("RelayState")
}

// finishIn posts samlResponse to the ACS from browser br.
func (e *env) finishIn(br jar, samlResponse, relay string) *httptest.ResponseRecorder {
	form := url.Values{"SAMLResponse": {samlResponse}}
	if relay != "" {
		form.Set("RelayState", relay)
	}
	rec := e.do(acsRequest(form, br.list()...))
	br.keep(rec)
	return rec
}

// TestTwoTabsSignIn (issue 14 item 4): two tabs of one browser start
// sign-ins before either finishes; both finish, each back where it started,
// in either order. (Before, the second /saml/login overwrote the one
// binding cookie, and the first tab's Response was refused.)
func TestTwoTabsSignIn(t *testing.T) {
	t.Parallel()
	for name, firstFinishes := range map[string]int{"in order": 0, "reverse order": 1} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			br := jar{}
			var ids, relays [2]string
			ids[0], relays[0] = e.startIn(t, br, "return_to=/tab-one")
			ids[1], relays[1] = e.startIn(t, br, "return_to=/tab-two")
			for _, i := range []int{firstFinishes, 1 - firstFinishes} {
				rec := e.finishIn(br, response(t, ids[i], nil), relays[i])
				if rec.Code != http.StatusSeeOther {
					t.Fatalf("tab %d: %d\n%s", i+1, rec.Code, e.logs)
				}
				mustEqual(t, "tab destination", rec.Header().Get("Location"), []string{"/tab-one", "/tab-two"}[i])
			}
			for name := range br {
				if strings.HasPrefix(name, e.h.bindingCookiePrefix()) {
					t.Errorf("binding cookie %s left after both sign-ins", name)
				}
			}
		})
	}
}

// TestPendingSignInsBounded: a browser keeps at most maxPending pending
// sign-ins, the oldest dropped first; the newest still finish.
func TestPendingSignInsBounded(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	br := jar{}
	var ids []string
	for range maxPending + 3 {
		id, _ := e.startIn(t, br, "")
		ids = append(ids, id)
		e.fake.Advance(1e9)
	}
	if n := len(br); n != maxPending {
		t.Errorf("%d binding cookies kept, want %d", n, maxPending)
	}
	if rec := e.finishIn(br, response(t, ids[0], nil), ""); rec.Code != http.StatusForbidden {
		t.Errorf("oldest sign-in: %d, want 403 (dropped)", rec.Code)
	}
	if rec := e.finishIn(br, response(t, ids[len(ids)-1], nil), ""); rec.Code != http.StatusSeeOther {
		t.Errorf("newest sign-in: %d\n%s", rec.Code, e.logs)
	}
}

// TestWrongBindingBurnsNothing (issue 8 item 4): a valid Response posted
// with the wrong binding cookie is refused before verification records
// anything, so it still signs in the browser it belongs to. (Before, the
// ACS compared InResponseTo after verification had consumed the request
// ID and recorded the assertion ID, so the rightful post then failed.)
func TestWrongBindingBurnsNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	victim := e.login(t, "return_to=/mine")
	attacker := e.login(t, "")
	resp := response(t, victim.requestID, nil)
	rec := e.do(acsRequest(url.Values{"SAMLResponse": {resp}}, attacker.binding))
	mustEqual(t, "with the wrong binding", rec.Code, http.StatusForbidden)
	mustEqual(t, "store writes after the refusal", e.store.writes(), 0)
	rec = e.do(acsRequest(url.Values{"SAMLResponse": {resp}, "RelayState": {victim.relayState}}, victim.binding))
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/mine" {
		t.Errorf("rightful post after the refused one: %d %v\n%s", rec.Code, rec.Header(), e.logs)
	}
}

// TestRequestAnsweredOnce: a second, different Response to the same
// request, with its binding cookie kept, is refused.
func TestRequestAnsweredOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	l := e.login(t, "")
	if rec := e.do(acsRequest(url.Values{"SAMLResponse": {response(t, l.requestID, nil)}}, l.binding)); rec.Code != http.StatusSeeOther {
		t.Fatalf("first: %d", rec.Code)
	}
	rec := e.do(acsRequest(url.Values{"SAMLResponse": {response(t, l.requestID, nil)}}, l.binding))
	mustEqual(t, "second Response to one request", rec.Code, http.StatusForbidden)
	if !strings.Contains(e.logs.String(), "answered before") {
		t.Errorf("log: %s", e.logs)
	}
}
