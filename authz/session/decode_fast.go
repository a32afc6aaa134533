package session

import (
	"time"
	"unicode/utf16"
	"unicode/utf8"
)

// decodeRecordFast decodes the compact JSON encodeSession writes without
// reflection: about 2 allocations for a typical session instead of
// encoding/json's 16. All strings of the result share one copy of b (one
// string conversion, substrings sliced from it) unless they hold escapes.
//
// It accepts only a strict subset of JSON: no whitespace, no null, keys
// that are exactly a field's name without escapes, and values of the
// field's type. ok is false for anything else, and the caller decodes b
// with encoding/json instead, so what it accepts it decodes exactly as
// encoding/json does (FuzzDecodeSession checks that) and what it does not
// accept costs only the time spent finding out.
func decodeRecordFast(b []byte) (r record, ok bool) {
	d := fastDecoder{b: b, s: string(b)}
	if !d.object(&r, false) || d.i != len(b) {
		return record{}, false
	}
	return r, true
}

// fastDecoder walks b; s is the one string copy of b that strings in the
// result are sliced from (b itself is never aliased: the caller may reuse
// it).
type fastDecoder struct {
	b []byte
	s string
	i int
}

// object decodes {"key":value,...} at d.i into r, or into r.S if inS.
func (d *fastDecoder) object(r *record, inS bool) bool {
	if !d.byte('{') {
		return false
	}
	if d.byte('}') {
		return true
	}
	for {
		key, ok := d.rawKey()
		if !ok || !d.byte(':') {
			return false
		}
		if inS {
			ok = d.sessionField(key, r)
		} else {
			ok = d.recordField(key, r)
		}
		if !ok {
			return false
		}
		if d.byte(',') {
			continue
		}
		return d.byte('}')
	}
}

func (d *fastDecoder) recordField(key []byte, r *record) bool {
	switch string(key) {
	case "v":
		return d.int(&r.V)
	case "s":
		return d.object(r, true)
	}
	return false
}

func (d *fastDecoder) sessionField(key []byte, r *record) bool {
	s := &r.S
	switch string(key) {
	case "sub":
		return d.string(&s.Subject)
	case "email":
		return d.string(&s.Email)
	case "name":
		return d.string(&s.Name)
	case "groups":
		return d.strings(&s.Groups)
	case "idp":
		return d.string(&s.IdP)
	case "scope":
		return d.strings(&s.Scope)
	case "created_at":
		return d.time(&s.CreatedAt)
	case "expires_at":
		return d.time(&s.ExpiresAt)
	case "sidx":
		return d.string(&s.SessionIndex)
	case "nidf":
		return d.string(&s.NameIDFormat)
	case "fam":
		return d.string(&s.Family)
	case "acc":
		return d.string(&s.Access)
	case "rep":
		return d.strings(&s.Replaces)
	case "rw":
		return d.time(&s.RotationWindow)
	case "rn":
		return d.int(&s.Rotations)
	case "auth":
		return d.string(&s.Auth)
	}
	// Unknown (a newer writer's field), or a key encoding/json would match
	// case-insensitively: encoding/json decides.
	return false
}

// byte consumes c if it is next.
func (d *fastDecoder) byte(c byte) bool {
	if d.i < len(d.b) && d.b[d.i] == c {
		d.i++
		return true
	}
	return false
}

// rawKey returns the bytes of an object key without escapes.
func (d *fastDecoder) rawKey() ([]byte, bool) {
	start, end, esc, ok := d.scanString()
	if !ok || esc {
		return nil, false
	}
	return d.b[start:end], true
}

// scanString consumes a string literal at d.i and returns the bounds of its
// contents and whether they need unescaping (a backslash or bytes that are
// not valid UTF-8). ok is false for anything but a string, a control
// character inside one, or an unterminated one.
func (d *fastDecoder) scanString() (start, end int, esc, ok bool) {
	if !d.byte('"') {
		return 0, 0, false, false
	}
	start = d.i
	ascii := true
	for i := start; i < len(d.b); i++ {
		c := d.b[i]
		if plainASCII[c] {
			continue
		}
		switch {
		case c == '"':
			d.i = i + 1
			if !ascii && !esc && !utf8.Valid(d.b[start:i]) {
				esc = true
			}
			return start, i, esc, true
		case c == '\\':
			esc = true
			i++ // skip the escaped byte; unescape checks it
		case c < ' ':
			return 0, 0, false, false
		default: // c >= utf8.RuneSelf
			ascii = false
		}
	}
	return 0, 0, false, false
}

