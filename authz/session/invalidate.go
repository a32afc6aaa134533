package session

import (
	"context"
	"errors"
	"net"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Invalidation protocol: whenever a store deletes or replaces a session it
// publishes, after the write, the hex SHA-256 of its token (Hash) on
// prefix+"invalidate"; a message holds up to maxHashesPerMessage of them,
// space-separated. Every replica's Cached subscribes and drops what is
// listed. A message is only ever a reason to forget, never to trust, so a
// forged one can cost a cache miss and nothing more.

// maxHashesPerMessage bounds one invalidation message (about 6.5 KB).
const maxHashesPerMessage = 100

// Invalidator tells a Cached when sessions change on any replica.
type Invalidator interface {
	// WatchInvalidations reports to w until ctx is done, then returns
	// ctx's error. It reconnects by itself.
	WatchInvalidations(ctx context.Context, w InvalidationWatcher) error
}

// InvalidationWatcher hears about invalidations; Cached implements it.
type InvalidationWatcher interface {
	// Invalidate drops the sessions with these hashes (Hash(token)).
	Invalidate(hashes []string)
	// Subscribed reports that the subscription started or restarted.
	// Messages published while it was down are lost, so anything cached
	// before may be stale.
	Subscribed()
	// Unsubscribed reports that the subscription is down, or presumed so
	// because it stopped answering pings.
	Unsubscribed()
}

// publish sends the invalidations of hashes.
func (r *Redis) publish(ctx context.Context, hashes ...string) error {
	for len(hashes) > 0 {
		n := min(len(hashes), maxHashesPerMessage)
		if err := r.client.Publish(ctx, channel(r.prefix), strings.Join(hashes[:n], " ")).Err(); err != nil {
			r.noteError(ctx, err)
			return err
		}
		hashes = hashes[n:]
	}
	return nil
}

// WatchInvalidations subscribes to the invalidation channel and reports to
// w until ctx is done. A subscription that fails, or stays silent for two
// watch intervals after a ping, is reported lost and replaced, after a
// pause that grows to one second while Redis stays away.
func (r *Redis) WatchInvalidations(ctx context.Context, w InvalidationWatcher) error {
	backoff := 50 * time.Millisecond
	for {
		if r.watchOnce(ctx, w) {
			backoff = 50 * time.Millisecond
		}
		w.Unsubscribed()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, time.Second)
	}
}

// watchOnce runs one subscription until it fails or ctx is done, and
// reports whether it was ever confirmed.
func (r *Redis) watchOnce(ctx context.Context, w InvalidationWatcher) (confirmed bool) {
	ps := r.client.Subscribe(ctx, channel(r.prefix))
	defer ps.Close()
	lastHeard := time.Now()
	for ctx.Err() == nil {
		msg, err := ps.ReceiveTimeout(ctx, r.watchInterval)
		if err != nil {
			if !isTimeout(err) || time.Since(lastHeard) > 2*r.watchInterval {
				return confirmed
			}
			// Silence: ask for a sign of life; the Pong resets lastHeard.
			if err := ps.Ping(ctx); err != nil {
				return confirmed
			}
			continue
		}
		lastHeard = time.Now()
		switch m := msg.(type) {
		case *redis.Subscription:
			if m.Kind == "subscribe" {
				confirmed = true
				w.Subscribed()
			}
		case *redis.Message:
			w.Invalidate(strings.Fields(m.Payload))
		}
	}
	return confirmed
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
