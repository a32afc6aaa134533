package authz

import (
	"fmt"
	"net/http"
	"strings"
)

// DefaultCookieName is the session cookie. The __Host- prefix makes browsers
// refuse it unless it is Secure, host-only and Path=/.
const DefaultCookieName = "__Host-tfgate"

// Credential is the opaque token a caller presented and how.
type Credential struct {
	// Kind is AuthCookie or AuthBearer; empty when there is none.
	Kind string
	// Token is the opaque secret. Never log it.
	Token string
}

// ExtractCredential finds the caller's tfgate credential: the session cookie
// called cookieName or an "Authorization: Bearer" token.
//
// No credential is not an error (Kind is empty). A request carrying both, or
// two of either, is ErrAmbiguousCredential: a proxy in between and tfgate
// could otherwise disagree about who the caller is. An Authorization header
// with a scheme other than Bearer is not ours and is ignored.
func ExtractCredential(h http.Header, cookieName string) (Credential, error) {
	bearer, hasBearer, err := bearerToken(h)
	if err != nil {
		return Credential{}, err
	}
	cookie, hasCookie, err := sessionCookie(h, cookieName)
	if err != nil {
		return Credential{}, err
	}
	switch {
	case hasBearer && hasCookie:
		return Credential{}, fmt.Errorf("%w: both a session cookie and a bearer token", ErrAmbiguousCredential)
	case hasBearer:
		return Credential{Kind: AuthBearer, Token: bearer}, nil
	case hasCookie:
		return Credential{Kind: AuthCookie, Token: cookie}, nil
	}
	return Credential{}, nil
}

func bearerToken(h http.Header) (string, bool, error) {
	values := h.Values("Authorization")
	if len(values) == 0 {
		return "", false, nil
	}
	// Envoy joins repeated headers with ","; a comma can never be part of a
	// token68, so it means two Authorization headers.
	if len(values) > 1 || strings.Contains(values[0], ",") {
		if anyBearer(values) {
			return "", false, fmt.Errorf("%w: more than one Authorization header", ErrAmbiguousCredential)
		}
		return "", false, nil
	}
	scheme, token, _ := strings.Cut(values[0], " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return "", false, nil
	}
	token = strings.TrimLeft(token, " ")
	if !isToken68(token) {
		return "", false, fmt.Errorf("%w: bearer token is empty or has characters a token cannot have", ErrMalformedCredential)
	}
	return token, true, nil
}

func anyBearer(values []string) bool {
	for _, v := range values {
		for part := range strings.SplitSeq(v, ",") {
			scheme, _, _ := strings.Cut(strings.TrimSpace(part), " ")
			if strings.EqualFold(scheme, "Bearer") {
				return true
			}
		}
	}
	return false
}

// isToken68 reports whether s is an RFC 7235 token68.
func isToken68(s string) bool {
	if s == "" || len(s) > 4096 {
		return false
	}
	body := strings.TrimRight(s, "=")
	if body == "" {
		return false
	}
	for i := 0; i < len(body); i++ {
		c := body[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '-', c == '.', c == '_', c == '~', c == '+', c == '/':
		default:
			return false
		}
	}
	return true
}

// cookieSeparators split a Cookie header into cookie-pairs. ';' is the
// RFC 6265 separator; ',' is how Envoy joins a second HTTP/1.1 Cookie line
// into the CheckRequest headers map (check_request_utils.cc:171-176 at
// v1.36.2; HTTP/2 crumbs are joined with "; " by the codec), so a session
// cookie in a second Cookie line arrives after a ','. A cookie-value cannot
// contain either (RFC 6265 §4.1.1).
const cookieSeparators = ";,"

// cookiePart is one cookie-pair of a Cookie header and the separator that
// preceded it (0 for the first).
type cookiePart struct {
	sep  byte
	text string // trimmed; may be empty or lack '='
}

// cookieParts splits every Cookie header value at ';' and ','.
func cookieParts(values []string) []cookiePart {
	var parts []cookiePart
	for i, v := range values {
		var sep byte
		if i > 0 {
			sep = ',' // separate header lines, as Envoy joins them
		}
		for {
			j := strings.IndexAny(v, cookieSeparators)
			if j < 0 {
				parts = append(parts, cookiePart{sep, strings.TrimSpace(v)})
				break
			}
			parts = append(parts, cookiePart{sep, strings.TrimSpace(v[:j])})
			sep, v = v[j], v[j+1:]
		}
	}
	return parts
}

// cookieName returns the name of a cookie-pair.
func (p cookiePart) name() string {
	n, _, _ := strings.Cut(p.text, "=")
	return strings.TrimSpace(n)
}

func sessionCookie(h http.Header, name string) (string, bool, error) {
	var (
		value string
		n     int
	)
	for _, p := range cookieParts(h["Cookie"]) {
		if p.name() != name {
			continue
		}
		n++
		_, value, _ = strings.Cut(p.text, "=")
	}
	if n == 0 {
		return "", false, nil
	}
	if n > 1 {
		return "", false, fmt.Errorf("%w: the session cookie appears %d times", ErrAmbiguousCredential, n)
	}
	value = strings.TrimSpace(value)
	if len(value) >= 2 && value[0] == '"' && value[len(value)-1] == '"' {
		value = value[1 : len(value)-1] // RFC 6265 allows a quoted cookie-value
	}
	if !isToken68(value) {
		return "", false, fmt.Errorf("%w: the session cookie is empty or malformed", ErrMalformedCredential)
	}
	return value, true, nil
}

// StripCookie returns the Cookie header without the cookie called name, and
// whether anything remains. Cookies are separated by ';' or ',' (join
// several Cookie lines with ","). Every other cookie is kept byte for byte
// with the separator that preceded it (';' written as "; "), so a
// non-conforming value with a ',' in it survives unless the session cookie
// sat inside it.
func StripCookie(header, name string) (string, bool) {
	var b strings.Builder
	for _, p := range cookieParts([]string{header}) {
		if p.text == "" || p.name() == name {
			continue
		}
		if b.Len() > 0 {
			if p.sep == ',' {
				b.WriteByte(',')
			} else {
				b.WriteString("; ")
			}
		}
		b.WriteString(p.text)
	}
	return b.String(), b.Len() > 0
}
