package session

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Operator functions: list and revoke sessions by subject, group or handle,
// and count what the store holds. They run from `extauthz sessions` against
// the servers' Redis and know no token: they work from the revocation
// indexes, which hold handles and token hashes only. They are bounded by
// the caller's context alone, not by Timeout: they may touch many keys.

// Info is what an operator can learn about a stored session: no token and,
// without the token, no identity beyond the name asked for and the
// session's metadata record (meta.go).
type Info struct {
	// Handle is the session's x-tfgate-session handle, as in the decision
	// log.
	Handle string
	// ExpiresAt is the session's absolute end.
	ExpiresAt time.Time
	// KeyExpiresAt is when Redis will drop the session: ExpiresAt, or
	// sooner when an idle timeout runs.
	KeyExpiresAt time.Time
	// Meta is the session's metadata record: its kind, IdP, creation, last
	// use (zero when not recorded) and groups. HasMeta is false for a
	// session stored before records existed, or one whose record does not
	// open.
	Meta    Meta
	HasMeta bool
}

// SessionsOf lists the live sessions of subject (the SAML NameID), soonest
// to expire first.
func (r *Redis) SessionsOf(ctx context.Context, subject string) ([]Info, error) {
	entries, err := r.client.ZRangeWithScores(ctx, subjectKey(r.prefix, subject), 0, -1).Result()
	if err != nil {
		return nil, fmt.Errorf("session: reading the index of a subject: %w", err)
	}
	refs := make([]ref, 0, len(entries))
	scores := make([]float64, 0, len(entries))
	for _, e := range entries {
		if m, ok := e.Member.(string); ok {
			if ref, ok := parseMember(m); ok {
				refs = append(refs, ref)
				scores = append(scores, e.Score)
			}
		}
	}
	pipe := r.client.Pipeline()
	ttls := make([]*redis.DurationCmd, len(refs))
	metas := make([]*redis.StringCmd, len(refs))
	for i, ref := range refs {
		ttls[i] = pipe.PTTL(ctx, sessionKey(r.prefix, ref))
		metas[i] = pipe.Get(ctx, metaKey(r.prefix, ref.handle))
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		r.noteError(ctx, err)
		return nil, fmt.Errorf("session: reading session expiries: %w", err)
	}
	now := r.now()
	var out []Info
	for i, ref := range refs {
		ttl := ttls[i].Val()
		if ttl <= 0 {
			continue // gone: deleted, or idle past its timeout
		}
		in := Info{
			Handle:       ref.handle,
			ExpiresAt:    time.UnixMilli(int64(scores[i])),
			KeyExpiresAt: now.Add(ttl).Truncate(time.Millisecond),
		}
		if b, err := metas[i].Bytes(); err == nil {
			if m, err := openMeta(subject, ref.handle, b); err == nil {
				in.Meta, in.HasMeta = m, true
			}
		}
		out = append(out, in)
	}
	return out, nil
}

// RevokeSubject deletes every session of subject (the SAML NameID), with
// the tokens minted from them, and returns how many there were. Tokens
// carry their sign-in's subject, so they are listed and deleted too.
func (r *Redis) RevokeSubject(ctx context.Context, subject string) (int, error) {
	return r.revokeIndex(ctx, subjectKey(r.prefix, subject), true)
}

// RevokeGroup deletes every session of a member of group, as asserted when
// the session was created, with the tokens minted from them (which carry
// the same groups), and returns how many there were.
func (r *Redis) RevokeGroup(ctx context.Context, group string) (int, error) {
	return r.revokeIndex(ctx, groupKey(r.prefix, group), true)
}

// RevokeHandle deletes the session with this x-tfgate-session handle and
// every token minted from it, and reports whether the session was there.
// The tokens are revoked even when it was not (it may have idled out).
func (r *Redis) RevokeHandle(ctx context.Context, handle string) (bool, error) {
	if !IsHandle(handle) {
		return false, fmt.Errorf("session: %q is not a session handle (16 hex digits)", handle)
	}
	if err := r.markRevoked(ctx, handle); err != nil {
		return false, fmt.Errorf("session: revoking session %s: %w", handle, err)
	}
	found, err := r.revokeByHandle(ctx, handle)
	if err != nil {
		return found, err
	}
	if _, err := r.revokeIndex(ctx, familyKey(r.prefix, handle), false); err != nil {
		return found, fmt.Errorf("session: revoking the tokens of session %s: %w", handle, err)
	}
	if err := r.markRevoked(ctx, handle); err != nil { // from now on (family.go)
		return found, fmt.Errorf("session: revoking session %s: %w", handle, err)
	}
	return found, nil
}

// revokeByHandle deletes the session a handle key names, if any.
func (r *Redis) revokeByHandle(ctx context.Context, handle string) (bool, error) {
	hash, err := r.client.Get(ctx, handleKey(r.prefix, handle)).Result()
	if errors.Is(err, redis.Nil) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("session: reading handle %s: %w", handle, err)
	}
	if !isHex(hash, hashLen) {
		return false, fmt.Errorf("session: handle %s: %w", handle, ErrCorrupt)
	}
	found, err := r.deleteRef(ctx, ref{hash: hash, handle: handle})
	if err != nil {
		return found, fmt.Errorf("session: revoking session %s: %w", handle, err)
	}
	return found, nil
}

// revokeIndex deletes the sessions an index lists, then removes exactly
// those members: a session created meanwhile stays listed, and so stays
// revocable.
//
// With families, every listed session's handle is first tombstoned as a
// family (family.go), then the index is read again and its sessions
// deleted: a token being minted from a listed session meanwhile is either
// refused by its tombstone or listed by the time of the second read.
// Families are named by handles of sessions that head them (a browser
// session, an assertion exchange's first refresh token), which carry the
// subject and groups of every token in the family.
func (r *Redis) revokeIndex(ctx context.Context, index string, families bool) (int, error) {
	var heads []string
	if families {
		var err error
		if heads, err = r.markListed(ctx, index); err != nil {
			return 0, err
		}
	}
	members, err := r.client.ZRange(ctx, index, 0, -1).Result()
	if err != nil {
		return 0, fmt.Errorf("session: reading a revocation index: %w", err)
	}
	revoked := 0
	var done []any
	for _, m := range members {
		ref, ok := parseMember(m)
		if ok {
			found, err := r.deleteRef(ctx, ref)
			if err != nil {
				return revoked, fmt.Errorf("session: revoking session %s: %w", ref.handle, err)
			}
			if found {
				revoked++
			}
		}
		done = append(done, m)
	}
	if len(done) > 0 {
		if err := r.client.ZRem(ctx, index, done...).Err(); err != nil {
			return revoked, fmt.Errorf("session: updating a revocation index: %w", err)
		}
	}
	// The tombstones again, to last from now (family.go).
	if err := r.markAllRevoked(ctx, heads); err != nil {
		return revoked, fmt.Errorf("session: revoking the tokens of listed sessions: %w", err)
	}
	return revoked, nil
}

// markListed tombstones the families headed by the sessions an index
// lists, and returns their names.
func (r *Redis) markListed(ctx context.Context, index string) ([]string, error) {
	members, err := r.client.ZRange(ctx, index, 0, -1).Result()
	if err != nil {
		return nil, fmt.Errorf("session: reading a revocation index: %w", err)
	}
	handles := make([]string, 0, len(members))
	for _, m := range members {
		if ref, ok := parseMember(m); ok {
			handles = append(handles, ref.handle)
		}
	}
	if err := r.markAllRevoked(ctx, handles); err != nil {
		return nil, fmt.Errorf("session: revoking the tokens of listed sessions: %w", err)
	}
	return handles, nil
}

// Stats counts what a store holds. Counting scans every key under the
// prefix on every master, so it costs time proportional to the keyspace.
type Stats struct {
	// Sessions, Handles, Subjects, Groups and Families count sessions
	// (browser sessions and the token endpoint's tokens and records),
	// handle keys and revocation indexes; SAML the single logout indexes
	// (slo.go: one per IdP and NameID, one per IdP session index); Revoked the tombstones of
	// recently revoked families; Requests and Replays the remembered
	// AuthnRequest IDs (and the token endpoint's one-time codes) and the
	// replay cache (assertions, and used refresh tokens); Other keys under
	// the prefix that are none of these.
	// Metas the sessions' metadata records.
	Sessions, Handles, Metas, Subjects, Groups, Families, Revoked, SAML, Requests, Replays, Other int
	// Subscribers is how many connections listen for invalidations: about
	// one per running tfgate replica with a cache.
	Subscribers int
	// Masters is how many Redis masters were scanned.
	Masters int
}

// Stats scans the store.
func (r *Redis) Stats(ctx context.Context) (Stats, error) {
	var (
		mu  sync.Mutex
		st  Stats
		err error
	)
	scan := func(ctx context.Context, c *redis.Client) error {
		local, err := r.scanNode(ctx, c)
		if err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		st.add(local)
		return nil
	}
	switch c := r.client.(type) {
	case *redis.ClusterClient:
		err = c.ForEachMaster(ctx, scan)
	case *redis.Client:
		err = scan(ctx, c)
	default:
		err = fmt.Errorf("unsupported client %T", r.client)
	}
	if err != nil {
		return Stats{}, fmt.Errorf("session: counting keys: %w", err)
	}
	return st, nil
}

func (r *Redis) scanNode(ctx context.Context, c *redis.Client) (Stats, error) {
	st := Stats{Masters: 1}
	iter := c.Scan(ctx, 0, r.prefix+"*", 1000).Iterator()
	for iter.Next(ctx) {
		st.count(strings.TrimPrefix(iter.Val(), r.prefix))
	}
	if err := iter.Err(); err != nil {
		return Stats{}, err
	}
	subs, err := c.PubSubNumSub(ctx, channel(r.prefix)).Result()
	if err != nil {
		return Stats{}, err
	}
	st.Subscribers = int(subs[channel(r.prefix)])
	return st, nil
}

func (st *Stats) count(rest string) {
	counters := [...]*int{
		kindSession: &st.Sessions, kindHandle: &st.Handles, kindRequest: &st.Requests,
		kindReplay: &st.Replays, kindSubject: &st.Subjects, kindGroup: &st.Groups,
		kindFamily: &st.Families, kindRevoked: &st.Revoked, kindSAML: &st.SAML,
		kindMeta: &st.Metas,
	}
	for k, p := range kindPrefixes {
		if strings.HasPrefix(rest, p) {
			*counters[k]++
			return
		}
	}
	st.Other++
}

func (st *Stats) add(o Stats) {
	st.Sessions += o.Sessions
	st.Handles += o.Handles
	st.Metas += o.Metas
	st.Subjects += o.Subjects
	st.Groups += o.Groups
	st.Families += o.Families
	st.Revoked += o.Revoked
	st.SAML += o.SAML
	st.Requests += o.Requests
	st.Replays += o.Replays
	st.Other += o.Other
	st.Subscribers += o.Subscribers
	st.Masters += o.Masters
}
