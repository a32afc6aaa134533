package session

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tfgate/tfgate/authz"
)

// fastSessions are sessions as the stores write them, covering every field,
// and strings encoding/json escapes or that are not ASCII.
func fastSessions() []authz.Session {
	t0 := time.Date(2026, 12, 6, 5, 0, 0, 123456789, time.UTC)
	plus2 := time.FixedZone("", 2*3600)
	return []authz.Session{
		{Subject: "alice@example.com", ExpiresAt: t0.Add(time.Hour)},
		benchSessionAt(t0),
		{
			Subject: "bob", Email: "bob@example.com", Name: "Bob Smith",
			Groups: []string{"ml-readers"}, IdP: "https://idp.example.com/metadata",
			Scope:     []string{"model:resnet", "model:bert:predict"},
			CreatedAt: t0, ExpiresAt: t0.Add(24 * time.Hour),
			SessionIndex: "_abc123", NameIDFormat: "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent",
			Family: "ROOTHANDLE/GRANTHANDLE", Access: "accessref",
			Replaces:       []string{"old-access", "old-refresh"},
			RotationWindow: t0.Add(-time.Minute), Rotations: 17, Auth: authz.AuthK8s,
		},
		{
			// encoding/json escapes <, >, &, U+2028, U+2029, quotes,
			// backslashes and control characters, and writes invalid
			// UTF-8 as \ufffd.
			Subject: `CN="Ex, Ample" <x&y>`, Name: "tab\there\nnew\\line\u2028\u2029\x01\x7f",
			Groups:    []string{"R&D", "café", "日本語", "emoji 😀", "bad \xff utf8", "", `"`},
			CreatedAt: t0.In(plus2), ExpiresAt: t0.Add(time.Hour).In(plus2),
		},
		{
			// Many groups: more than decodeRecordFast's stack buffer.
			Subject: "many", Groups: strings.Split(strings.Repeat("g,", 40)+"last", ","),
			ExpiresAt: t0, RotationWindow: t0, Rotations: -3,
		},
		{Subject: "no-expiry", CreatedAt: t0},
		{Subject: "", ExpiresAt: time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC)},
	}
}

func benchSessionAt(now time.Time) authz.Session {
	s := benchSession()
	s.CreatedAt, s.ExpiresAt = now, now.Add(time.Hour)
	return s
}

