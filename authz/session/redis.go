package session

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tfgate/tfgate/authz"
)

// Defaults for RedisConfig.
const (
	defaultPrefix      = "tfgate:"
	defaultTimeout     = 50 * time.Millisecond
	defaultUpdate      = time.Second
	defaultWaitTimeout = 100 * time.Millisecond
	// waitSlack is how late Redis may answer WAIT after its timeout: it
	// times blocked clients out on its server cron, 10 times a second at
	// the default hz.
	waitSlack = 100 * time.Millisecond
	// watchInterval is how long the invalidation subscription may be silent
	// before it is pinged; twice that without an answer and it is
	// presumed lost.
	watchInterval = 500 * time.Millisecond
)

// RedisConfig configures a Redis store.
type RedisConfig struct {
	// Prefix starts every key the store writes, so several deployments can
	// share one Redis. A prefix with a {hash tag} puts every key in one
	// Cluster slot, which works but does not spread load. default: "tfgate:".
	Prefix string
	// Timeout bounds each Lookup, on top of the caller's context. A session
	// lookup sits on every request's path, so a slow Redis must turn into a
	// prompt error rather than a queue. default: 50ms.
	Timeout time.Duration
	// UpdateTimeout bounds every other operation (sign-in, sign-out,
	// request IDs, the replay cache), which a person waits for once rather
	// than on every request, and which may need a new (TLS) connection.
	// default: 1s.
	UpdateTimeout time.Duration
	// Lifetime limits how long sessions live. default: no limits.
	Lifetime Lifetime
	// WaitReplicas, when positive, makes every write (sessions, request IDs,
	// the replay cache, deletions) wait until that many replicas of the
	// key's master acknowledge it (Redis WAIT), so that a failover right
	// after the write does not lose it; fewer acknowledgements within
	// WaitTimeout are ErrNotReplicated. Lookups never wait. default: 0.
	WaitReplicas int
	// WaitTimeout bounds WAIT, on top of UpdateTimeout (Redis may overrun
	// it by up to 100ms). default: 100ms.
	WaitTimeout time.Duration
	// Now returns the current time. default: time.Now.
	Now func() time.Time
	// Rand supplies the sealing nonces. default: crypto/rand.Reader.
	Rand io.Reader
}

// Redis is a SessionStore in Redis: standalone, Sentinel or Cluster, through
// any redis.UniversalClient. Sessions are sealed (seal.go) and indexed by
// subject and group for revocation (admin.go); deletions are published so
// that every replica's Cached drops them (invalidate.go). It is safe for
// concurrent use; closing the client is the caller's job.
type Redis struct {
	client      redis.UniversalClient
	prefix      string
	timeout     time.Duration
	update      time.Duration
	life        Lifetime
	wait        int
	waitTimeout time.Duration
	now         func() time.Time
	rand        io.Reader
	// watchInterval is the subscription's health-check period; tests
	// shorten it.
	watchInterval time.Duration
	// tombstoneTTL is familyTombstoneTTL; tests shorten it.
	tombstoneTTL time.Duration
	// lag hears invalidation lags (ObserveInvalidationLag).
	lag atomic.Pointer[func(time.Duration)]
	// used is when this process last recorded the use of each session
	// that has no idle timeout (noteUse).
	used usedTimes
}

// Interface guards.
var (
	_ authz.SessionStore = (*Redis)(nil)
	_ Invalidator        = (*Redis)(nil)
)

