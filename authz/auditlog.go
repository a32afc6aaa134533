package authz

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// The audit chain. Every line of a chained decision log ends in
//
//	…,"seq":N,"prev":"<hex>","hash":"<hex>"}
//
// where hash is the SHA-256 of the line up to (not including) ,"hash": and
// prev is the hash of line N-1 (64 zeros for the first line ever). A line
// changed, removed, inserted or moved breaks the chain at that point.
// Periodically, and when a file is rotated or closed, a checkpoint line
//
//	{"checkpoint":{"time":…,"seq":N,"head":"<hash of line N>","key_id":…,"sig":…},"seq":N+1,…}
//
// signs the chain head with Ed25519; it is chained like any other line.
// Rotation renames the file to PATH.<seq of its first line> and starts a
// new one whose first line continues the chain, so a missing file shows as
// a gap.
const (
	auditHashField = `,"hash":"`
	checkpointMsg  = "tfgate-audit-checkpoint-v1\n"
)

// genesis is the prev of the first line of a series.
var genesis = hex.EncodeToString(make([]byte, sha256.Size))

// AuditConfig configures an AuditWriter.
type AuditConfig struct {
	// Path is the active log file. Required.
	Path string
	// SigningKey signs checkpoints; nil chains lines without checkpoints.
	SigningKey ed25519.PrivateKey
	// CheckpointLines: a checkpoint after this many lines. default: 1000
	CheckpointLines int
	// CheckpointInterval: a checkpoint this long after the first unsigned
	// line, even when few lines come. default: 1m
	CheckpointInterval time.Duration
	// RotateBytes rotates the file once it is this large; 0 never.
	RotateBytes int64
	// RotateInterval rotates the file once it is this old; 0 never.
	RotateInterval time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// AuditWriter is an io.WriteCloser for NewDecisionLog that chains every
// line it is given. Write only copies the bytes to a queue; one goroutine
// hashes, signs, writes and rotates, so neither the Check path nor the
// decision log's lock waits for SHA-256, Ed25519 or the disk. The queue is
// bounded (maxAuditPending): a disk that cannot keep up slows writers down
// rather than dropping audit lines.
type AuditWriter struct {
	cfg AuditConfig

	inMu    sync.Mutex
	inCond  *sync.Cond
	pending []byte // queued by Write, in order
	spare   []byte
	kick    chan struct{}

	mu       sync.Mutex // the chain state, owned by the worker goroutine
	f        *os.File
	size     int64
	opened   time.Time
	seq      uint64
	head     string
	partial  []byte // a line not yet complete
	unsigned int    // lines since the last checkpoint
	firstAt  time.Time
	out      []byte
	stop     chan struct{}
	done     chan struct{}
	err      error
	sticky   atomic.Pointer[error]
}

// KeyID names an Ed25519 public key in checkpoints: the first 8 bytes of
// its SHA-256, in hex.
func KeyID(pub ed25519.PublicKey) string {
	h := sha256.Sum256(pub)
	return hex.EncodeToString(h[:8])
}

// OpenAuditWriter opens (or creates) cfg.Path for appending and continues
// the chain from its last line, or from the newest rotated file when the
// active one is empty.
func OpenAuditWriter(cfg AuditConfig) (*AuditWriter, error) {
	if cfg.Path == "" {
		return nil, errors.New("authz: audit log needs a path")
	}
	if cfg.CheckpointLines <= 0 {
		cfg.CheckpointLines = 1000
	}
	if cfg.CheckpointInterval <= 0 {
		cfg.CheckpointInterval = time.Minute
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	w := &AuditWriter{cfg: cfg, head: genesis, stop: make(chan struct{}), done: make(chan struct{}), kick: make(chan struct{}, 1)}
	w.inCond = sync.NewCond(&w.inMu)
	if err := w.resume(); err != nil {
		return nil, err
	}
	if err := w.openFile(); err != nil {
		return nil, err
	}
	go w.worker()
	return w, nil
}

// resume finds the last chained line of the series.
func (w *AuditWriter) resume() error {
	candidates := []string{w.cfg.Path}
	rotated, _ := filepath.Glob(w.cfg.Path + ".*")
	slices.Sort(rotated)
	slices.Reverse(rotated)
	candidates = append(candidates, rotated...)
	for _, p := range candidates {
		last, err := lastLine(p)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			return fmt.Errorf("authz: resuming the audit chain from %s: %w", p, err)
		}
		if last == nil {
			continue
		}
		t, err := parseTrailer(last)
		if err != nil {
			return fmt.Errorf("authz: resuming the audit chain: last line of %s: %w", p, err)
		}
		w.seq, w.head = t.Seq, t.Hash
		return nil
	}
	return nil
}

// lastLine returns the last complete line of a file (nil when it has none).
func lastLine(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	const window = 1 << 20
	off := max(st.Size()-window, 0)
	b := make([]byte, st.Size()-off)
	if _, err := f.ReadAt(b, off); err != nil && err != io.EOF {
		return nil, err
	}
	end := bytes.LastIndexByte(b, '\n')
	if end < 0 {
		return nil, nil
	}
	b = b[:end]
	return b[bytes.LastIndexByte(b, '\n')+1:], nil
}

func (w *AuditWriter) openFile() error {
	f, err := os.OpenFile(w.cfg.Path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("authz: opening audit log: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return err
	}
	w.f, w.size, w.opened = f, st.Size(), w.cfg.Now()
	if w.size > 0 {
		// A crash may have cut the last line; start on a fresh line (the
		// cut line stays, and `audit verify` reports it).
		var last [1]byte
		if r, err := os.Open(w.cfg.Path); err == nil {
			if _, err := r.ReadAt(last[:], w.size-1); err == nil && last[0] != '\n' {
				w.out = append(w.out, '\n')
			}
			r.Close()
		}
	}
	return nil
}

// maxAuditPending bounds the bytes queued for the chain.
const maxAuditPending = 16 << 20

// Write queues p for the chain. It fails only after writing the file has
// failed (the error is sticky; Close returns it too).
func (w *AuditWriter) Write(p []byte) (int, error) {
	w.inMu.Lock()
	for len(w.pending) > maxAuditPending && w.failed() == nil {
		w.inCond.Wait()
	}
	if err := w.failed(); err != nil {
		w.inMu.Unlock()
		return 0, err
	}
	w.pending = append(w.pending, p...)
	w.inMu.Unlock()
	select {
	case w.kick <- struct{}{}:
	default:
	}
	return len(p), nil
}

// failed returns the sticky write error without taking w.mu (Write holds
// inMu, and the worker takes inMu under w.mu).
func (w *AuditWriter) failed() error {
	if e := w.sticky.Load(); e != nil {
		return *e
	}
	return nil
}

// fail records err as the sticky error. The caller holds w.mu.
func (w *AuditWriter) fail(err error) error {
	w.err = err
	w.sticky.Store(&err)
	w.inCond.Broadcast()
	return err
}

// drain chains everything queued so far. The caller holds w.mu.
func (w *AuditWriter) drain() error {
	w.inMu.Lock()
	buf := w.pending
	w.pending = w.spare[:0]
	w.inMu.Unlock()
	w.inCond.Broadcast()
	err := w.process(buf)
	w.spare = buf[:0]
	return err
}

// process chains the complete lines in p; a trailing incomplete line waits
// for the rest. The caller holds w.mu.
func (w *AuditWriter) process(p []byte) error {
	if w.err != nil {
		return w.err
	}
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			w.partial = append(w.partial, p...)
			break
		}
		line := p[:i]
		if len(w.partial) > 0 {
			line = append(w.partial, line...)
			w.partial = w.partial[:0]
		}
		w.chain(line)
		p = p[i+1:]
		if w.unsigned >= w.cfg.CheckpointLines {
			w.checkpoint()
		}
		// Rotate at the line that reaches the size, however large the
		// batch; and write out in pieces of a bounded size.
		if w.cfg.RotateBytes > 0 && w.size+int64(len(w.out)) >= w.cfg.RotateBytes {
			if err := w.rotate(); err != nil {
				return err
			}
		} else if len(w.out) >= 1<<20 {
			if err := w.writeOut(); err != nil {
				return err
			}
		}
	}
	if err := w.writeOut(); err != nil {
		return err
	}
	return w.maybeRotate()
}

