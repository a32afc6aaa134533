package session

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tfgate/tfgate/authz"
)

// Families. The token endpoint mints access tokens, refresh tokens and
// authorization codes from a sign-in, each a session whose Family names
// where it descends from (authz.Session.Family): a path, "ROOT" or
// "ROOT/GRANT", that belongs to every family it extends ("ROOT/GRANT" is
// in ROOT too). A family is revoked as a whole: ROOT when its browser
// session ends (Delete, RevokeHandle), a grant when its refresh token or
// code is used twice. Families are indexed like subjects and groups
// (f:hash(family), one index per level), so revoking one needs no token.
//
// A family member may be being created while its family is revoked (a
// refresh in flight during a sign-out). Revoking therefore first writes a
// tombstone (fx:hash(family)), and Create, after storing a session with a
// Family, reads it and deletes the session again if it is there. Either the
// tombstone was written before that read, and Create undoes itself, or the
// session was stored and indexed before the tombstone, hence before the
// revocation reads the index, which then deletes it.

// familyLevels returns the families a Family belongs to, outermost first:
// "a/b" is in "a" and "a/b".
func familyLevels(family string) []string {
	var out []string
	for i := range len(family) {
		if family[i] == '/' && i > 0 {
			out = append(out, family[:i])
		}
	}
	return append(out, family)
}

// familyTombstoneTTL is how long a family's tombstone lasts after its
// revocation has finished. The tombstone is read only by Create (checkFamily),
// never by Lookup: the revocation itself deletes every member it finds, so
// a token of the family is dead whether or not the tombstone is still
// there. What the tombstone catches is a member created by a request that
// read its parent (a browser session, a code or refresh record) before the
// revocation deleted it and stored its successor after the revocation read
// the index. Such a request's family check runs before its context's
// deadline, or Create refuses it (checkFamily, pastDeadline), and every
// revocation writes its tombstones again once it has deleted the members,
// so the TTL counts from then. The bound is therefore the minting request's
// deadline: the SP runs every request under sp.RequestTimeout (30s), and
// two minutes leaves four times that. A caller of Create without a
// deadline has no bound; the SP is the only one that mints family members.
const familyTombstoneTTL = 2 * time.Minute

// RevokeFamily deletes every session in family (whose Family is family or
// extends it, "family/...") and keeps new ones from being created in it
// (ErrFamilyRevoked) for familyTombstoneTTL after it ends, on every
// replica's cache at once. It returns how many sessions it deleted.
func (r *Redis) RevokeFamily(ctx context.Context, family string) (int, error) {
	if family == "" {
		return 0, ErrEmptyKey
	}
	if err := r.markRevoked(ctx, family); err != nil {
		return 0, fmt.Errorf("session: revoking a family: %w", err)
	}
	n, err := r.revokeIndex(ctx, familyKey(r.prefix, family), false)
	if err != nil {
		return n, fmt.Errorf("session: revoking a family: %w", err)
	}
	if err := r.markRevoked(ctx, family); err != nil {
		return n, fmt.Errorf("session: revoking a family: %w", err)
	}
	return n, nil
}

// markRevoked writes a family's tombstone, waiting for replicas like any
// write. Revocations call it (or markAllRevoked) twice: before reading
// what to delete, and again after deleting it, so that the tombstone lasts
// familyTombstoneTTL from the last deletion however long the revocation
// took (a group's may take minutes).
func (r *Redis) markRevoked(ctx context.Context, family string) error {
	key := revokedKey(r.prefix, family)
	var set *redis.StatusCmd
	err := r.write(ctx, key, func(p redis.Pipeliner) { set = p.Set(ctx, key, "1", r.tombstoneTTL) })
	if err == nil {
		err = set.Err()
	}
	return err
}

// markAllRevoked writes the tombstones of many families in pipelines. They
// span Cluster slots, so they cannot WAIT together; a failover that lost
// one would only reopen the race the tombstone closes.
func (r *Redis) markAllRevoked(ctx context.Context, families []string) error {
	const batch = 1000
	for len(families) > 0 {
		n := min(len(families), batch)
		pipe := r.client.Pipeline()
		for _, f := range families[:n] {
			pipe.Set(ctx, revokedKey(r.prefix, f), "1", r.tombstoneTTL)
		}
		_, err := pipe.Exec(ctx)
		r.noteError(ctx, err)
		if err != nil {
			return err
		}
		families = families[n:]
	}
	return nil
}

// checkFamily runs after Create stored a session of family under ref: if
// the family, or one it extends, has been revoked, the session is deleted
// again and the result is ErrFamilyRevoked. A tombstone that cannot be
// read is an error too, and the session is deleted as well: nothing that
// may descend from a revoked sign-in is kept. (A Create that fails hands
// out no token, so a session whose deletion fails too is unreachable.)
// So is a check answered only after the caller's deadline (outer, Create's
// own context): its tombstones may have expired by the time it ran.
func (r *Redis) checkFamily(ctx, outer context.Context, family string, ref ref) error {
	pipe := r.client.Pipeline() // the tombstones are in different slots
	var exists []*redis.IntCmd
	for _, f := range familyLevels(family) {
		exists = append(exists, pipe.Exists(ctx, revokedKey(r.prefix, f)))
	}
	_, err := pipe.Exec(ctx)
	revoked := false
	for _, e := range exists {
		revoked = revoked || e.Val() > 0
	}
	if err == nil && !revoked && !pastDeadline(outer) {
		return nil
	}
	r.noteError(ctx, err)
	// Deleted even when the caller has given up: ctx may be spent.
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.update)
	defer cancel()
	_, _ = r.deleteRef(dctx, ref)
	if err != nil {
		return fmt.Errorf("session: checking the family of session %s: %w", ref.handle, err)
	}
	if !revoked {
		return fmt.Errorf("session: storing session %s: %w", ref.handle, errFamilyCheckLate)
	}
	return fmt.Errorf("session: storing session %s: %w", ref.handle, ErrFamilyRevoked)
}

// errFamilyCheckLate is Create's answer when its family check was answered
// after the caller's deadline.
var errFamilyCheckLate = fmt.Errorf("the family check was answered after the caller's deadline, when a revocation's tombstone may have expired: %w", context.DeadlineExceeded)

// pastDeadline reports whether ctx's deadline has passed by the clock (not
// ctx.Err(), whose timer may not have fired yet after the process was
// paused). A family check answered before it ran within familyTombstoneTTL
// of any revocation that deleted its parent.
func pastDeadline(ctx context.Context) bool {
	d, ok := ctx.Deadline()
	return ok && !time.Now().Before(d)
}

// Discard deletes the token endpoint's sessions named by refs
// (authz.TokenRef), members of s's family, and takes them out of s's
// revocation indexes (subject, groups, family levels), without revoking
// any family: rotation retiring what it replaced, so that a grant's keys
// and index members stay as many however often it rotates. Malformed refs
// are skipped.
func (r *Redis) Discard(ctx context.Context, s authz.Session, refs ...string) error {
	var members []any
	var parsed []ref
	for _, m := range refs {
		if ref, ok := parseMember(m); ok {
			members, parsed = append(members, ref.member()), append(parsed, ref)
		}
	}
	if len(parsed) == 0 {
		return nil
	}
	ctx, cancel := r.writeContext(ctx)
	defer cancel()
	for _, ref := range parsed {
		if _, err := r.deleteRef(ctx, ref); err != nil {
			return fmt.Errorf("session: discarding session %s: %w", ref.handle, err)
		}
	}
	pipe := r.client.Pipeline() // the indexes are in other slots
	for _, key := range r.indexKeys(s) {
		pipe.ZRem(ctx, key, members...)
	}
	_, err := pipe.Exec(ctx)
	r.noteError(ctx, err)
	if err != nil {
		return fmt.Errorf("session: discarding sessions from their indexes: %w", err)
	}
	return nil
}
