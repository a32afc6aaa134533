package session

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// writeContext bounds an update: UpdateTimeout, plus WaitTimeout when
// writes wait for replicas.
func (r *Redis) writeContext(ctx context.Context) (context.Context, context.CancelFunc) {
	d := r.update
	if r.wait > 0 {
		d += r.waitTimeout + waitSlack
	}
	return context.WithTimeout(ctx, d)
}

// write runs build's commands in one pipeline and, when WaitReplicas is
// set, WAIT after them. WAIT counts the acknowledgements of the writes made
// on its own connection, so with WaitReplicas the pipeline runs on a client
// for the master of key, where all of build's keys must live (one slot).
// The commands' own errors are theirs to check; write returns WAIT's.
func (r *Redis) write(ctx context.Context, key string, build func(redis.Pipeliner)) error {
	if r.wait == 0 {
		pipe := r.client.Pipeline()
		build(pipe)
		_, err := pipe.Exec(ctx)
		r.noteError(ctx, err)
		return nil
	}
	var c redis.Cmdable = r.client
	if cc, ok := r.client.(*redis.ClusterClient); ok {
		node, err := cc.MasterForKey(ctx, key)
		if err != nil {
			return err
		}
		c = node
	}
	pipe := c.Pipeline()
	build(pipe)
	wait := pipe.Do(ctx, "wait", r.wait, r.waitTimeout.Milliseconds())
	_, err := pipe.Exec(ctx)
	r.noteError(ctx, err)
	n, err := wait.Int64()
	if err != nil {
		return err
	}
	if n < int64(r.wait) {
		return fmt.Errorf("%w: %d of %d", ErrNotReplicated, n, r.wait)
	}
	return nil
}

// noteError makes a Cluster client reload its slot map after a call fails.
// go-redis reloads it on MOVED, but a command that cannot reach a dead
// master gets no MOVED: without this, calls would keep dialling the dead
// master after a failover until the periodic reload (every 60s). A node
// client, used to WAIT, follows no MOVED either. Reloads are asynchronous
// and rate-limited by go-redis.
func (r *Redis) noteError(ctx context.Context, err error) {
	if err == nil || errors.Is(err, redis.Nil) {
		return
	}
	if cc, ok := r.client.(*redis.ClusterClient); ok {
		cc.ReloadState(ctx)
	}
}

// ttlUntil turns an absolute expiry into a duration from Now. Redis gets a
// relative TTL (PX) rather than PXAT so that its clock does not matter.
func (r *Redis) ttlUntil(t time.Time) (time.Duration, error) {
	if t.IsZero() {
		return 0, ErrInvalidExpiry
	}
	ttl := t.Sub(r.now())
	if ttl <= 0 {
		return 0, ErrInvalidExpiry
	}
	return atLeastMillisecond(ttl), nil
}

// atLeastMillisecond rounds a positive TTL below Redis's 1ms resolution up,
// which go-redis would otherwise send as 0, an error.
func atLeastMillisecond(ttl time.Duration) time.Duration {
	return max(ttl, time.Millisecond)
}
