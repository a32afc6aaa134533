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

func sessionCookie(h http.Header, name string) (string, bool, error) {
	if len(h["Cookie"]) == 0 {
		return "", false, nil
	}
	// Count by hand as well as through net/http: its lenient parser skips a
	// malformed crumb, which could hide a second copy of ours.
	raw := 0
	for _, line := range h["Cookie"] {
		for part := range strings.SplitSeq(line, ";") {
			n, _, _ := strings.Cut(part, "=")
			if strings.TrimSpace(n) == name {
				raw++
			}
		}
	}
	if raw == 0 {
		return "", false, nil
	}
	if raw > 1 {
		return "", false, fmt.Errorf("%w: the session cookie appears %d times", ErrAmbiguousCredential, raw)
	}
	c, err := (&http.Request{Header: h}).Cookie(name)
	if err != nil || !isToken68(c.Value) {
		return "", false, fmt.Errorf("%w: the session cookie is empty or malformed", ErrMalformedCredential)
	}
	return c.Value, true, nil
}

// StripCookie returns the Cookie header without the cookie called name,
// keeping every other cookie byte for byte, and whether anything remains.
func StripCookie(header, name string) (string, bool) {
	var b strings.Builder
	for part := range strings.SplitSeq(header, ";") {
		n, _, _ := strings.Cut(part, "=")
		if strings.TrimSpace(n) == name || strings.TrimSpace(part) == "" {
			continue
		}
		if b.Len() > 0 {
			b.WriteString("; ")
		}
		b.WriteString(strings.TrimSpace(part))
	}
	return b.String(), b.Len() > 0
}
