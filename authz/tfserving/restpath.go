package tfserving

import "strings"

// These matchers replace TF Serving's two RE2 expressions (§2.2):
//
//	POST (?i)/v1/models/([^/:]+)(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?:(classify|regress|predict)
//	GET  (?i)/v1/models(?:/([^/:]+))?(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?(?:\/(metadata))?
//
// both applied with FullMatch. They are hand-written because regexp is slow
// on the hot path; rest_ref_test.go keeps the expressions and fuzzes the
// two against each other. Equivalence rests on one observation: every
// [^/:]+ and \d+ group is followed by '/', ':' or the end, none of which it
// can contain, so the greedy maximal run is the only run that can lead to a
// match and no backtracking inside a group is needed.

// restMatch holds the raw (undecoded) captures of a match.
type restMatch struct {
	name     string
	version  string // digits, "" when absent
	label    string
	hasLabel bool
	verb     string // POST only
	sub      string // GET only: the "metadata" group as written, or ""
}

// matchPost matches the POST expression against the whole path.
func matchPost(path string) (restMatch, bool) {
	var m restMatch
	rest, ok := cutFold(path, "/v1/models/")
	if !ok {
		return m, false
	}
	m.name, rest = spanName(rest)
	if m.name == "" {
		return m, false
	}
	if rest, ok = m.versionOrLabel(rest); !ok {
		return m, false
	}
	if len(rest) == 0 || rest[0] != ':' {
		return m, false
	}
	// The regex accepts any case of the verb; parsePost then only serves
	// exact lower case, so the case-sensitive lookup does both jobs.
	m.verb = rest[1:]
	return m, true
}

// versionOrLabel consumes an optional /versions/N or /labels/L. Both start
// with '/', which can never follow the name otherwise in a POST match.
func (m *restMatch) versionOrLabel(rest string) (string, bool) {
	if len(rest) == 0 || rest[0] != '/' {
		return rest, true
	}
	if r, ok := cutFold(rest, "/versions/"); ok {
		m.version, r = spanDigits(r)
		return r, m.version != ""
	}
	if r, ok := cutFold(rest, "/labels/"); ok {
		m.label, r = spanName(r)
		m.hasLabel = m.label != ""
		return r, m.hasLabel
	}
	return rest, false
}

// matchGet matches the GET expression against the whole path. It tries the
// optional groups in RE2's preference order (take a group before skipping
// it; /versions/ before /labels/) and returns the first full match, so the
// captures are the ones RE2 reports: /v1/models/labels/metadata is model
// "labels" with subresource "metadata".
func matchGet(path string) (restMatch, bool) {
	rest, ok := cutFold(path, "/v1/models")
	if !ok {
		return restMatch{}, false
	}
	for _, withName := range [2]bool{true, false} {
		var m restMatch
		r := rest
		if withName {
			if r, ok = cutFold(r, "/"); !ok {
				continue
			}
			if m.name, r = spanName(r); m.name == "" {
				continue
			}
		}
		for alt := 0; alt < 3; alt++ {
			if m, ok := matchGetTail(m, r, alt); ok {
				return m, true
			}
		}
	}
	return restMatch{}, false
}

// matchGetTail matches the version/label group (alt 0: versions, 1:
// labels, 2: skipped) and then the optional /metadata up to the end.
func matchGetTail(m restMatch, r string, alt int) (restMatch, bool) {
	var ok bool
	switch alt {
	case 0:
		if r, ok = cutFold(r, "/versions/"); !ok {
			return m, false
		}
		if m.version, r = spanDigits(r); m.version == "" {
			return m, false
		}
	case 1:
		if r, ok = cutFold(r, "/labels/"); !ok {
			return m, false
		}
		if m.label, r = spanName(r); m.label == "" {
			return m, false
		}
		m.hasLabel = true
	}
	if r == "" {
		return m, true
	}
	if after, ok := cutFold(r, "/metadata"); ok && after == "" {
		m.sub = r[1:]
		return m, true
	}
	return m, false
}

// spanName splits s after its longest prefix without '/' or ':' ([^/:]*).
// Bytes of multi-byte UTF-8 runes are never '/' or ':', so a byte scan
// matches RE2's rune class on valid UTF-8.
func spanName(s string) (run, rest string) {
	i := strings.IndexAny(s, "/:")
	if i < 0 {
		return s, ""
	}
	return s[:i], s[i:]
}

// spanDigits splits s after its longest ASCII-digit prefix (RE2's \d).
func spanDigits(s string) (run, rest string) {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return s[:i], s[i:]
}

// foldRune returns the non-ASCII rune that RE2's (?i) folds onto the ASCII
// letter c (Unicode simple case folding): ſ (U+017F) is 's', K (U+212A) is
// 'k'. No other ASCII letter has one.
func foldRune(c byte) string {
	switch c {
	case 's':
		return "\u017f"
	case 'k':
		return "\u212a"
	}
	return ""
}

// cutFold removes lit, which must be lower-case ASCII, from the front of s
// under RE2's case folding. /V1/MODELſ/ matches /v1/models/.
func cutFold(s, lit string) (string, bool) {
	for j := 0; j < len(lit); j++ {
		c := lit[j]
		switch {
		case s != "" && lower(s[0]) == c:
			s = s[1:]
		case foldRune(c) != "" && strings.HasPrefix(s, foldRune(c)):
			s = s[len(foldRune(c)):]
		default:
			return s, false
		}
	}
	return s, true
}

func lower(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// parseVersion parses \d+ as absl::SimpleAtoi does into int64: leading
// zeros are fine (007 is 7), overflow fails (TF Serving answers 400).
func parseVersion(digits string) (int64, bool) {
	const maxInt64 = 1<<63 - 1
	var v int64
	for i := 0; i < len(digits); i++ {
		d := int64(digits[i] - '0')
		if v > (maxInt64-d)/10 {
			return 0, false
		}
		v = v*10 + d
	}
	return v, true
}

// unescape percent-decodes s exactly like curl_easy_unescape: %XX with two
// hex digits becomes one byte, any other '%' stays literal, '+' stays '+'.
func unescape(s string) string {
	if strings.IndexByte(s, '%') < 0 {
		return s
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
			c = unhex(s[i+1])<<4 | unhex(s[i+2])
			i += 2
		}
		b = append(b, c)
	}
	return string(b)
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c >= 'a':
		return c - 'a' + 10
	case c >= 'A':
		return c - 'A' + 10
	}
	return c - '0'
}
