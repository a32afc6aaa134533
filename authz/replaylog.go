package authz

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strings"
	"sync"
)

// ReplayOptions configures Replay.
type ReplayOptions struct {
	// Examples is how many flips to keep per (groups, model, api), the
	// earliest lines first. default: 3
	Examples int
	// Workers evaluate lines in parallel. default: GOMAXPROCS
	Workers int
}

// Bounds that keep a replay's memory independent of the log's size.
const (
	replayBatch       = 512  // lines per unit of work
	replayMaxKeys     = 1000 // example keys kept; later keys are counted only
	replayMaxProblems = 5    // malformed lines and errors quoted
)

// ReplayFlip is a decision that a policy would answer differently.
type ReplayFlip struct {
	Line       int64  `json:"line"`
	DecisionID string `json:"decision_id"`
	Direction  string `json:"direction"` // AllowToDeny or DenyToAllow
	Groups     string `json:"groups"`    // comma-joined, "(anonymous)" without a subject
	Model      string `json:"model"`
	API        string `json:"api"`
	Subject    string `json:"subject,omitempty"`
	OldReason  string `json:"old_reason"`
	NewReason  string `json:"new_reason"`
}

// ReplayReport counts what a replay found.
type ReplayReport struct {
	Lines         int64 `json:"lines"`
	Replayed      int64 `json:"replayed"`
	Skipped       int64 `json:"skipped"` // not decided by the policy live: nothing to re-decide
	Checkpoints   int64 `json:"checkpoints"`
	Unchanged     int64 `json:"unchanged"`
	ReasonChanged int64 `json:"reason_changed"` // same verdict, other reason
	AllowToDeny   int64 `json:"allow_to_deny"`
	DenyToAllow   int64 `json:"deny_to_allow"`
	Errors        int64 `json:"errors"` // the policy could not decide
	Malformed     int64 `json:"malformed"`
	// Examples are the first Examples flips per (groups, model, api),
	// ordered by key and line.
	Examples []ReplayFlip `json:"examples"`
	// ExampleKeysDropped counts flips of keys beyond the bound on keys.
	ExampleKeysDropped int64    `json:"example_keys_dropped,omitempty"`
	Problems           []string `json:"problems,omitempty"` // the first malformed lines and errors
}

// replayLine is a decision-log line: a decision, or an audit checkpoint.
type replayLine struct {
	DecisionRecord
	Checkpoint json.RawMessage `json:"checkpoint"`
}

type replayJob struct {
	first int64 // line number of lines[0]
	lines [][]byte
	buf   []byte
}

// Replay reads a decision log (JSON lines) from r and re-decides every
// decision the live policy made with p, by the Authorizer's rules, counting
// what would change. It streams: memory does not grow with the log. Unknown
// fields (the audit chain, fields added later) are ignored.
func Replay(ctx context.Context, r io.Reader, p Policy, opts ReplayOptions) (ReplayReport, error) {
	if opts.Examples <= 0 {
		opts.Examples = 3
	}
	if opts.Workers <= 0 {
		opts.Workers = runtime.GOMAXPROCS(0)
	}
	jobs := make(chan *replayJob, opts.Workers)
	results := make(chan *replayState, opts.Workers)
	pool := sync.Pool{New: func() any { return &replayJob{} }}
	var wg sync.WaitGroup
	for range opts.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st := newReplayState(opts.Examples)
			for j := range jobs {
				for i, line := range j.lines {
					st.line(ctx, p, j.first+int64(i), line)
				}
				pool.Put(j)
			}
			results <- st
		}()
	}

	readErr := readBatches(ctx, r, jobs, &pool)
	close(jobs)
	wg.Wait()
	close(results)
	total := newReplayState(opts.Examples)
	for st := range results {
		total.merge(st)
	}
	if readErr != nil {
		return total.report(), readErr
	}
	return total.report(), ctx.Err()
}

func readBatches(ctx context.Context, r io.Reader, jobs chan<- *replayJob, pool *sync.Pool) error {
	br := bufio.NewReaderSize(r, 256<<10)
	var n int64
	j := pool.Get().(*replayJob)
	j.first, j.lines, j.buf = 1, j.lines[:0], j.buf[:0]
	var long bool // inside a line longer than the buffer
	for {
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			long = true
			continue
		}
		if len(line) > 0 {
			n++
			if long {
				line = []byte("\x00line too long")
				long = false
			}
			// Lines point into j.buf; remember offsets, fix up below.
			start := len(j.buf)
			j.buf = append(j.buf, line...)
			j.lines = append(j.lines, j.buf[start:len(j.buf):len(j.buf)])
			if len(j.lines) == replayBatch {
				fixLines(j)
				select {
				case jobs <- j:
				case <-ctx.Done():
					return ctx.Err()
				}
				j = pool.Get().(*replayJob)
				j.first, j.lines, j.buf = n+1, j.lines[:0], j.buf[:0]
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("reading the decision log: %w", err)
		}
	}
	if len(j.lines) > 0 {
		fixLines(j)
		jobs <- j
	}
	return nil
}