// fastSeeds are records for the tests and the fuzz corpus: what
// encodeSession writes, and what only encoding/json decodes.
func fastSeeds(t testing.TB) (written, other []string) {
	for _, s := range fastSessions() {
		b, err := encodeSession(s)
		if err != nil {
			t.Fatal(err)
		}
		written = append(written, string(b))
	}
	other = []string{
		``, `{}`, `null`, `[]`, `"x"`, `{"v":1}`, `{"v":2,"s":{"expires_at":"2026-12-06T05:00:00Z"}}`,
		` {"v":1,"s":{"expires_at":"2026-12-06T05:00:00Z"}}`,
		`{"v":1,"s":{"expires_at":"2026-12-06T05:00:00Z"}} `,
		`{"v":1, "s":{"expires_at":"2026-12-06T05:00:00Z"}}`,
		`{"v":1,"s":{"expires_at":"2026-12-06T05:00:00Z"}}x`,
		`{"v":1,"s":{"expires_at":"2026-12-06T05:00:00Z"}}{}`,
		`{"v":1,"s":{"expires_at":"2026-12-06T05:00:00Z","new":{"a":[1,2.5e3,true,null]}}}`,
		`{"v":1,"x":[],"s":{"expires_at":"2026-12-06T05:00:00Z"}}`,
		`{"v":1,"s":{"expires_at":"2026-12-06T05:00:00Z","sub":null,"groups":null}}`,
		`{"v":1,"s":{"groups":["a"],"expires_at":"2026-12-06T05:00:00Z","groups":["b","c"]}}`,
		`{"v":1,"s":{"groups":["a"],"expires_at":"2026-12-06T05:00:00Z","groups":[]}}`,
		`{"v":1,"s":{"groups":["a"],"expires_at":"2026-12-06T05:00:00Z","groups":null}}`,
		`{"v":1,"s":{"sub":"a","expires_at":"2026-12-06T05:00:00Z"},"s":{"email":"e"}}`,
		`{"v":1,"s":{"sub":"a","SUB":"b","expires_at":"2026-12-06T05:00:00Z"}}`,
		`{"V":1,"\u017f":{"Expires_At":"2026-12-06T05:00:00Z"}}`,
		`{"v":1,"s":{"expires_at":"2026-12-06T05:00:00Z","sub":"\ud83d\ude00\ud800x\udc00\ud800\u0041"}}`,
		`{"v":1,"s":{"expires_at":"2026-12-06T05:00:00Z","sub":"\ud800\uZZZZ"}}`,
		`{"v":1,"s":{"expires_at":"2026-12-06T05:00:00Z","sub":"\'"}}`,
		`{"v":1,"s":{"expires_at":"2026-12-06T05:00:00Z","sub":"\x"}}`,
		`{"v":1,"s":{"expires_at":"2026-12-06T05:00:00Z","sub":"\u00e9\/\b\f\r"}}`,
		"{\"v\":1,\"s\":{\"expires_at\":\"2026-12-06T05:00:00Z\",\"sub\":\"\xff\xfe\xc3\"}}",
		"{\"v\":1,\"s\":{\"expires_at\":\"2026-12-06T05:00:00Z\",\"sub\":\"a\x00\"}}",
		"{\"v\":1,\"s\":{\"expires_at\":\"2026-12-06T05:00:00Z\",\"s\xffb\":\"a\"}}",
		`{"v":1,"s":{"expires_at":"2026-12-06T05:00:00\u005a"}}`,
		`{"v":1,"s":{"expires_at":"2026-12-06T05:00:00+01:00","created_at":"2026-12-06T05:00:00.5-23:59"}}`,
		`{"v":1,"s":{"expires_at":"2026-12-06T05:00:00+24:00"}}`,
		`{"v":1,"s":{"expires_at":"2026-13-06T05:00:00Z"}}`,
		`{"v":1,"s":{"expires_at":"2026-12-06t05:00:00z"}}`,
		`{"v":1,"s":{"expires_at":null}}`,
		`{"v":1,"s":{"expires_at":"2026-12-06T05:00:00Z","rw":null,"rn":null}}`,
		`{"v":1,"s":{"expires_at":20261206}}`,
		`{"v":1.0,"s":{"expires_at":"2026-12-06T05:00:00Z"}}`,
		`{"v":1e0,"s":{"expires_at":"2026-12-06T05:00:00Z"}}`,
		`{"v":01,"s":{"expires_at":"2026-12-06T05:00:00Z"}}`,
		`{"v":-0,"s":{"expires_at":"2026-12-06T05:00:00Z"}}`,
		`{"v":-,"s":{"expires_at":"2026-12-06T05:00:00Z"}}`,
		`{"v":"1","s":{"expires_at":"2026-12-06T05:00:00Z"}}`,
		`{"v":1,"s":{"expires_at":"2026-12-06T05:00:00Z","rn":999999999999999999}}`,
		`{"v":1,"s":{"expires_at":"2026-12-06T05:00:00Z","rn":9223372036854775807}}`,
		`{"v":1,"s":{"expires_at":"2026-12-06T05:00:00Z","rn":9223372036854775808}}`,
		`{"v":1,"s":{"expires_at":"2026-12-06T05:00:00Z","rn":-9223372036854775808}}`,
		`{"v":1,"s":{"expires_at":"2026-12-06T05:00:00Z","sub":1}}`,
		`{"v":1,"s":{"expires_at":"2026-12-06T05:00:00Z","groups":"a"}}`,
		`{"v":1,"s":{"expires_at":"2026-12-06T05:00:00Z","groups":["a",1]}}`,
		`{"v":1,"s":{"expires_at":"2026-12-06T05:00:00Z","groups":["a",]}}`,
		`{"v":1,"s":{"expires_at":"2026-12-06T05:00:00Z","groups":[,]}}`,
		`{"v":1,"s":{"expires_at":"2026-12-06T05:00:00Z",}}`,
		`{"v":1,"s":[]}`, `{"v":1,"s":null}`, `{"v":1,"s":"x"}`,
	}
	return written, other
}

