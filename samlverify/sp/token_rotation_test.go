package sp

import (
	"net/http"
	"testing"
	"time"
)

// TestRefreshRotationRateCap (issue 8 item 2): a grant's refresh token is
// rotated at most MaxRotationsPerMinute times a minute; beyond that the
// endpoint answers 429 slow_down and uses nothing up, so the same refresh
// token works a minute later. (Before, nothing limited a client's
// rotations.)
func TestRefreshRotationRateCap(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, cookie := e.signIn(t, "")
	tj := e.cliLogin(t, cookie, authorizeQuery())
	for range DefaultMaxRotationsPerMinute {
		tj = tokensOf(t, e.refresh(tj.RefreshToken, ""))
	}
	rec := e.refresh(tj.RefreshToken, "")
	code, _ := oauthErrorOf(t, rec, http.StatusTooManyRequests)
	mustEqual(t, "error", code, errSlowDown)
	mustEqual(t, "Retry-After", rec.Header().Get("Retry-After"), "60")
	e.fake.Advance(time.Minute)
	tj = tokensOf(t, e.refresh(tj.RefreshToken, ""))
	if !e.live(tj.AccessToken) {
		t.Error("the refresh after the pause did not work")
	}
}

// TestRefreshRotationRetires: a rotation deletes the access token before
// the previous one and the refresh record before the previous one, and
// keeps the previous ones (an access token in flight, the tombstone).
func TestRefreshRotationRetires(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, cookie := e.signIn(t, "")
	t0 := e.cliLogin(t, cookie, authorizeQuery())
	t1 := tokensOf(t, e.refresh(t0.RefreshToken, ""))
	t2 := tokensOf(t, e.refresh(t1.RefreshToken, ""))
	mustEqual(t, "oldest access token live", e.live(t0.AccessToken), false)
	mustEqual(t, "previous access token live", e.live(t1.AccessToken), true)
	mustEqual(t, "current access token live", e.live(t2.AccessToken), true)
	_, old := e.store.session(refreshRecordKey(t0.RefreshToken))
	_, prev := e.store.session(refreshRecordKey(t1.RefreshToken))
	mustEqual(t, "oldest refresh record kept", old, false)
	mustEqual(t, "previous refresh record (tombstone) kept", prev, true)
	// The oldest refresh token is now simply unknown; the previous one
	// is detected as reused.
	code, _ := oauthErrorOf(t, e.refresh(t0.RefreshToken, ""), http.StatusBadRequest)
	mustEqual(t, "oldest", code, errInvalidGrant)
	mustEqual(t, "current still live after an unknown token", e.live(t2.AccessToken), true)
	code, desc := oauthErrorOf(t, e.refresh(t1.RefreshToken, ""), http.StatusBadRequest)
	mustEqual(t, "previous", code+": "+desc, errInvalidGrant+": "+descRefreshUsed)
	mustEqual(t, "current after the reuse", e.live(t2.AccessToken), false)
}
