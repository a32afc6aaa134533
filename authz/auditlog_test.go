package authz

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func newEd25519(tb testing.TB) ed25519.PrivateKey {
	tb.Helper()
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

// writeAudit writes n decisions through a DecisionLog into a chained,
// signed log that rotates every ~4 KB, and returns the files, oldest first.
func writeAudit(tb testing.TB, key ed25519.PrivateKey, n int) []string {
	tb.Helper()
	dir := tb.TempDir()
	path := filepath.Join(dir, "decisions.jsonl")
	w, err := OpenAuditWriter(AuditConfig{Path: path, SigningKey: key, CheckpointLines: 7, RotateBytes: 4000})
	if err != nil {
		tb.Fatal(err)
	}
	log := NewDecisionLog(w)
	for i := range n {
		log.Record(DecisionRecord{
			Time: time.Date(2026, 12, 5, 8, 0, i, 0, time.UTC), DecisionID: fmt.Sprintf("d%03d", i),
			Allow: i%3 != 0, Reason: "r", Subject: "alice", Groups: []string{"ml"}, Auth: AuthCookie,
			Method: "POST", Path: "/v1/models/m:predict", Protocol: ProtocolREST, PolicyRevision: "r1",
			Targets: []RecordTarget{{API: "predict", Model: "m"}},
		})
		if i%10 == 9 {
			_ = log.Flush() // several writes, as the flusher makes them
		}
	}
	if err := log.Close(); err != nil {
		tb.Fatal(err)
	}
	files, _ := filepath.Glob(path + ".*")
	slices.Sort(files)
	return append(files, path)
}

func readLines(tb testing.TB, path string) []string {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	return strings.SplitAfter(string(b), "\n")[:strings.Count(string(b), "\n")]
}

func writeLines(tb testing.TB, path string, lines []string) {
	tb.Helper()
	if err := os.WriteFile(path, []byte(strings.Join(lines, "")), 0o600); err != nil {
		tb.Fatal(err)
	}
}

func TestAuditVerifyDetectsTampering(t *testing.T) {
	key := newEd25519(t)
	pub := key.Public().(ed25519.PublicKey)
	trusted := AuditVerifyOptions{Keys: []ed25519.PublicKey{pub}}

	pristine := writeAudit(t, key, 60)
	if len(pristine) < 3 {
		t.Fatalf("want a rotated series, got %d files", len(pristine))
	}
	rep, err := VerifyAudit(reversed(pristine), trusted)
	if err != nil || len(rep.Problems) != 0 {
		t.Fatalf("pristine series (given newest first): %v %v", err, rep.Problems)
	}
	if rep.Lines < 60 || rep.Checkpoints < 8 || rep.Unsigned != 0 || rep.SignedThrough == 0 {
		t.Fatalf("pristine report %+v", rep)
	}

	cases := []struct {
		name string
		// tamper changes the files and returns the ones to verify.
		tamper func(files []string) []string
		opts   AuditVerifyOptions
		file   int // index into the files of the first problem
		line   int64
		want   string
	}{
		{"modified line", func(f []string) []string {
			l := readLines(t, f[1])
			l[2] = strings.Replace(l[2], `"allow":false`, `"allow":true`, 1)
			l[2] = strings.Replace(l[2], `"allow":true,"reason":"r","subject":"alice"`, `"allow":true,"reason":"r","subject":"mallory"`, 1)
			writeLines(t, f[1], l)
			return f
		}, trusted, 1, 3, "line modified"},
		{"deleted line", func(f []string) []string {
			l := readLines(t, f[1])
			writeLines(t, f[1], slices.Delete(l, 3, 4))
			return f
		}, trusted, 1, 4, "lines deleted"},
		{"inserted line", func(f []string) []string {
			l := readLines(t, f[0])
			writeLines(t, f[0], slices.Insert(l, 5, l[2]))
			return f
		}, trusted, 0, 6, "inserted, duplicated or moved"},
		{"reordered lines", func(f []string) []string {
			l := readLines(t, f[2])
			l[1], l[2] = l[2], l[1]
			writeLines(t, f[2], l)
			return f
		}, trusted, 2, 2, ""},
		{"truncated file", func(f []string) []string {
			last := f[len(f)-1]
			if b, _ := os.ReadFile(last); len(b) == 0 {
				last = f[len(f)-2]
			}
			b, _ := os.ReadFile(last)
			_ = os.WriteFile(last, b[:len(b)-30], 0o600)
			return f
		}, trusted, -1, -1, "truncated"},
		{"rotated file cut at a line boundary", func(f []string) []string {
			l := readLines(t, f[0])
			writeLines(t, f[0], l[:len(l)-2])
			return f
			// Either the file no longer ends with a checkpoint, or (when the
			// cut lands on a periodic checkpoint) the next file shows the gap.
		}, trusted, -1, -1, "cut"},
		{"missing file in the series", func(f []string) []string {
			return slices.Delete(slices.Clone(f), 1, 2)
		}, trusted, 1, 1, "a file of the rotated series is missing"},
		{"missing first file", func(f []string) []string {
			return f[1:]
		}, trusted, 0, 1, "starts at seq"},
		{"checkpoint by another key", func(f []string) []string { return f },
			AuditVerifyOptions{Keys: []ed25519.PublicKey{newEd25519(t).Public().(ed25519.PublicKey)}}, 0, -1, "not signed by a trusted key"},
		{"modified line, chain recomputed", func(f []string) []string {
			// A forger without the key rewrites a line and re-hashes every
			// line after it: only the next checkpoint gives it away.
			l := readLines(t, f[0])
			l[1] = strings.Replace(l[1], `"subject":"alice"`, `"subject":"mallory"`, 1)
			rechain(t, l, 1)
			writeLines(t, f[0], l)
			return f
		}, trusted, 0, -1, "checkpoint signs seq"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			files := copyFiles(t, pristine)
			files = c.tamper(files)
			rep, err := VerifyAudit(files, c.opts)
			if err != nil {
				t.Fatal(err)
			}
			if len(rep.Problems) == 0 {
				t.Fatalf("tampering not detected; report %+v", rep)
			}
			p := rep.Problems[0]
			if c.file >= 0 && p.File != files[c.file] {
				t.Errorf("first problem in %s, want %s: %v", p.File, files[c.file], rep.Problems)
			}
			if c.line >= 0 && p.Line != c.line {
				t.Errorf("first problem at line %d, want %d: %v", p.Line, c.line, rep.Problems)
			}
			if !strings.Contains(p.What, c.want) {
				t.Errorf("first problem %q, want %q", p.What, c.want)
			}
		})
	}
}