// chain appends line, chained, to w.out.
func (w *AuditWriter) chain(body []byte) {
	body = bytes.TrimSpace(body)
	if len(body) < 2 || body[0] != '{' || body[len(body)-1] != '}' {
		// Not an object: keep it, quoted, rather than lose it.
		q, _ := json.Marshal(string(body))
		body = append(append([]byte(`{"unparsed":`), q...), '}')
	}
	w.seq++
	start := len(w.out)
	w.out = append(w.out, body[:len(body)-1]...)
	if len(body) > 2 {
		w.out = append(w.out, ',')
	}
	w.out = append(w.out, `"seq":`...)
	w.out = strconv.AppendUint(w.out, w.seq, 10)
	w.out = append(w.out, `,"prev":"`...)
	w.out = append(w.out, w.head...)
	w.out = append(w.out, '"')
	sum := sha256.Sum256(w.out[start:])
	w.head = hex.EncodeToString(sum[:])
	w.out = append(w.out, auditHashField...)
	w.out = append(w.out, w.head...)
	w.out = append(w.out, "\"}\n"...)
	if w.unsigned == 0 {
		w.firstAt = w.cfg.Now()
	}
	w.unsigned++
}

// checkpointRecord is the signed part of a checkpoint line.
type checkpointRecord struct {
	Time  time.Time `json:"time"`
	Seq   uint64    `json:"seq"`
	Head  string    `json:"head"`
	KeyID string    `json:"key_id"`
	Sig   string    `json:"sig"`
}

