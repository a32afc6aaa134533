package session

import (
	"context"
	"errors"
	"net"
	"strconv"
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
//
// A message ends with the publish time, "t=" and Unix microseconds, from
// which the subscriber measures the invalidation lag. Older replicas
// published no time, and their messages invalidate just the same; an
// older subscriber takes the field for a hash that matches no session.

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
		msg := strings.Join(hashes[:n], " ") + " " + publishTimePrefix + strconv.FormatInt(time.Now().UnixMicro(), 10)
		if err := r.client.Publish(ctx, channel(r.prefix), msg).Err(); err != nil {
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
			hashes, published, ok := parseInvalidation(m.Payload)
			w.Invalidate(hashes)
			if f := r.lag.Load(); f != nil && ok {
				(*f)(max(0, time.Since(published)))
			}
		}
	}
	return confirmed
}

// publishTimePrefix marks the publish time field of a message.
const publishTimePrefix = "t="

// parseInvalidation splits an invalidation message into its hashes and,
// when it carries one (ok), its publish time. The payload is whatever
// anyone with PUBLISH rights sent: it never panics, and a malformed time
// is ignored rather than taken for a hash.
func parseInvalidation(payload string) (hashes []string, published time.Time, ok bool) {
	hashes = strings.Fields(payload)
	if n := len(hashes); n > 0 {
		if us, found := strings.CutPrefix(hashes[n-1], publishTimePrefix); found {
			hashes = hashes[:n-1]
			if v, err := strconv.ParseInt(us, 10, 64); err == nil && v > 0 {
				return hashes, time.UnixMicro(v), true
			}
		}
	}
	return hashes, time.Time{}, false
}

// ObserveInvalidationLag makes the subscription report, for each message
// that carries its publish time, how long it took from publishing to
// arriving here (clock skew between replicas included; never negative).
// nil stops the reports.
func (r *Redis) ObserveInvalidationLag(f func(time.Duration)) {
	if f == nil {
		r.lag.Store(nil)
		return
	}
	r.lag.Store(&f)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