// NewRedis returns a store that uses client. For a *redis.Client,
// *redis.ClusterClient or *redis.Ring, it returns an error unless the client
// has ContextTimeoutEnabled set: without it go-redis ignores context
// deadlines on the socket, and Timeout would not bound a hung Redis.
func NewRedis(client redis.UniversalClient, cfg RedisConfig) (*Redis, error) {
	if client == nil {
		return nil, errors.New("session: NewRedis: nil client")
	}
	if !contextTimeoutEnabled(client) {
		return nil, errors.New("session: NewRedis: the redis client must set ContextTimeoutEnabled so that Timeout bounds each call")
	}
	if cfg.Timeout < 0 || cfg.UpdateTimeout < 0 || cfg.WaitTimeout < 0 || cfg.WaitReplicas < 0 {
		return nil, fmt.Errorf("session: NewRedis: negative Timeout %v, UpdateTimeout %v, WaitTimeout %v or WaitReplicas %d",
			cfg.Timeout, cfg.UpdateTimeout, cfg.WaitTimeout, cfg.WaitReplicas)
	}
	if err := cfg.Lifetime.check(); err != nil {
		return nil, err
	}
	if cfg.Prefix == "" {
		cfg.Prefix = defaultPrefix
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = defaultTimeout
	}
	if cfg.UpdateTimeout == 0 {
		cfg.UpdateTimeout = defaultUpdate
	}
	if cfg.WaitTimeout == 0 {
		cfg.WaitTimeout = defaultWaitTimeout
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	return &Redis{
		client: client, prefix: cfg.Prefix, timeout: cfg.Timeout, update: cfg.UpdateTimeout, life: cfg.Lifetime.withDefaults(),
		wait: cfg.WaitReplicas, waitTimeout: cfg.WaitTimeout, now: cfg.Now, rand: cfg.Rand,
		watchInterval: watchInterval, tombstoneTTL: familyTombstoneTTL,
	}, nil
}

// contextTimeoutEnabled reports whether client honours context deadlines.
// Client types it does not know are given the benefit of the doubt.
func contextTimeoutEnabled(client redis.UniversalClient) bool {
	switch c := client.(type) {
	case *redis.Client:
		return c.Options().ContextTimeoutEnabled
	case *redis.ClusterClient:
		return c.Options().ContextTimeoutEnabled
	case *redis.Ring:
		return c.Options().ContextTimeoutEnabled
	}
	return true
}

// Create stores s under token until s.ExpiresAt, lowered to the store's
// Lifetime limits, replacing any session the token already names. A zero
// CreatedAt is set to Now. It returns ErrInvalidExpiry when s.ExpiresAt is
// zero or the limited expiry is not after Now.
//
// The revocation indexes are written first, so a session that exists is
// always indexed; then the handle key and the sealed session, in that order
// on one connection (they share a slot). A session with a Family is then
// checked against its family's tombstone (family.go): ErrFamilyRevoked,
// and nothing stored, when the family has been revoked. Such sessions (the
// token endpoint's) have no idle timeout: they end at their ExpiresAt.
func (r *Redis) Create(ctx context.Context, token string, s authz.Session) error {
	if token == "" {
		return ErrEmptyKey
	}
	now := r.now()
	s, err := r.life.atCreate(s, now)
	if err != nil {
		return err
	}
	abs := atLeastMillisecond(s.ExpiresAt.Sub(now))
	keyTTL := abs
	if r.life.Idle > 0 && s.Family == "" {
		keyTTL = min(abs, atLeastMillisecond(r.life.Idle))
	}
	ref := refOf(token)
	plain, err := encodeSession(s)
	if err != nil {
		return err
	}
	sealed, err := seal(token, ref.hash, plain, r.rand)
	if err != nil {
		return err
	}
	meta, err := sealMeta(s.Subject, ref.handle, metaOf(s, time.Time{}), r.rand)
	if err != nil {
		return err
	}
	outer := ctx
	ctx, cancel := r.writeContext(ctx)
	defer cancel()
	if err := r.index(ctx, s, ref, abs, now); err != nil {
		return fmt.Errorf("session: indexing session %s: %w", ref.handle, err)
	}
	skey := sessionKey(r.prefix, ref)
	var set *redis.StatusCmd
	err = r.write(ctx, skey, func(p redis.Pipeliner) {
		p.Set(ctx, handleKey(r.prefix, ref.handle), ref.hash, abs)
		set = p.Set(ctx, skey, sealed, keyTTL)
		p.Set(ctx, metaKey(r.prefix, ref.handle), meta, keyTTL)
	})
	if err == nil {
		err = set.Err()
	}
	if err != nil {
		return fmt.Errorf("session: storing session %s: %w", ref.handle, err)
	}
	if s.Family != "" {
		if err := r.checkFamily(ctx, outer, s.Family, ref); err != nil {
			return err
		}
	}
	// Replacing a session must not leave the old one in caches. Best
	// effort: caches drop entries after their TTL in any case.
	_ = r.publish(ctx, ref.hash)
	return nil
}

// Lookup returns the session token names, with ExpiresAt lowered to
// CreatedAt+MaxAuthAge. It returns ErrNotFound or ErrExpired, both wrapping
// authz.ErrNoSession, when there is no live one; ErrCorrupt when the stored
// value does not open or decode; and a wrapped Redis or context error when
// Redis did not answer within Timeout.
//
// With an idle timeout, the key's TTL is the idle deadline: Lookup reads it
// with the value in one round trip, and extends it (PEXPIRE) only when it
// has run down by TouchInterval, so a busy session costs one write per
// TouchInterval, not one per request.
func (r *Redis) Lookup(ctx context.Context, token string) (authz.Session, error) {
	if token == "" {
		return authz.Session{}, ErrNotFound
	}
	parent := ctx
	budget := r.timeout
	if d, ok := ctx.Value(lookupBudgetKey{}).(time.Duration); ok && d > 0 {
		budget = d
	}
	ctx, cancel := context.WithTimeout(ctx, budget)
	defer cancel()
	ref := refOf(token)
	key := sessionKey(r.prefix, ref)
	b, pttl, err := r.get(ctx, key)
	if timedOut(err) && parent.Err() == nil {
		// Once more with a fresh budget: under CPU overload the answer may
		// have arrived while this goroutine waited to run, and a healthy
		// Redis must not be reported as failed for that. A Redis that is
		// really down costs two budgets, still inside Envoy's timeout.
		cancel()
		ctx, cancel = context.WithTimeout(parent, budget)
		defer cancel()
		b, pttl, err = r.get(ctx, key)
	}
	if errors.Is(err, redis.Nil) {
		return authz.Session{}, ErrNotFound
	}
	if err != nil {
		return authz.Session{}, fmt.Errorf("session: looking up session %s: %w", ref.handle, err)
	}
	plain, err := unseal(token, ref.hash, b)
	if err != nil {
		return authz.Session{}, fmt.Errorf("session: looking up session %s: %w", ref.handle, err)
	}
	s, err := decodeSession(plain)
	if err != nil {
		return authz.Session{}, fmt.Errorf("session: looking up session %s: %w", ref.handle, err)
	}
	now := r.now()
	s, live := r.life.atLookup(s, now)
	if !live {
		return authz.Session{}, ErrExpired
	}
	if r.life.Idle > 0 && s.Family == "" {
		r.touch(ctx, key, ref.handle, s, pttl, now)
	} else {
		r.noteUse(ctx, ref.handle, s, now)
	}
	return s, nil
}

// lookupBudgetKey carries WithLookupTimeout's budget.
type lookupBudgetKey struct{}

// WithLookupTimeout returns ctx under which Redis.Lookup allows d per
// attempt instead of RedisConfig.Timeout. It is for endpoints a person or
// program waits on once (the SP's sign-in, sign-out and /token), where the
// Check path's tight budget would turn a moment of CPU overload into a
// failed refresh or sign-out (whose tokens then live on). d <= 0 changes
// nothing.
func WithLookupTimeout(ctx context.Context, d time.Duration) context.Context {
	return context.WithValue(ctx, lookupBudgetKey{}, d)
}

// timedOut reports whether err is a Redis call running out of its budget.
// go-redis says so in two ways: context.DeadlineExceeded when the deadline
// passed before a call reached the socket (waiting for a pooled connection),
// and a net.Error with Timeout() ("i/o timeout", os.ErrDeadlineExceeded)
// when the socket's read deadline, set from the context, fired first. The
// second is the common one under CPU overload.
func timedOut(err error) bool {
	if err == nil {
		return false
	}
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) ||
		(errors.As(err, &ne) && ne.Timeout())
}