// rechain recomputes seq, prev and hash of lines[from:] as a forger would.
func rechain(tb testing.TB, lines []string, from int) {
	tb.Helper()
	prev := genesis
	if from > 0 {
		t, err := parseTrailer([]byte(strings.TrimSuffix(lines[from-1], "\n")))
		if err != nil {
			tb.Fatal(err)
		}
		prev = t.Hash
	}
	for i := from; i < len(lines); i++ {
		l := strings.TrimSuffix(lines[i], "\n")
		body := l[:strings.LastIndex(l, `,"prev":"`)]
		hashed := body + `,"prev":"` + prev + `"`
		sum := sha256.Sum256([]byte(hashed))
		prev = hex.EncodeToString(sum[:])
		lines[i] = hashed + auditHashField + prev + "\"}\n"
	}
}

func copyFiles(tb testing.TB, files []string) []string {
	tb.Helper()
	dir := tb.TempDir()
	var out []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			tb.Fatal(err)
		}
		p := filepath.Join(dir, filepath.Base(f))
		if err := os.WriteFile(p, b, 0o600); err != nil {
			tb.Fatal(err)
		}
		out = append(out, p)
	}
	return out
}

// TestAuditWriterResumes restarts the writer on the same file: the chain
// continues across the restart and across a rotation.
func TestAuditWriterResumes(t *testing.T) {
	key := newEd25519(t)
	path := filepath.Join(t.TempDir(), "d.jsonl")
	for round := range 3 {
		w, err := OpenAuditWriter(AuditConfig{Path: path, SigningKey: key})
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(w, `{"round":%d}`+"\n"+`{"round":%d,"second":true}`+"\n", round, round)
		if round == 1 {
			if err := w.Rotate(); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
	files, _ := filepath.Glob(path + "*")
	rep, err := VerifyAudit(files, AuditVerifyOptions{Keys: []ed25519.PublicKey{key.Public().(ed25519.PublicKey)}})
	if err != nil || len(rep.Problems) > 0 || len(rep.Files) != 2 {
		t.Fatalf("%v %+v", err, rep)
	}
	// 3 rounds of 2 lines and a closing checkpoint each.
	if rep.Lines != 9 || rep.Checkpoints != 3 || !bytes.Contains([]byte(strings.Join(readLines(t, path), "")), []byte(`"seq":9`)) {
		t.Fatalf("report %+v", rep)
	}
}

func reversed(s []string) []string {
	r := slices.Clone(s)
	slices.Reverse(r)
	return r
}
