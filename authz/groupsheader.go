package authz

import (
	"errors"
	"strings"
)

// The x-tfgate-groups header is an RFC 8941 structured-field List of
// Strings, so that no group name can be mistaken for two or for part of
// another: `"ml-readers", "admins,root"`. A string is quoted, with `\` and
// `"` escaped by a backslash. RFC 8941 strings hold printable ASCII only;
// a group name with any other byte is sent as an RFC 9651 Display String
// instead: `%"caf%c3%a9"`, its UTF-8 bytes outside printable ASCII, and
// `%` and `"`, percent-encoded in lowercase hex. An empty list is no
// header at all.

// EncodeGroups returns the x-tfgate-groups value for groups.
func EncodeGroups(groups []string) string {
	var b strings.Builder
	// Room for the common case (printable names, nothing to escape): one
	// allocation instead of a growth per doubling.
	n := 0
	for _, g := range groups {
		n += len(g) + 4
	}
	b.Grow(n)
	for i, g := range groups {
		if i > 0 {
			b.WriteString(", ")
		}
		if isPrintableASCII(g) {
			b.WriteByte('"')
			for j := range len(g) {
				if g[j] == '"' || g[j] == '\\' {
					b.WriteByte('\\')
				}
				b.WriteByte(g[j])
			}
			b.WriteByte('"')
			continue
		}
		const hex = "0123456789abcdef"
		b.WriteString(`%"`)
		for j := range len(g) {
			c := g[j]
			if c < 0x20 || c > 0x7e || c == '%' || c == '"' {
				b.WriteByte('%')
				b.WriteByte(hex[c>>4])
				b.WriteByte(hex[c&0xf])
				continue
			}
			b.WriteByte(c)
		}
		b.WriteByte('"')
	}
	return b.String()
}

func isPrintableASCII(s string) bool {
	for i := range len(s) {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// errGroupsHeader is a malformed x-tfgate-groups value.
var errGroupsHeader = errors.New("authz: malformed x-tfgate-groups value")

// ParseGroups parses an x-tfgate-groups value as EncodeGroups writes it
// (an RFC 8941 List whose members are Strings or RFC 9651 Display
// Strings, without parameters), for upstreams and tests. "" is no groups.
func ParseGroups(v string) ([]string, error) {
	var out []string
	i := skipSP(v, 0)
	if i == len(v) {
		return nil, nil
	}
	for {
		var g string
		var err error
		switch {
		case strings.HasPrefix(v[i:], `%"`):
			g, i, err = parseDisplayString(v, i+2)
		case i < len(v) && v[i] == '"':
			g, i, err = parseString(v, i+1)
		default:
			err = errGroupsHeader
		}
		if err != nil {
			return nil, err
		}
		out = append(out, g)
		i = skipOWS(v, i)
		if i == len(v) {
			return out, nil
		}
		if v[i] != ',' {
			return nil, errGroupsHeader
		}
		i = skipOWS(v, i+1)
		if i == len(v) {
			return nil, errGroupsHeader // trailing comma
		}
	}
}

func skipSP(v string, i int) int {
	for i < len(v) && v[i] == ' ' {
		i++
	}
	return i
}

func skipOWS(v string, i int) int {
	for i < len(v) && (v[i] == ' ' || v[i] == '\t') {
		i++
	}
	return i
}

// parseString reads an sf-string's body from v[i:], after its opening
// quote, and returns it and the index after the closing quote.
func parseString(v string, i int) (string, int, error) {
	var b strings.Builder
	for ; i < len(v); i++ {
		c := v[i]
		switch {
		case c == '\\':
			i++
			if i == len(v) || (v[i] != '"' && v[i] != '\\') {
				return "", 0, errGroupsHeader
			}
			b.WriteByte(v[i])
		case c == '"':
			return b.String(), i + 1, nil
		case c < 0x20 || c > 0x7e:
			return "", 0, errGroupsHeader
		default:
			b.WriteByte(c)
		}
	}
	return "", 0, errGroupsHeader
}

// parseDisplayString reads a Display String's body from v[i:], after its
// opening `%"`.
func parseDisplayString(v string, i int) (string, int, error) {
	var b []byte
	for ; i < len(v); i++ {
		c := v[i]
		switch {
		case c == '%':
			if i+2 >= len(v) {
				return "", 0, errGroupsHeader
			}
			hi, ok1 := lowerHex(v[i+1])
			lo, ok2 := lowerHex(v[i+2])
			if !ok1 || !ok2 {
				return "", 0, errGroupsHeader
			}
			b = append(b, hi<<4|lo)
			i += 2
		case c == '"':
			return string(b), i + 1, nil
		case c < 0x20 || c > 0x7e:
			return "", 0, errGroupsHeader
		default:
			b = append(b, c)
		}
	}
	return "", 0, errGroupsHeader
}

func lowerHex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}