// get reads a session value and, with an idle timeout, its PTTL in the same
// round trip. A missing key is redis.Nil.
func (r *Redis) get(ctx context.Context, key string) ([]byte, time.Duration, error) {
	if r.life.Idle == 0 {
		b, err := r.client.Get(ctx, key).Bytes()
		r.noteError(ctx, err)
		return b, 0, err
	}
	pipe := r.client.Pipeline()
	get := pipe.Get(ctx, key)
	ttl := pipe.PTTL(ctx, key)
	_, err := pipe.Exec(ctx) // each command also carries its own error
	r.noteError(ctx, err)
	b, err := get.Bytes()
	if err != nil {
		return nil, 0, err
	}
	pttl, err := ttl.Result()
	if err != nil {
		return nil, 0, err
	}
	if pttl == -2 { // go-redis keeps PTTL's -2 (no such key) as is
		return nil, 0, redis.Nil // deleted between GET and PTTL: revoked
	}
	return b, pttl, nil
}

// touch extends an idle session's TTL to min(Idle, time left) when it has
// run down by at least TouchInterval, and rewrites its metadata record
// (meta.go) with now as its last use and the same TTL; SET XX, so a
// record deleted meanwhile (a revocation) stays deleted. A failed touch is
// not the lookup's failure: the session is live now, and the next lookup
// touches it again.
func (r *Redis) touch(ctx context.Context, key, handle string, s authz.Session, pttl time.Duration, now time.Time) {
	target := min(r.life.Idle, s.ExpiresAt.Sub(now))
	if pttl <= 0 || target-pttl < r.life.TouchInterval {
		return
	}
	ttl := atLeastMillisecond(target)
	meta, err := sealMeta(s.Subject, handle, metaOf(s, now), r.rand)
	pipe := r.client.Pipeline()
	pipe.PExpire(ctx, key, ttl)
	if err == nil {
		pipe.SetArgs(ctx, metaKey(r.prefix, handle), meta, redis.SetArgs{Mode: "XX", TTL: ttl})
	}
	_, err = pipe.Exec(ctx)
	r.noteError(ctx, err)
}