// plainASCII holds the bytes a string literal holds as themselves: printable
// ASCII but the quote and the backslash.
var plainASCII = func() (t [256]bool) {
	for c := ' '; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// string decodes a string into *p.
func (d *fastDecoder) string(p *string) bool {
	start, end, esc, ok := d.scanString()
	if !ok {
		return false
	}
	if !esc {
		*p = d.s[start:end]
		return true
	}
	s, ok := unescape(d.b[start:end])
	if ok {
		*p = s
	}
	return ok
}

// strings decodes an array of strings into *p: a new slice, as
// encoding/json's result holds only the last array of a repeated key, and
// an empty but non-nil one for [].
func (d *fastDecoder) strings(p *[]string) bool {
	if !d.byte('[') {
		return false
	}
	var buf [16]string
	tmp := buf[:0]
	if !d.byte(']') {
		for {
			var s string
			if !d.string(&s) {
				return false
			}
			tmp = append(tmp, s)
			if d.byte(',') {
				continue
			}
			if !d.byte(']') {
				return false
			}
			break
		}
	}
	out := make([]string, len(tmp))
	copy(out, tmp)
	*p = out
	return true
}

// int decodes a JSON integer of at most 18 digits (so it cannot overflow)
// into *p; fractions, exponents and longer numbers are left to
// encoding/json.
func (d *fastDecoder) int(p *int) bool {
	i := d.i
	neg := i < len(d.b) && d.b[i] == '-'
	if neg {
		i++
	}
	start := i
	n := 0
	for i < len(d.b) && d.b[i] >= '0' && d.b[i] <= '9' {
		n = n*10 + int(d.b[i]-'0')
		i++
	}
	digits := i - start
	if digits == 0 || digits > 18 || (digits > 1 && d.b[start] == '0') {
		return false
	}
	if i < len(d.b) && (d.b[i] == '.' || d.b[i] == 'e' || d.b[i] == 'E') {
		return false
	}
	if neg {
		n = -n
	}
	*p = n
	d.i = i
	return true
}

// time decodes a time as encoding/json does: time.Time.UnmarshalJSON on the
// literal as written (it does not unescape, so neither do we).
func (d *fastDecoder) time(p *time.Time) bool {
	lit := d.i
	_, _, esc, ok := d.scanString()
	if !ok || esc {
		return false
	}
	return p.UnmarshalJSON(d.b[lit:d.i]) == nil
}

// unescape returns the contents of a string literal with escapes as
// encoding/json decodes them: \uXXXX surrogate pairs joined, lone
// surrogates and bytes that are not UTF-8 each replaced by U+FFFD. ok is
// false for an escape JSON does not have.
func unescape(s []byte) (string, bool) {
	b := make([]byte, 0, len(s)+utf8.UTFMax)
	for r := 0; r < len(s); {
		c := s[r]
		switch {
		case c == '\\':
			if r+1 >= len(s) {
				return "", false
			}
			switch s[r+1] {
			case '"', '\\', '/':
				b = append(b, s[r+1])
			case 'b':
				b = append(b, '\b')
			case 'f':
				b = append(b, '\f')
			case 'n':
				b = append(b, '\n')
			case 'r':
				b = append(b, '\r')
			case 't':
				b = append(b, '\t')
			case 'u':
				rr := hex4(s[r:])
				if rr < 0 {
					return "", false
				}
				r += 6
				if utf16.IsSurrogate(rr) {
					if dec := utf16.DecodeRune(rr, hex4(s[r:])); dec != utf8.RuneError {
						r += 6
						rr = dec
					} else {
						rr = utf8.RuneError
					}
				}
				b = utf8.AppendRune(b, rr)
				continue
			default:
				return "", false
			}
			r += 2
		case c < utf8.RuneSelf:
			b = append(b, c)
			r++
		default:
			rr, size := utf8.DecodeRune(s[r:])
			b = utf8.AppendRune(b, rr)
			r += size
		}
	}
	return string(b), true
}

// hex4 returns the code unit of a \uXXXX escape at the start of s, or -1.
func hex4(s []byte) rune {
	if len(s) < 6 || s[0] != '\\' || s[1] != 'u' {
		return -1
	}
	var r rune
	for _, c := range s[2:6] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return -1
		}
		r = r*16 + rune(c)
	}
	return r
}
