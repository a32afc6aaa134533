package authz

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"os"
	"testing"
)

// FuzzVerifyAudit feeds arbitrary file contents (a tampered log is
// attacker-controlled) to the verifier VerifyAudit runs on each file: it must report, never panic, and a
// file it accepts must be a valid chain.
func FuzzVerifyAudit(f *testing.F) {
	key := newEd25519(f)
	files := writeAudit(f, key, 12)
	for _, p := range files {
		b, _ := os.ReadFile(p)
		f.Add(b)
	}
	f.Add([]byte(`{"seq":1,"prev":"` + genesis + `","hash":"` + genesis + `"}` + "\n"))
	f.Add([]byte("{}\n\n{\"checkpoint\":{}}\n"))
	pub := []ed25519.PublicKey{key.Public().(ed25519.PublicKey)}
	f.Fuzz(func(t *testing.T, data []byte) {
		rep, err := verifyOne("d.jsonl", data, AuditVerifyOptions{Keys: pub})
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.Problems) == 0 && len(data) > 0 {
			// Accepted: every line must parse as a chained line.
			for _, line := range splitLines(data) {
				if _, err := parseTrailer(line); err != nil {
					t.Fatalf("accepted a file with an unchained line %q", line)
				}
			}
		}
	})
}

func splitLines(b []byte) [][]byte {
	var out [][]byte
	for len(b) > 0 {
		i := 0
		for i < len(b) && b[i] != '\n' {
			i++
		}
		out = append(out, b[:i])
		if i < len(b) {
			i++
		}
		b = b[i:]
	}
	return out
}

// FuzzReplayLine feeds arbitrary decision-log bytes to Replay with a
// policy that allows everything: no panic, and every line is counted once.
func FuzzReplayLine(f *testing.F) {
	f.Add([]byte(`{"decision_id":"d","allow":false,"policy_revision":"r","targets":[{"api":"predict","model":"m","version":null,"label":null,"signature":""}]}` + "\n"))
	f.Add([]byte("{\"checkpoint\":{}}\nnot json\n\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		rep, err := Replay(t.Context(), bytesReader(data), allowAll{}, ReplayOptions{Workers: 2})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Replayed+rep.Skipped+rep.Checkpoints+rep.Malformed != rep.Lines {
			t.Fatalf("counts do not add up: %+v", rep)
		}
		if rep.Replayed != rep.Unchanged+rep.AllowToDeny+rep.DenyToAllow+rep.Errors {
			t.Fatalf("replayed lines not all classified: %+v", rep)
		}
	})
}

type allowAll struct{}

func (allowAll) Evaluate(context.Context, *Input) (Verdict, error) {
	return Verdict{Allow: true, Reason: "all"}, nil
}

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }
