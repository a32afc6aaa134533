package session

import (
	"context"
	"strconv"
	"time"

	"github.com/tfgate/tfgate/authz"
)

// indexScript adds one session to a revocation index, atomically on the
// index's own key (so it works in any Cluster slot):
//
//   - the index is a sorted set of members "handle:hash", scored by each
//     session's absolute expiry in Unix milliseconds;
//   - members whose sessions have expired are dropped first, so an index
//     holds at most the sessions of the last maximum lifetime;
//   - the index's TTL is raised, never lowered, to the new session's, so it
//     outlives every session it lists.
//
// KEYS[1] index; ARGV: member, expiry (ms), now (ms), TTL (ms).
const indexScript = `
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[4]) then
  redis.call('PEXPIRE', KEYS[1], ARGV[4])
end
return 1
`

// indexKeys returns the revocation indexes a session belongs to: its
// subject's, each of its groups' (once each), its families', if any, and
// a browser session's single logout indexes (slo.go).
func (r *Redis) indexKeys(s authz.Session) []string {
	keys := make([]string, 0, 2+len(s.Groups))
	keys = append(keys, subjectKey(r.prefix, s.Subject))
	if s.Family != "" {
		for _, f := range familyLevels(s.Family) {
			keys = append(keys, familyKey(r.prefix, f))
		}
	}
	seen := make(map[string]bool, len(s.Groups))
	for _, g := range s.Groups {
		if !seen[g] {
			seen[g] = true
			keys = append(keys, groupKey(r.prefix, g))
		}
	}
	return append(keys, samlKeys(r.prefix, s)...)
}

// index adds the session to every index it belongs to, in one pipeline.
// The indexes live in other slots than the session, so they are not
// covered by WaitReplicas; replication lag is all a failover can lose.
func (r *Redis) index(ctx context.Context, s authz.Session, ref ref, ttl time.Duration, now time.Time) error {
	member := ref.member()
	expires := strconv.FormatInt(s.ExpiresAt.UnixMilli(), 10)
	nowMs := strconv.FormatInt(now.UnixMilli(), 10)
	ttlMs := strconv.FormatInt(ttl.Milliseconds(), 10)
	pipe := r.client.Pipeline()
	for _, key := range r.indexKeys(s) {
		pipe.Eval(ctx, indexScript, []string{key}, member, expires, nowMs, ttlMs)
	}
	_, err := pipe.Exec(ctx)
	r.noteError(ctx, err)
	return err
}
