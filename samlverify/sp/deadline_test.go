package sp

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/tfgate/tfgate/authz"
	"github.com/tfgate/tfgate/samlverify"
)

// deadlineStore records the deadline of every Create's context.
type deadlineStore struct {
	TokenStore
	mu   sync.Mutex
	left []time.Duration // deadline minus the time of the call; -1 for none
}

func (d *deadlineStore) Create(ctx context.Context, token string, s authz.Session) error {
	left := time.Duration(-1)
	if dl, ok := ctx.Deadline(); ok {
		left = time.Until(dl)
	}
	d.mu.Lock()
	d.left = append(d.left, left)
	d.mu.Unlock()
	return d.TokenStore.Create(ctx, token, s)
}

// TestTokensMintedUnderDeadline: every token the SP mints (a CLI code, the
// access and refresh tokens of its exchange, their rotation) is created
// under a deadline of at most RequestTimeout. The session store refuses a
// family member checked after it, which is what lets a revoked family's
// tombstone last only four times RequestTimeout (authz/session).
func TestTokensMintedUnderDeadline(t *testing.T) {
	t.Parallel()
	var ds *deadlineStore
	e := newEnv(t, func(c *Config, _ *[]*samlverify.IdP) {
		ds = &deadlineStore{TokenStore: c.Tokens}
		c.Tokens = ds
	})
	_, cookie := e.signIn(t, "")
	tj := e.cliLogin(t, cookie, authorizeQuery())
	if rec := e.refresh(tj.RefreshToken, ""); rec.Code != 200 {
		t.Fatalf("refresh: %d %s", rec.Code, rec.Body)
	}
	ds.mu.Lock()
	defer ds.mu.Unlock()
	if len(ds.left) < 5 {
		t.Fatalf("%d Creates, want a code and two pairs of tokens", len(ds.left))
	}
	for i, left := range ds.left {
		if left <= 0 || left > RequestTimeout {
			t.Errorf("Create %d had %v left before its deadline, want (0, %v] (-1: no deadline)", i, left, RequestTimeout)
		}
	}
}
