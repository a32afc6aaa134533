package authz

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// benchRecord is a typical allowed decision.
var benchRecord = DecisionRecord{
	Time: time.Date(2026, 12, 5, 8, 0, 0, 0, time.UTC), DecisionID: "0123456789abcdef0123456789abcdef",
	Allow: true, Reason: "group ml-engineers grants predict on model half_plus_two version 1",
	Subject: "alice@example.com", Email: "alice@example.com", Groups: []string{"ml-engineers", "staff"},
	IdP: "https://idp.example.com/metadata", Auth: AuthBearer, Session: "4b1d9e0c2a7f6e11",
	ExpiresAt: time.Date(2026, 12, 5, 9, 0, 0, 0, time.UTC),
	Method:    "POST", Path: "/v1/models/half_plus_two/versions/1:predict", Host: "tfs", Protocol: ProtocolREST,
	Targets: []RecordTarget{{API: "predict", Model: "half_plus_two", Version: new(int64(1))}}, PolicyRevision: "a1b2c3d4e5f6",
	LatencyMicros: 120,
}

// BenchmarkDecisionLogRecord is what the Check path pays per decision for
// the decision log, from parallel goroutines as gRPC calls it: to a plain
// file, and to a hash-chained file with Ed25519 checkpoints every 1000
// lines. The chain is computed when the log's buffer is written out.
func BenchmarkDecisionLogRecord(b *testing.B) {
	for _, chained := range []bool{false, true} {
		b.Run(fmt.Sprintf("chained=%v", chained), func(b *testing.B) {
			path := filepath.Join(b.TempDir(), "d.jsonl")
			var log *DecisionLog
			if chained {
				w, err := OpenAuditWriter(AuditConfig{Path: path, SigningKey: newEd25519(b)})
				if err != nil {
					b.Fatal(err)
				}
				log = NewDecisionLog(w)
			} else {
				f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
				if err != nil {
					b.Fatal(err)
				}
				log = NewDecisionLog(f)
			}
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					log.Record(benchRecord)
				}
			})
			b.StopTimer()
			if err := log.Close(); err != nil {
				b.Fatal(err)
			}
		})
	}
}

// BenchmarkAuditChain is the chain worker alone: hash, checkpoint every
// 1000 lines, write. Its lines/s is the most decisions per second the
// chained log sustains before Write starts waiting (the queue is bounded).
func BenchmarkAuditChain(b *testing.B) {
	line, _ := json.Marshal(benchRecord)
	line = append(line, '\n')
	w, err := OpenAuditWriter(AuditConfig{Path: filepath.Join(b.TempDir(), "d.jsonl"), SigningKey: newEd25519(b)})
	if err != nil {
		b.Fatal(err)
	}
	batch := bytes.Repeat(line, 100)
	b.SetBytes(int64(len(line)))
	b.ResetTimer()
	w.mu.Lock()
	for i := 0; i < b.N; i += 100 {
		if err := w.process(batch); err != nil {
			b.Fatal(err)
		}
	}
	w.mu.Unlock()
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lines/s")
	_ = w.Close()
}
