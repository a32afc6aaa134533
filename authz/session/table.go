package session

import (
	"container/heap"
	"crypto/sha256"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tfgate/tfgate/authz"
)

// digest is the map key of a table: the SHA-256 of a token or ID. A fixed
// array keeps lookups allocation-free and the raw value out of memory.
type digest = [sha256.Size]byte

// entry is one stored value with its expiry. session is zero for the
// one-time kinds.
type entry struct {
	key     digest
	expires time.Time
	seq     uint64 // insertion order, to evict the oldest of equal expiries
	index   int    // position in the expiry heap
	session authz.Session
	// seen is a session's last use (Unix nanoseconds) for the idle
	// timeout; a pointer so that copies of the entry share it.
	seen *atomic.Int64
}

// table is a bounded map whose entries expire. A min-heap on expiry makes
// inserting, evicting and sweeping O(log n): when the table is full the entry
// closest to expiry goes, and every write first drops the entries that have
// already expired, so the sweep is amortised over writes and needs no
// goroutine.
type table struct {
	mu      sync.RWMutex
	max     int
	entries map[digest]*entry
	queue   expiryQueue
	seq     uint64
}

func newTable(max int) *table {
	return &table{max: max, entries: make(map[digest]*entry)}
}

// get returns a copy of the entry for key, expired or not; its session's
// slices are still shared with the table and must be cloned before they
// leave the package.
func (t *table) get(key digest) (e entry, found bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	p, ok := t.entries[key]
	if !ok {
		return entry{}, false
	}
	return *p, true
}

// put stores or replaces the entry for key.
func (t *table) put(key digest, expires time.Time, s authz.Session, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.putLocked(key, expires, s, now)
}

// putSession stores or replaces a session entry, last used at now.
func (t *table) putSession(key digest, expires time.Time, s authz.Session, now time.Time) {
	seen := new(atomic.Int64)
	seen.Store(now.UnixNano())
	t.mu.Lock()
	defer t.mu.Unlock()
	t.putLocked(key, expires, s, now)
	t.entries[key].seen = seen
}

// putIfAbsent stores an entry for key unless a live one exists, and reports
// whether one did.
func (t *table) putIfAbsent(key digest, expires time.Time, now time.Time) (existed bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if p, ok := t.entries[key]; ok && now.Before(p.expires) {
		return true
	}
	t.putLocked(key, expires, authz.Session{}, now)
	return false
}

func (t *table) putLocked(key digest, expires time.Time, s authz.Session, now time.Time) {
	t.sweepLocked(now)
	t.seq++
	if p, ok := t.entries[key]; ok {
		p.expires, p.seq, p.session = expires, t.seq, s
		heap.Fix(&t.queue, p.index)
		return
	}
	if len(t.entries) >= t.max {
		t.removeLocked(t.queue[0])
	}
	p := &entry{key: key, expires: expires, seq: t.seq, session: s}
	heap.Push(&t.queue, p)
	t.entries[key] = p
}

// take removes the entry for key and reports whether it was live at now.
func (t *table) take(key digest, now time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	p, ok := t.entries[key]
	if !ok {
		return false
	}
	t.removeLocked(p)
	return now.Before(p.expires)
}

// remove deletes the entry for key, if any, and reports whether there was
// one.
func (t *table) remove(key digest) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	p, ok := t.entries[key]
	if ok {
		t.removeLocked(p)
	}
	return ok
}

// removeIf deletes the entry for key if it is still the one written with
// seq; Lookup calls it after finding a session that is no longer live, so it
// is removed lazily even when no write comes along to sweep it, and a
// session written again meanwhile is kept.
func (t *table) removeIf(key digest, seq uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if p, ok := t.entries[key]; ok && p.seq == seq {
		t.removeLocked(p)
	}
}

// sweepLocked drops every entry that has expired at now.
func (t *table) sweepLocked(now time.Time) {
	for len(t.queue) > 0 && !now.Before(t.queue[0].expires) {
		t.removeLocked(t.queue[0])
	}
}

func (t *table) removeLocked(p *entry) {
	heap.Remove(&t.queue, p.index)
	delete(t.entries, p.key)
}

func (t *table) len() int {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return len(t.entries)
}

// expiryQueue is a container/heap of entries, soonest expiry first.
type expiryQueue []*entry

func (q expiryQueue) Len() int { return len(q) }

func (q expiryQueue) Less(i, j int) bool {
	if !q[i].expires.Equal(q[j].expires) {
		return q[i].expires.Before(q[j].expires)
	}
	return q[i].seq < q[j].seq
}

func (q expiryQueue) Swap(i, j int) {
	q[i], q[j] = q[j], q[i]
	q[i].index, q[j].index = i, j
}

func (q *expiryQueue) Push(x any) {
	p := x.(*entry)
	p.index = len(*q)
	*q = append(*q, p)
}

func (q *expiryQueue) Pop() any {
	old := *q
	p := old[len(old)-1]
	old[len(old)-1] = nil
	*q = old[:len(old)-1]
	return p
}
