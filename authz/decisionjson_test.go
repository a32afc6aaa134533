package authz

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
)

// hostileStrings covers every branch of encoding/json's string quoting:
// control bytes, the short escapes, HTML characters, invalid UTF-8,
// U+2028/U+2029 and ordinary multi-byte text.
var hostileStrings = []string{
	"", "plain", `quote " and back\slash`, "\b\f\n\r\t\x00\x01\x1f\x7f",
	"<script>&amp;</script>", "bad utf8 \xff\xfe and \xc3", "line\u2028para\u2029sep",
	"ünïcødé ✓ 模型 🙂", "%\"x-tfgate-user\"", "\xed\xa0\x80 surrogate",
}

func decisionRecords() []DecisionRecord {
	v, l := int64(3), "stable"
	neg := int64(-9)
	var recs []DecisionRecord
	for i, s := range hostileStrings {
		recs = append(recs, DecisionRecord{
			Time: time.Date(2026, 12, 6, 3, 4, 5, i*1001, time.UTC), DecisionID: s, Allow: i%2 == 0,
			Reason: s, Subject: s, Email: s, Groups: []string{s, "ml-team"}, IdP: s, Auth: s,
			Scope: []string{s}, Session: s, Method: s, Path: s, Host: s, Protocol: s, Source: s,
			Targets: []RecordTarget{
				{API: s, Model: s, Version: &v, Signature: s, Method: s},
				{API: "predict", Model: "m", Label: &l},
				{API: "x", Version: &neg},
			},
			PolicyRevision: s, LatencyMicros: int64(i * 1234567), Error: s, RequestID: s, TraceID: s,
		})
	}
	recs = append(recs,
		DecisionRecord{},
		DecisionRecord{Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("X", 5*3600+1800)),
			ExpiresAt: time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC), Groups: []string{}},
		DecisionRecord{Time: time.Unix(1, 0).In(time.FixedZone("Y", -(23*3600 + 59*60))), LatencyMicros: -1},
	)
	return recs
}

// TestDecisionRecordJSONIdentical: the hand-written encoder writes exactly
// what encoding/json writes, so the decision log's format did not change.
func TestDecisionRecordJSONIdentical(t *testing.T) {
	for i, rec := range decisionRecords() {
		want, err := json.Marshal(rec)
		if err != nil {
			t.Fatalf("record %d: encoding/json: %v", i, err)
		}
		got, ok := rec.appendJSON(nil)
		if !ok {
			t.Fatalf("record %d: appendJSON refused a record encoding/json writes", i)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("record %d:\n got %s\nwant %s", i, got, want)
		}
	}
}

// TestDecisionRecordJSONOutOfRangeTime: a time encoding/json refuses still
// gives a line (without that time), never a lost decision.
func TestDecisionRecordJSONOutOfRangeTime(t *testing.T) {
	rec := DecisionRecord{Time: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), DecisionID: "d1",
		ExpiresAt: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}
	if _, ok := rec.appendJSON(nil); ok {
		t.Fatal("appendJSON accepted year 10000, which encoding/json refuses")
	}
	line := marshalRecord(nil, &rec)
	var back DecisionRecord
	if err := json.Unmarshal(line, &back); err != nil {
		t.Fatalf("fallback line %q: %v", line, err)
	}
	if back.DecisionID != "d1" || !back.ExpiresAt.IsZero() || !back.Time.Equal(rec.Time) {
		t.Errorf("fallback line %s lost or kept the wrong fields", line)
	}
}

func TestDecisionLogRecordAllocatesNothing(t *testing.T) {
	var buf bytes.Buffer
	l := NewDecisionLog(&buf)
	defer l.Close()
	rec := decisionRecords()[1]
	if n := testing.AllocsPerRun(200, func() { l.Record(rec) }); n > 0 {
		t.Errorf("Record allocates %.0f times per line, want 0", n)
	}
}

func FuzzDecisionRecordJSON(f *testing.F) {
	for _, s := range hostileStrings {
		f.Add(s, s, int64(len(s)), true)
	}
	f.Fuzz(func(t *testing.T, a, b string, n int64, allow bool) {
		rec := DecisionRecord{Time: time.Unix(0, n).UTC(), DecisionID: a, Allow: allow, Reason: b,
			Groups: []string{a, b}, Path: a + b, LatencyMicros: n, Targets: []RecordTarget{{API: a, Model: b, Label: &a}}}
		want, err := json.Marshal(rec)
		if err != nil {
			t.Skip()
		}
		got, ok := rec.appendJSON(nil)
		if !ok || !bytes.Equal(got, want) {
			t.Fatalf("appendJSON = %s (ok %v), encoding/json = %s", got, ok, want)
		}
	})
}