// noteUse records now as the last use of a session that has no idle
// timeout (touch does it for the others) in its metadata record, at most
// once per TouchInterval per process: SET XX KEEPTTL, so a record deleted
// meanwhile stays deleted and the TTL stays the session's. Like touch, a
// failure is not the lookup's.
func (r *Redis) noteUse(ctx context.Context, handle string, s authz.Session, now time.Time) {
	if !r.used.due(handle, now, r.life.TouchInterval) {
		return
	}
	meta, err := sealMeta(s.Subject, handle, metaOf(s, now), r.rand)
	if err != nil {
		return
	}
	err = r.client.SetArgs(ctx, metaKey(r.prefix, handle), meta, redis.SetArgs{Mode: "XX", KeepTTL: true}).Err()
	if errors.Is(err, redis.Nil) {
		err = nil // no record: a session stored before records, or deleted
	}
	r.noteError(ctx, err)
}

// usedTimesMax bounds usedTimes: past it, entries older than the interval
// go, and if that is not enough, all of them (a few extra writes).
const usedTimesMax = 1 << 14

// usedTimes remembers when noteUse last wrote each handle.
type usedTimes struct {
	mu sync.Mutex
	at map[string]time.Time
}

// due reports whether handle's use should be written at now, and if so
// remembers now as its last write.
func (u *usedTimes) due(handle string, now time.Time, every time.Duration) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	if last, ok := u.at[handle]; ok && now.Sub(last) < every && !now.Before(last) {
		return false
	}
	if u.at == nil {
		u.at = make(map[string]time.Time)
	}
	if len(u.at) >= usedTimesMax {
		for h, t := range u.at {
			if now.Sub(t) >= every {
				delete(u.at, h)
			}
		}
		if len(u.at) >= usedTimesMax {
			clear(u.at)
		}
	}
	u.at[handle] = now
	return true
}

