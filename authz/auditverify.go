package authz

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
)

// AuditVerifyOptions configures VerifyAudit.
type AuditVerifyOptions struct {
	// Keys may sign checkpoints; a checkpoint signed by any other key is a
	// problem. Without keys signatures are not checked (and the report
	// says so).
	Keys []ed25519.PublicKey
	// PartialStart accepts a series whose oldest file is gone (retention):
	// the first line need not be the first of the chain.
	PartialStart bool
}

// AuditProblem is one place where the chain is broken.
type AuditProblem struct {
	File string `json:"file"`
	Line int64  `json:"line"` // 1-based line in File; 0 for the file as a whole
	What string `json:"what"`
}

func (p AuditProblem) String() string {
	if p.Line == 0 {
		return p.File + ": " + p.What
	}
	return fmt.Sprintf("%s:%d: %s", p.File, p.Line, p.What)
}

// AuditReport is what VerifyAudit found.
type AuditReport struct {
	Files       []string `json:"files"` // in chain order
	Lines       int64    `json:"lines"`
	Checkpoints int      `json:"checkpoints"`
	// SignedThrough is the last seq covered by a verified checkpoint.
	SignedThrough uint64 `json:"signed_through"`
	// Unsigned counts lines after the last checkpoint (a live file's
	// newest lines, or a cut tail).
	Unsigned   int64          `json:"unsigned"`
	Unverified bool           `json:"signatures_unverified,omitempty"`
	Problems   []AuditProblem `json:"problems"`
}

// maxAuditProblems bounds the report; the first problem is what matters.
const maxAuditProblems = 20

// fileHead is the first chained line of a file, to order the series.
type fileHead struct {
	path string
	seq  uint64
	ok   bool
}

// VerifyAudit checks the chain and checkpoints of a decision log written by
// AuditWriter, across rotated files given in any order: it orders them by
// their first line and reports the first broken line (and a few after it,
// resuming the chain from each broken line): a modified, deleted, inserted
// or reordered line, a cut file, a file missing from the series, a
// checkpoint that does not match the chain or is signed by another key.
func VerifyAudit(paths []string, opts AuditVerifyOptions) (AuditReport, error) {
	var heads []fileHead
	for _, p := range paths {
		h, err := headOf(p)
		if err != nil {
			return AuditReport{}, err
		}
		heads = append(heads, h)
	}
	slices.SortStableFunc(heads, func(a, b fileHead) int {
		switch {
		case a.ok != b.ok:
			if a.ok {
				return -1
			}
			return 1
		case a.seq < b.seq:
			return -1
		case a.seq > b.seq:
			return 1
		}
		return 0
	})
	v := &auditVerifier{opts: opts, rep: AuditReport{Unverified: len(opts.Keys) == 0, Problems: []AuditProblem{}}, head: genesis}
	for i, h := range heads {
		v.rep.Files = append(v.rep.Files, h.path)
		if err := v.file(h.path, i == len(heads)-1); err != nil {
			return v.rep, err
		}
	}
	if v.lastCp > 0 {
		v.rep.Unsigned = int64(v.seq - v.lastCp)
	} else {
		v.rep.Unsigned = v.rep.Lines
	}
	return v.rep, nil
}

func headOf(path string) (fileHead, error) {
	f, err := os.Open(path)
	if err != nil {
		return fileHead{}, fmt.Errorf("opening %s: %w", path, err)
	}
	defer f.Close()
	line, err := bufio.NewReaderSize(f, 64<<10).ReadSlice('\n')
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, bufio.ErrBufferFull) {
		return fileHead{}, fmt.Errorf("reading %s: %w", path, err)
	}
	t, perr := parseTrailer(bytes.TrimSuffix(line, []byte("\n")))
	return fileHead{path: path, seq: t.Seq, ok: perr == nil}, nil
}

type auditVerifier struct {
	opts          AuditVerifyOptions
	rep           AuditReport
	seq           uint64 // of the last good line
	head          string // its hash
	started       bool
	sawCheckpoint bool
	prevFile      string
	lastCp        uint64 // seq of the last consistent checkpoint line
}

func (v *auditVerifier) problem(file string, line int64, format string, args ...any) {
	if len(v.rep.Problems) < maxAuditProblems {
		v.rep.Problems = append(v.rep.Problems, AuditProblem{File: file, Line: line, What: fmt.Sprintf(format, args...)})
	}
}

