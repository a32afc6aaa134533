package tfserving

import (
	"fmt"
	"unicode/utf16"
	"unicode/utf8"
)

// maxJSONDepth bounds nesting in a REST body. Tensors have rank ≤ 254, so
// real requests stay far below it; it keeps the skip stack fixed-size.
const maxJSONDepth = 1024

// jsonSignature returns the signature TF Serving uses for a REST body:
// rapidjson's FindMember takes the first top-level "signature_name", and an
// empty or absent one means DefaultSignature. The body is scanned in place,
// once, and must be one JSON object as rapidjson (with NaN/Infinity
// allowed, as TF Serving parses it) would accept. A second
// "signature_name" is an error: other JSON parsers take the last one.
func jsonSignature(body []byte) (string, error) {
	s := jsonScanner{b: body}
	if err := s.topLevel(); err != nil {
		return "", fmt.Errorf("%w: %w at offset %d", ErrMalformedJSON, err, s.i)
	}
	if s.sig == "" {
		return DefaultSignature, nil
	}
	return s.sig, nil
}

// jsonScanner walks a JSON document without building it.
type jsonScanner struct {
	b      []byte
	i      int
	sig    string // the top-level signature_name, once seen
	hasSig bool
}

type jsonError string

func (e jsonError) Error() string { return string(e) }

const (
	errJSONEnd      = jsonError("unexpected end of JSON")
	errJSONSyntax   = jsonError("invalid JSON")
	errJSONNotObj   = jsonError("body is not a JSON object")
	errJSONDupSig   = jsonError(`duplicate "signature_name"`)
	errJSONSigType  = jsonError(`"signature_name" is not a string`)
	errJSONSigUTF8  = jsonError(`"signature_name" is not valid UTF-8`)
	errJSONTooDeep  = jsonError("JSON nested too deeply")
	errJSONEscape   = jsonError("invalid escape in JSON string")
	errJSONCtrlChar = jsonError("control character in JSON string")
)

// topLevel scans the root object, member by member.
func (s *jsonScanner) topLevel() error {
	s.ws()
	if !s.consume('{') {
		return errJSONNotObj
	}
	s.ws()
	for more := !s.consume('}'); more; {
		if err := s.member(); err != nil {
			return err
		}
		s.ws()
		switch {
		case s.consume(','):
			s.ws()
		case s.consume('}'):
			more = false
		default:
			return errJSONSyntax
		}
	}
	s.ws()
	if s.i != len(s.b) {
		return errJSONSyntax // rapidjson: "root not singular"
	}
	return nil
}

// member reads one top-level "key": value, keeping the signature.
func (s *jsonScanner) member() error {
	raw, escaped, err := s.name()
	if err != nil {
		return err
	}
	s.ws()
	if !isSignatureKey(raw, escaped) {
		return s.skipValue()
	}
	if s.hasSig {
		return errJSONDupSig
	}
	if s.peek() != '"' {
		return errJSONSigType
	}
	if raw, escaped, err = s.str(); err != nil {
		return err
	}
	if s.sig, err = decodeJSONString(raw, escaped); err != nil {
		return err
	}
	if !utf8.ValidString(s.sig) {
		return errJSONSigUTF8
	}
	s.hasSig = true
	return nil
}

// isSignatureKey compares a member name decoded, so "signature\u005fname"
// is "signature_name", as in rapidjson. Only escaped names are decoded.
func isSignatureKey(raw []byte, escaped bool) bool {
	if !escaped {
		return string(raw) == "signature_name"
	}
	key, err := decodeJSONString(raw, escaped)
	return err == nil && key == "signature_name"
}

// name reads a member name and the ':' after it.
func (s *jsonScanner) name() (raw []byte, escaped bool, err error) {
	if s.peek() != '"' {
		return nil, false, errJSONSyntax
	}
	if raw, escaped, err = s.str(); err != nil {
		return nil, false, err
	}
	s.ws()
	if !s.consume(':') {
		return nil, false, errJSONSyntax
	}
	return raw, escaped, nil
}

func (s *jsonScanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

func (s *jsonScanner) peek() byte {
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

// consume steps over c if it is next.
func (s *jsonScanner) consume(c byte) bool {
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// str reads a string at s.i and returns its raw contents, checking escapes
// and rejecting raw control characters as rapidjson does. Other bytes are
// not UTF-8 checked: rapidjson does not either.
func (s *jsonScanner) str() (raw []byte, escaped bool, err error) {
	s.i++ // opening quote
	start := s.i
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			s.i++
			return s.b[start : s.i-1], escaped, nil
		case c == '\\':
			escaped = true
			if err := s.escape(); err != nil {
				return nil, false, err
			}
		case c < 0x20:
			return nil, false, errJSONCtrlChar
		default:
			s.i++
		}
	}
	return nil, false, errJSONEnd
}

// escape checks the escape sequence at s.i and steps over it.
func (s *jsonScanner) escape() error {
	if s.i+1 >= len(s.b) {
		return errJSONEnd
	}
	switch s.b[s.i+1] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		s.i += 2
		return nil
	case 'u':
		if s.i+6 > len(s.b) {
			return errJSONEnd
		}
		for _, c := range s.b[s.i+2 : s.i+6] {
			if !isHex(c) {
				return errJSONEscape
			}
		}
		s.i += 6
		return nil
	}
	return errJSONEscape
}

// decodeJSONString decodes the raw contents of a checked string. A lone
// UTF-16 surrogate is an error (rapidjson rejects it too).
func decodeJSONString(raw []byte, escaped bool) (string, error) {
	if !escaped {
		return string(raw), nil
	}
	out := make([]byte, 0, len(raw))
	for i := 0; i < len(raw); i++ {
		if raw[i] != '\\' {
			out = append(out, raw[i])
			continue
		}
		i++
		if raw[i] != 'u' {
			out = append(out, unescapeJSON(raw[i]))
			continue
		}
		r := hex4(raw[i+1 : i+5])
		i += 4 // i is on the last hex digit
		if utf16.IsSurrogate(r) {
			// Only a high surrogate followed by \u and a low one is a rune.
			if r >= 0xdc00 || i+7 > len(raw) || raw[i+1] != '\\' || raw[i+2] != 'u' {
				return "", errJSONEscape
			}
			if r = utf16.DecodeRune(r, hex4(raw[i+3:i+7])); r == utf8.RuneError {
				return "", errJSONEscape
			}
			i += 6
		}
		out = utf8.AppendRune(out, r)
	}
	return string(out), nil
}

func unescapeJSON(c byte) byte {
	switch c {
	case 'b':
		return '\b'
	case 'f':
		return '\f'
	case 'n':
		return '\n'
	case 'r':
		return '\r'
	case 't':
		return '\t'
	}
	return c // '"', '\\', '/'
}

func hex4(b []byte) rune {
	var r rune
	for _, c := range b {
		r = r<<4 | rune(unhex(c))
	}
	return r
}