// Delete removes the session token names, and every session minted from
// it (its family: the sessions whose Family is its handle), and tells
// every replica's cache. Deleting a missing session is not an error. Its
// entries in the revocation indexes are left to expire with the indexes.
//
// The family is revoked even when the session itself is gone (idle, say),
// since tokens minted from it may outlive it. The session is deleted under
// UpdateTimeout; its family, which may hold a few dozen tokens, under ctx.
func (r *Redis) Delete(ctx context.Context, token string) error {
	if token == "" {
		return nil
	}
	ref := refOf(token)
	marked, err := r.deleteOne(ctx, ref)
	if err != nil {
		return fmt.Errorf("session: deleting session %s: %w", ref.handle, err)
	}
	if _, err := r.revokeIndex(ctx, familyKey(r.prefix, ref.handle), false); err != nil {
		return fmt.Errorf("session: revoking the tokens of session %s: %w", ref.handle, err)
	}
	if marked {
		if err := r.markRevoked(ctx, ref.handle); err != nil {
			return fmt.Errorf("session: revoking the tokens of session %s: %w", ref.handle, err)
		}
	}
	return nil
}

// deleteOne deletes the session of ref, within UpdateTimeout, after
// writing the tombstone of the family it heads (family.go), and reports
// whether it wrote one. A made-up token, with neither a session nor a
// family, writes nothing.
func (r *Redis) deleteOne(ctx context.Context, ref ref) (bool, error) {
	ctx, cancel := r.writeContext(ctx)
	defer cancel()
	pipe := r.client.Pipeline()
	sess := pipe.Exists(ctx, sessionKey(r.prefix, ref))
	fam := pipe.Exists(ctx, familyKey(r.prefix, ref.handle))
	_, err := pipe.Exec(ctx)
	r.noteError(ctx, err)
	if err != nil {
		return false, err
	}
	if sess.Val() == 0 && fam.Val() == 0 {
		return false, nil
	}
	if err := r.markRevoked(ctx, ref.handle); err != nil {
		return false, err
	}
	_, err = r.deleteRef(ctx, ref)
	return true, err
}

// deleteRef deletes a session and its handle key, then publishes the
// invalidation: after the delete, so that a replica refetching on the
// message cannot find the session again. It reports whether the session
// existed.
func (r *Redis) deleteRef(ctx context.Context, ref ref) (bool, error) {
	skey := sessionKey(r.prefix, ref)
	var del *redis.IntCmd
	err := r.write(ctx, skey, func(p redis.Pipeliner) {
		del = p.Del(ctx, skey)
		p.Del(ctx, handleKey(r.prefix, ref.handle), metaKey(r.prefix, ref.handle))
	})
	if err == nil {
		err = del.Err()
	}
	if err != nil {
		return false, err
	}
	if err := r.publish(ctx, ref.hash); err != nil {
		return del.Val() > 0, fmt.Errorf("publishing the invalidation: %w", err)
	}
	return del.Val() > 0, nil
}

// Ping checks that Redis answers: every master of a Cluster, the current
// master of a Sentinel deployment, or the one server. Readiness probes use
// it: when it fails, Lookups fail too.
func (r *Redis) Ping(ctx context.Context) error {
	if c, ok := r.client.(*redis.ClusterClient); ok {
		return c.ForEachMaster(ctx, func(ctx context.Context, n *redis.Client) error {
			return n.Ping(ctx).Err()
		})
	}
	return r.client.Ping(ctx).Err()
}