func checkpointMessage(seq uint64, head string) []byte {
	return []byte(checkpointMsg + strconv.FormatUint(seq, 10) + "\n" + head)
}

// checkpoint signs the head into a checkpoint line (nothing without a key
// or when every line is signed already).
func (w *AuditWriter) checkpoint() {
	if w.cfg.SigningKey == nil || w.unsigned == 0 {
		return
	}
	cp := checkpointRecord{
		Time: w.cfg.Now().UTC(), Seq: w.seq, Head: w.head,
		KeyID: KeyID(w.cfg.SigningKey.Public().(ed25519.PublicKey)),
		Sig:   base64.StdEncoding.EncodeToString(ed25519.Sign(w.cfg.SigningKey, checkpointMessage(w.seq, w.head))),
	}
	b, _ := json.Marshal(struct {
		Checkpoint checkpointRecord `json:"checkpoint"`
	}{cp})
	w.chain(b)
	w.unsigned = 0
}

func (w *AuditWriter) writeOut() error {
	if len(w.out) == 0 {
		return nil
	}
	n, err := w.f.Write(w.out)
	w.size += int64(n)
	w.out = w.out[:0]
	if err != nil {
		return w.fail(fmt.Errorf("authz: writing audit log: %w", err))
	}
	return w.err
}

func (w *AuditWriter) maybeRotate() error {
	due := (w.cfg.RotateBytes > 0 && w.size >= w.cfg.RotateBytes) ||
		(w.cfg.RotateInterval > 0 && w.size > 0 && w.cfg.Now().Sub(w.opened) >= w.cfg.RotateInterval)
	if !due {
		return nil
	}
	return w.rotate()
}

// rotate seals the file with a checkpoint, renames it after its first
// line's seq and opens a new one. The caller holds w.mu.
func (w *AuditWriter) rotate() error {
	w.checkpoint()
	if err := w.writeOut(); err != nil {
		return err
	}
	first, err := firstSeq(w.cfg.Path)
	if err != nil {
		return err
	}
	if err := w.f.Close(); err != nil {
		return err
	}
	if err := os.Rename(w.cfg.Path, fmt.Sprintf("%s.%012d", w.cfg.Path, first)); err != nil {
		return w.fail(fmt.Errorf("authz: rotating audit log: %w", err))
	}
	return w.openFile()
}

func firstSeq(path string) (uint64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	b := make([]byte, 64<<10)
	n, _ := io.ReadFull(f, b)
	b = b[:n]
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		b = b[:i]
	}
	t, err := parseTrailer(b)
	if err != nil {
		// Name it after the time instead; verify orders by content.
		return uint64(time.Now().UnixNano()), nil
	}
	return t.Seq, nil
}

// worker chains what Write queued, and checkpoints and rotates on time.
func (w *AuditWriter) worker() {
	defer close(w.done)
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-w.stop:
			return
		case <-w.kick:
			w.mu.Lock()
			_ = w.drain()
			w.mu.Unlock()
		case <-t.C:
			w.mu.Lock()
			_ = w.drain()
			if w.unsigned > 0 && w.cfg.Now().Sub(w.firstAt) >= w.cfg.CheckpointInterval {
				w.checkpoint()
				_ = w.writeOut()
			}
			if w.err == nil {
				_ = w.maybeRotate()
			}
			w.mu.Unlock()
		}
	}
}

// Rotate rotates the file now (for tests and SIGHUP-style operations).
func (w *AuditWriter) Rotate() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.drain(); err != nil {
		return err
	}
	return w.rotate()
}

// Close writes a final checkpoint and closes the file.
func (w *AuditWriter) Close() error {
	close(w.stop)
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	_ = w.drain()
	if len(w.partial) > 0 {
		w.chain(w.partial)
		w.partial = nil
	}
	w.checkpoint()
	err := w.writeOut()
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	return err
}

// trailer is the chain fields of a line.
type trailer struct {
	Seq  uint64 `json:"seq"`
	Prev string `json:"prev"`
	Hash string
	// Checkpoint is set on checkpoint lines.
	Checkpoint *checkpointRecord `json:"checkpoint"`
	// hashed is the part of the line the hash covers.
	hashed []byte
}

// parseTrailer splits a chained line into its fields.
func parseTrailer(line []byte) (trailer, error) {
	i := bytes.LastIndex(line, []byte(auditHashField))
	if i < 0 || len(line) != i+len(auditHashField)+64+2 || !bytes.HasSuffix(line, []byte(`"}`)) {
		return trailer{}, errors.New("no chain hash at the end of the line")
	}
	t := trailer{Hash: string(line[i+len(auditHashField) : i+len(auditHashField)+64]), hashed: line[:i]}
	if err := json.Unmarshal(line, &t); err != nil {
		return trailer{}, fmt.Errorf("not JSON: %w", err)
	}
	if t.Seq == 0 || len(t.Prev) != 64 {
		return trailer{}, errors.New("no seq and prev fields")
	}
	return t, nil
}