func (v *auditVerifier) file(path string, last bool) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("opening %s: %w", path, err)
	}
	defer f.Close()
	return v.stream(path, f, last)
}

// verifyOne checks one file's contents as VerifyAudit would (for fuzzing
// without the file system).
func verifyOne(name string, data []byte, opts AuditVerifyOptions) (AuditReport, error) {
	v := &auditVerifier{opts: opts, rep: AuditReport{Unverified: len(opts.Keys) == 0, Problems: []AuditProblem{}}, head: genesis}
	err := v.stream(name, bytes.NewReader(data), true)
	return v.rep, err
}

func (v *auditVerifier) stream(path string, r io.Reader, last bool) error {
	br := bufio.NewReaderSize(r, 64<<10)
	var n int64
	endsWithCheckpoint := false
	for {
		line, err := br.ReadBytes('\n')
		if len(line) == 0 && errors.Is(err, io.EOF) {
			break
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("reading %s: %w", path, err)
		}
		n++
		v.rep.Lines++
		if line[len(line)-1] != '\n' {
			v.problem(path, n, "file cut in the middle of a line (truncated)")
			break
		}
		endsWithCheckpoint = v.line(path, n, line[:len(line)-1])
	}
	if n == 0 && !last {
		v.problem(path, 0, "empty file in the middle of the series")
	}
	if !last && v.sawCheckpoint && !endsWithCheckpoint {
		v.problem(path, n, "a rotated file must end with its sealing checkpoint: lines after %d were cut", n)
	}
	v.prevFile = path
	return nil
}

// line checks one line and reports whether it is a good checkpoint.
func (v *auditVerifier) line(path string, n int64, line []byte) bool {
	t, err := parseTrailer(line)
	if err != nil {
		v.problem(path, n, "not a chained line: %v", err)
		return false
	}
	sum := sha256.Sum256(t.hashed)
	if hex.EncodeToString(sum[:]) != t.Hash {
		v.problem(path, n, "line modified: its hash does not match its content (seq %d)", t.Seq)
		// Resume from the recorded hash, so one change is one problem.
		v.seq, v.head, v.started = t.Seq, t.Hash, true
		return false
	}
	switch {
	case !v.started:
		if t.Seq != 1 || t.Prev != genesis {
			if !v.opts.PartialStart {
				v.problem(path, n, "the series starts at seq %d, not 1: earlier lines or files are missing (--partial-start accepts that)", t.Seq)
			}
		}
	case t.Seq == v.seq+1 && t.Prev == v.head:
		// the chain continues
	case t.Seq == v.seq+1:
		v.problem(path, n, "chain broken: seq %d does not follow the line before it (a line was replaced or inserted)", t.Seq)
	case t.Seq > v.seq+1 && n == 1 && v.prevFile != "":
		v.problem(path, n, "seq %d..%d missing between %s and %s: a file of the rotated series is missing or was cut", v.seq+1, t.Seq-1, v.prevFile, path)
	case t.Seq > v.seq+1:
		v.problem(path, n, "seq %d..%d missing: lines deleted", v.seq+1, t.Seq-1)
	default:
		v.problem(path, n, "seq %d after seq %d: a line inserted, duplicated or moved", t.Seq, v.seq)
	}
	v.seq, v.head, v.started = t.Seq, t.Hash, true
	if t.Checkpoint == nil {
		return false
	}
	return v.checkpoint(path, n, t)
}

func (v *auditVerifier) checkpoint(path string, n int64, t trailer) bool {
	cp := t.Checkpoint
	v.rep.Checkpoints++
	v.sawCheckpoint = true
	if cp.Seq+1 != t.Seq || cp.Head != t.Prev {
		v.problem(path, n, "checkpoint signs seq %d but follows seq %d", cp.Seq, t.Seq-1)
		return false
	}
	v.lastCp = t.Seq
	if len(v.opts.Keys) == 0 {
		return true
	}
	sig, err := base64.StdEncoding.DecodeString(cp.Sig)
	if err != nil {
		v.problem(path, n, "checkpoint signature is not base64")
		return false
	}
	for _, k := range v.opts.Keys {
		if ed25519.Verify(k, checkpointMessage(cp.Seq, cp.Head), sig) {
			v.rep.SignedThrough = cp.Seq
			return true
		}
	}
	v.problem(path, n, "checkpoint not signed by a trusted key (key_id %s)", cp.KeyID)
	return false
}
