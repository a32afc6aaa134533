package authz

import (
	"strconv"
	"time"
	"unicode/utf8"
)

// appendJSON appends rec as encoding/json would marshal it, byte for byte
// (TestDecisionRecordJSONIdentical and FuzzDecisionRecordJSON compare
// them), without reflection and without allocating: the decision log
// writes one record per Check. It reports false, having appended nothing,
// for a record encoding/json would refuse (a time outside years 0-9999).
func (rec *DecisionRecord) appendJSON(b []byte) ([]byte, bool) {
	if !strictTime(rec.Time) || (!rec.ExpiresAt.IsZero() && !strictTime(rec.ExpiresAt)) {
		return b, false
	}
	b = append(b, `{"time":"`...)
	b = rec.Time.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","decision_id":`...)
	b = appendJSONString(b, rec.DecisionID)
	b = append(b, `,"allow":`...)
	b = strconv.AppendBool(b, rec.Allow)
	b = append(b, `,"reason":`...)
	b = appendJSONString(b, rec.Reason)
	b = appendOmitEmpty(b, `,"subject":`, rec.Subject)
	b = appendOmitEmpty(b, `,"email":`, rec.Email)
	b = appendStrings(b, `,"groups":`, rec.Groups)
	b = appendOmitEmpty(b, `,"idp":`, rec.IdP)
	b = appendOmitEmpty(b, `,"auth":`, rec.Auth)
	b = appendStrings(b, `,"scope":`, rec.Scope)
	if !rec.ExpiresAt.IsZero() {
		b = append(b, `,"expires_at":"`...)
		b = rec.ExpiresAt.AppendFormat(b, time.RFC3339Nano)
		b = append(b, '"')
	}
	b = appendOmitEmpty(b, `,"session":`, rec.Session)
	b = append(b, `,"method":`...)
	b = appendJSONString(b, rec.Method)
	b = append(b, `,"path":`...)
	b = appendJSONString(b, rec.Path)
	b = appendOmitEmpty(b, `,"host":`, rec.Host)
	b = append(b, `,"protocol":`...)
	b = appendJSONString(b, rec.Protocol)
	b = appendOmitEmpty(b, `,"source":`, rec.Source)
	if len(rec.Targets) > 0 {
		b = append(b, `,"targets":[`...)
		for i := range rec.Targets {
			if i > 0 {
				b = append(b, ',')
			}
			b = rec.Targets[i].appendJSON(b)
		}
		b = append(b, ']')
	}
	b = appendOmitEmpty(b, `,"policy_revision":`, rec.PolicyRevision)
	b = append(b, `,"latency_us":`...)
	b = strconv.AppendInt(b, rec.LatencyMicros, 10)
	b = appendOmitEmpty(b, `,"error":`, rec.Error)
	b = appendOmitEmpty(b, `,"request_id":`, rec.RequestID)
	b = appendOmitEmpty(b, `,"trace_id":`, rec.TraceID)
	return append(b, '}'), true
}

func (t *InputTarget) appendJSON(b []byte) []byte {
	b = append(b, `{"api":`...)
	b = appendJSONString(b, t.API)
	b = append(b, `,"model":`...)
	b = appendJSONString(b, t.Model)
	b = append(b, `,"version":`...)
	if t.Version == nil {
		b = append(b, "null"...)
	} else {
		b = strconv.AppendInt(b, *t.Version, 10)
	}
	b = append(b, `,"label":`...)
	if t.Label == nil {
		b = append(b, "null"...)
	} else {
		b = appendJSONString(b, *t.Label)
	}
	b = append(b, `,"signature":`...)
	b = appendJSONString(b, t.Signature)
	b = appendOmitEmpty(b, `,"method":`, t.Method)
	return append(b, '}')
}

// strictTime reports whether time.Time.MarshalJSON accepts t: a four-digit
// year and a zone offset under 24 hours.
func strictTime(t time.Time) bool {
	_, off := t.Zone()
	y := t.Year()
	return y >= 0 && y <= 9999 && off > -24*3600 && off < 24*3600
}

func appendOmitEmpty(b []byte, key, s string) []byte {
	if s == "" {
		return b
	}
	return appendJSONString(append(b, key...), s)
}

// appendStrings appends key and ss as a JSON array, or nothing when ss is
// empty (omitempty).
func appendStrings(b []byte, key string, ss []string) []byte {
	if len(ss) == 0 {
		return b
	}
	b = append(b, key...)
	b = append(b, '[')
	for i, s := range ss {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, s)
	}
	return append(b, ']')
}

// appendJSONString quotes s as encoding/json does with HTML escaping on
// (json.Marshal's default): <, > and & as \u00XX, invalid UTF-8 as
// \ufffd, U+2028 and U+2029 escaped.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// marshalRecord is appendJSON, also for the records it refuses: a time
// that encoding/json cannot write either (so json.Marshal is no fallback)
// is left out of the line rather than the decision lost (the audit trail
// must not have holes).
func marshalRecord(b []byte, rec *DecisionRecord) []byte {
	if out, ok := rec.appendJSON(b); ok {
		return out
	}
	r := *rec
	if !strictTime(r.Time) {
		r.Time = time.Time{}
	}
	if !strictTime(r.ExpiresAt) {
		r.ExpiresAt = time.Time{}
	}
	out, _ := r.appendJSON(b)
	return out
}
