package authz

import (
	"bufio"
	"io"
	"strings"
	"sync"
	"time"
)

// DecisionLog writes one JSON line per decision: the audit trail security
// teams read. It records who asked for what and the answer; it never
// records tokens, cookies, headers or bodies, and it drops the query string
// of the path, where clients sometimes put secrets.
//
// Lines are buffered and flushed at least every FlushInterval and on Close,
// so the hot path does not pay a write system call per request.
type DecisionLog struct {
	mu    sync.Mutex
	w     *bufio.Writer
	stop  chan struct{}
	done  chan struct{}
	close func() error
}

// FlushInterval bounds how long a decision line may sit in the buffer.
const FlushInterval = 200 * time.Millisecond

// NewDecisionLog returns a log writing to w. If w is an io.Closer, Close
// closes it.
func NewDecisionLog(w io.Writer) *DecisionLog {
	l := &DecisionLog{w: bufio.NewWriterSize(w, 64<<10), stop: make(chan struct{}), done: make(chan struct{})}
	if c, ok := w.(io.Closer); ok {
		l.close = c.Close
	}
	go l.flusher()
	return l
}

// DecisionRecord is one line of the decision log.
type DecisionRecord struct {
	Time           time.Time      `json:"time"`
	DecisionID     string         `json:"decision_id"`
	Allow          bool           `json:"allow"`
	Reason         string         `json:"reason"`
	Subject        string         `json:"subject,omitempty"`
	Email          string         `json:"email,omitempty"`
	Groups         []string       `json:"groups,omitempty"`
	IdP            string         `json:"idp,omitempty"`
	Auth           string         `json:"auth,omitempty"`
	Scope          []string       `json:"scope,omitempty"`
	ExpiresAt      time.Time      `json:"expires_at,omitzero"`
	Session        string         `json:"session,omitempty"`
	Method         string         `json:"method"`
	Path           string         `json:"path"`
	Host           string         `json:"host,omitempty"`
	Protocol       string         `json:"protocol"`
	Source         string         `json:"source,omitempty"`
	Targets        []RecordTarget `json:"targets,omitempty"`
	PolicyRevision string         `json:"policy_revision,omitempty"`
	LatencyMicros  int64          `json:"latency_us"`
	Error          string         `json:"error,omitempty"`
	// RequestID is Envoy's x-request-id; TraceID the trace the Check
	// belongs to (hex), for joining with Envoy's access log and traces.
	RequestID string `json:"request_id,omitempty"`
	TraceID   string `json:"trace_id,omitempty"`
}

// RecordTarget is a target in the decision log.
type RecordTarget = InputTarget

// NewDecisionRecord builds the log line for a decision (d may be nil when
// the Check failed with err).
func NewDecisionRecord(now time.Time, r *Request, d *Decision, err error, latency time.Duration) DecisionRecord {
	path, _, hadQuery := strings.Cut(r.Path, "?")
	if hadQuery {
		path += "?…"
	}
	rec := DecisionRecord{
		Time: now.UTC(), Method: r.Method, Path: path, Host: r.Host,
		Protocol: ProtocolREST, Source: r.SourceIP, LatencyMicros: latency.Microseconds(),
	}
	if r.GRPC {
		rec.Protocol = ProtocolGRPC
	}
	if err != nil {
		rec.Reason = "could not decide"
		rec.Error = err.Error()
		return rec
	}
	rec.DecisionID, rec.Allow, rec.Reason = d.ID, d.Allow, d.Reason // Check redacted the reason
	rec.Session, rec.PolicyRevision = d.SessionHandle, d.PolicyRevision
	if s := d.Subject; s != nil {
		rec.Subject, rec.Email, rec.Groups, rec.IdP, rec.Auth = s.ID, s.Email, s.Groups, s.IdP, s.Auth
		rec.Scope, rec.ExpiresAt = s.Scope, s.ExpiresAt
	}
	for _, t := range d.Targets {
		rec.Targets = append(rec.Targets, redactTarget(NewInputTarget(t)))
	}
	return rec
}

// Record appends one line. Encoding errors are impossible for this type;
// write errors surface on Close.
func (l *DecisionLog) Record(rec DecisionRecord) {
	bp := recordBufs.Get().(*[]byte)
	b := append(marshalRecord((*bp)[:0], &rec), '\n')
	l.mu.Lock()
	_, _ = l.w.Write(b)
	l.mu.Unlock()
	if cap(b) <= 64<<10 {
		*bp = b
		recordBufs.Put(bp)
	}
}

// recordBufs holds encoding buffers for Record, so a Check's log line
// costs no allocation.
var recordBufs = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// Flush writes buffered lines out.
func (l *DecisionLog) Flush() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Flush()
}

// Close flushes, stops the flusher, and closes the underlying writer.
func (l *DecisionLog) Close() error {
	close(l.stop)
	<-l.done
	err := l.Flush()
	if l.close != nil {
		if cerr := l.close(); err == nil {
			err = cerr
		}
	}
	return err
}

func (l *DecisionLog) flusher() {
	defer close(l.done)
	t := time.NewTicker(FlushInterval)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
			_ = l.Flush()
		}
	}
}