// TestDecodeSessionFast: every record encodeSession writes takes the fast
// path and decodes to what encoding/json decodes; everything else agrees
// with encoding/json too.
func TestDecodeSessionFast(t *testing.T) {
	written, other := fastSeeds(t)
	for i, rec := range written {
		r, ok := decodeRecordFast([]byte(rec))
		if !ok {
			t.Errorf("written record %d not taken by the fast path: %s", i, rec)
			continue
		}
		var want record
		if err := json.Unmarshal([]byte(rec), &want); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(r, want) {
			t.Errorf("written record %d: fast %#v, encoding/json %#v", i, r, want)
		}
		s := fastSessions()[i]
		if r.S.Subject != s.Subject || !r.S.ExpiresAt.Equal(s.ExpiresAt) || len(r.S.Groups) != len(s.Groups) {
			t.Errorf("written record %d did not round-trip: %#v", i, r.S)
		}
	}
	for _, rec := range append(written, other...) {
		checkDecodeSession(t, []byte(rec))
	}
	// Which of the others the fast path takes, so that a change of what
	// it takes is seen.
	var took []string
	for _, rec := range other {
		if _, ok := decodeRecordFast([]byte(rec)); ok {
			took = append(took, rec)
		}
	}
	wantTook := []string{
		`{}`, `{"v":1}`, `{"v":2,"s":{"expires_at":"2026-12-06T05:00:00Z"}}`,
		`{"v":1,"s":{"groups":["a"],"expires_at":"2026-12-06T05:00:00Z","groups":["b","c"]}}`,
		`{"v":1,"s":{"groups":["a"],"expires_at":"2026-12-06T05:00:00Z","groups":[]}}`,
		`{"v":1,"s":{"sub":"a","expires_at":"2026-12-06T05:00:00Z"},"s":{"email":"e"}}`,
		`{"v":1,"s":{"expires_at":"2026-12-06T05:00:00Z","sub":"\ud83d\ude00\ud800x\udc00\ud800\u0041"}}`,
		`{"v":1,"s":{"expires_at":"2026-12-06T05:00:00Z","sub":"\u00e9\/\b\f\r"}}`,
		"{\"v\":1,\"s\":{\"expires_at\":\"2026-12-06T05:00:00Z\",\"sub\":\"\xff\xfe\xc3\"}}",
		`{"v":1,"s":{"expires_at":"2026-12-06T05:00:00+01:00","created_at":"2026-12-06T05:00:00.5-23:59"}}`,
		`{"v":1,"s":{"expires_at":"2026-12-06T05:00:00+24:00"}}`,
		`{"v":-0,"s":{"expires_at":"2026-12-06T05:00:00Z"}}`,
		`{"v":1,"s":{"expires_at":"2026-12-06T05:00:00Z","rn":999999999999999999}}`,
	}
	if !reflect.DeepEqual(took, wantTook) {
		t.Errorf("fast path took\n%q\nwant\n%q", took, wantTook)
	}
}

// checkDecodeSession fails t unless decodeSession(b) and the fast path
// agree with encoding/json.
func checkDecodeSession(t *testing.T, b []byte) {
	t.Helper()
	if r, ok := decodeRecordFast(b); ok {
		var want record
		if err := json.Unmarshal(b, &want); err != nil {
			t.Fatalf("fast path took %q, which encoding/json rejects: %v", b, err)
		}
		if !reflect.DeepEqual(r, want) {
			t.Fatalf("%q: fast %#v, encoding/json %#v", b, r, want)
		}
	}
	got, err := decodeSession(b)
	want, wantErr := decodeSessionJSON(b)
	if (err != nil) != (wantErr != nil) {
		t.Fatalf("%q: decodeSession error %v, encoding/json error %v", b, err, wantErr)
	}
	if err != nil && !errors.Is(err, ErrCorrupt) {
		t.Fatalf("%q: error %v is not ErrCorrupt", b, err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%q: decodeSession %#v, encoding/json %#v", b, got, want)
	}
}

// FuzzDecodeSession: decodeSession, and its fast path wherever it takes a
// record, agree with encoding/json on every input, in result and in
// error-ness; errors are ErrCorrupt.
func FuzzDecodeSession(f *testing.F) {
	written, other := fastSeeds(f)
	for _, rec := range append(written, other...) {
		f.Add([]byte(rec))
	}
	for _, rec := range written {
		for _, n := range []int{1, len(rec) / 3, len(rec) / 2, len(rec) - 2, len(rec) - 1} {
			f.Add([]byte(rec[:n]))
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		checkDecodeSession(t, b)
	})
}

// TestDecodeSessionAllocs pins the allocations of decoding a typical
// session (benchSession: three groups): one string copy of the record and
// the groups slice. encoding/json took 16.
func TestDecodeSessionAllocs(t *testing.T) {
	b, err := encodeSession(benchSession())
	if err != nil {
		t.Fatal(err)
	}
	got := testing.AllocsPerRun(100, func() {
		if _, err := decodeSession(b); err != nil {
			t.Fatal(err)
		}
	})
	if got > 2 {
		t.Errorf("decodeSession: %v allocations, want at most 2", got)
	}
}

// TestDecodeSessionNoAlias: the decoded session does not alias the record
// bytes, which the caller may reuse.
func TestDecodeSessionNoAlias(t *testing.T) {
	b, err := encodeSession(benchSession())
	if err != nil {
		t.Fatal(err)
	}
	s, err := decodeSession(b)
	if err != nil {
		t.Fatal(err)
	}
	want := benchSession()
	for i := range b {
		b[i] = 'X'
	}
	if s.Subject != want.Subject || s.Email != want.Email || s.IdP != want.IdP || !reflect.DeepEqual(s.Groups, want.Groups) {
		t.Errorf("session changed with its record bytes: %#v", s)
	}
}

// BenchmarkDecodeSession: decodeSession (the fast path) against
// encoding/json alone, for a typical session (benchSession: three groups).
func BenchmarkDecodeSession(b *testing.B) {
	rec, err := encodeSession(benchSession())
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name   string
		decode func([]byte) (authz.Session, error)
	}{{"fast", decodeSession}, {"encoding-json", decodeSessionJSON}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := bc.decode(rec); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