// fixLines re-slices the lines of j after j.buf may have moved.
func fixLines(j *replayJob) {
	off := 0
	for i, l := range j.lines {
		j.lines[i] = j.buf[off : off+len(l) : off+len(l)]
		off += len(l)
	}
}

// replayState is one worker's counts and examples.
type replayState struct {
	r        ReplayReport
	perKey   int
	examples map[string][]ReplayFlip
	problems []problem
}

type problem struct {
	line int64
	msg  string
}

func newReplayState(perKey int) *replayState {
	return &replayState{perKey: perKey, examples: map[string][]ReplayFlip{}}
}

func (st *replayState) problem(line int64, msg string) {
	st.problems = append(st.problems, problem{line, msg})
	if len(st.problems) > replayMaxProblems {
		slices.SortFunc(st.problems, func(a, b problem) int { return int(a.line - b.line) })
		st.problems = st.problems[:replayMaxProblems]
	}
}

func (st *replayState) line(ctx context.Context, p Policy, n int64, line []byte) {
	st.r.Lines++
	line = bytes.TrimSpace(line)
	if len(line) == 0 {
		st.r.Lines--
		return
	}
	var rl replayLine
	if err := json.Unmarshal(line, &rl); err != nil {
		st.r.Malformed++
		st.problem(n, "malformed: "+err.Error())
		return
	}
	rec := &rl.DecisionRecord
	switch {
	case rl.Checkpoint != nil:
		st.r.Checkpoints++
		return
	case !rec.PolicyDecided():
		st.r.Skipped++
		return
	}
	st.r.Replayed++
	v, err := Redecide(ctx, p, rec)
	switch {
	case err != nil:
		st.r.Errors++
		st.problem(n, "decision "+rec.DecisionID+": "+err.Error())
		return
	case v.Allow == rec.Allow:
		st.r.Unchanged++
		if v.Reason != rec.Reason {
			st.r.ReasonChanged++
		}
		return
	}
	f := ReplayFlip{Line: n, DecisionID: rec.DecisionID, Direction: AllowToDeny, Subject: rec.Subject,
		Groups: "(anonymous)", OldReason: rec.Reason, NewReason: v.Reason}
	if v.Allow {
		f.Direction = DenyToAllow
		st.r.DenyToAllow++
	} else {
		st.r.AllowToDeny++
	}
	if rec.Auth != "" || rec.Subject != "" {
		f.Groups = strings.Join(rec.Groups, ",")
	}
	if len(rec.Targets) > 0 {
		f.Model, f.API = rec.Targets[0].Model, rec.Targets[0].API
	}
	st.add(f)
}

func exampleKey(f ReplayFlip) string { return f.Groups + "\x00" + f.Model + "\x00" + f.API }

// add keeps f if it is among the first perKey flips of its key.
func (st *replayState) add(f ReplayFlip) {
	k := exampleKey(f)
	list, ok := st.examples[k]
	if !ok && len(st.examples) >= replayMaxKeys {
		st.r.ExampleKeysDropped++
		return
	}
	list = append(list, f)
	slices.SortFunc(list, func(a, b ReplayFlip) int { return int(a.Line - b.Line) })
	if len(list) > st.perKey {
		list = list[:st.perKey]
	}
	st.examples[k] = list
}

func (st *replayState) merge(o *replayState) {
	a, b := &st.r, &o.r
	a.Lines += b.Lines
	a.Replayed += b.Replayed
	a.Skipped += b.Skipped
	a.Checkpoints += b.Checkpoints
	a.Unchanged += b.Unchanged
	a.ReasonChanged += b.ReasonChanged
	a.AllowToDeny += b.AllowToDeny
	a.DenyToAllow += b.DenyToAllow
	a.Errors += b.Errors
	a.Malformed += b.Malformed
	a.ExampleKeysDropped += b.ExampleKeysDropped
	for _, list := range o.examples {
		for _, f := range list {
			st.add(f)
		}
	}
	for _, p := range o.problems {
		st.problem(p.line, p.msg)
	}
}

func (st *replayState) report() ReplayReport {
	r := st.r
	r.Examples = []ReplayFlip{}
	for _, list := range st.examples {
		r.Examples = append(r.Examples, list...)
	}
	slices.SortFunc(r.Examples, func(a, b ReplayFlip) int {
		if c := strings.Compare(exampleKey(a), exampleKey(b)); c != 0 {
			return c
		}
		return int(a.Line - b.Line)
	})
	slices.SortFunc(st.problems, func(a, b problem) int { return int(a.line - b.line) })
	for _, p := range st.problems {
		r.Problems = append(r.Problems, fmt.Sprintf("line %d: %s", p.line, p.msg))
	}
	return r
}
