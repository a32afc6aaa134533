package sp

import (
	"net/http"
	"net/url"
	"slices"
	"sync"
	"testing"

	"github.com/tfgate/tfgate/samlverify"
)

// events records what OnEvent is told.
type events struct {
	mu  sync.Mutex
	got []Event
}

func (e *events) add(ev Event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.got = append(e.got, ev)
}

func (e *events) all() []Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.got)
}

// TestEvents: sign-ins, refused ACS posts, token grants, reuse and
// revocation each reach OnEvent with bounded values only.
func TestEvents(t *testing.T) {
	t.Parallel()
	var ev events
	e := newEnv(t, func(c *Config, _ *[]*samlverify.IdP) { c.OnEvent = ev.add })
	l := e.login(t, "")
	form := url.Values{"SAMLResponse": {response(t, l.requestID, nil)}}
	if rec := e.do(acsRequest(form, l.binding)); rec.Code != http.StatusSeeOther {
		t.Fatalf("sign-in: %d", rec.Code)
	}
	if rec := e.do(acsRequest(form, l.binding)); rec.Code != http.StatusForbidden {
		t.Fatalf("replay: %d", rec.Code)
	}
	_, cookie := e.signIn(t, "")
	first := e.cliLogin(t, cookie, authorizeQuery())
	tokensOf(t, e.refresh(first.RefreshToken, ""))
	oauthErrorOf(t, e.refresh(first.RefreshToken, ""), http.StatusBadRequest)

	got := ev.all()
	for _, want := range []Event{
		{Kind: EventACS, Outcome: "success"},
		{Kind: EventACS, Outcome: "replay"},
		{Kind: EventToken, Grant: GrantAuthorizationCode, Outcome: "success"},
		{Kind: EventToken, Grant: GrantRefreshToken, Outcome: "success"},
		{Kind: EventReuse, Grant: GrantRefreshToken},
		{Kind: EventToken, Grant: GrantRefreshToken, Outcome: errInvalidGrant},
	} {
		if !slices.Contains(got, want) {
			t.Errorf("no event %+v in %+v", want, got)
		}
	}
}
