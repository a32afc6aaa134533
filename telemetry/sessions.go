package telemetry

import (
	"context"

	"github.com/tfgate/tfgate/authz"
)

// sessionNote is where a session store behind the local cache notes that it
// was asked, so the session span can say which store served the lookup.
type sessionNote struct{ from string }

type sessionNoteKey struct{}

func (n *sessionNote) source() string {
	if n == nil || n.from == "" {
		return "cache"
	}
	return n.from
}

// SessionSource marks lookups that reach store as served by name ("redis",
// "memory") in the session span; lookups answered before reaching it (by
// the local cache) are marked "cache". Wrap the store behind the cache.
func SessionSource(store authz.SessionStore, name string) authz.SessionStore {
	return sourceStore{store, name}
}

type sourceStore struct {
	authz.SessionStore
	name string
}

func (s sourceStore) Lookup(ctx context.Context, token string) (authz.Session, error) {
	if n, ok := ctx.Value(sessionNoteKey{}).(*sessionNote); ok {
		n.from = s.name
	}
	return s.SessionStore.Lookup(ctx, token)
}
