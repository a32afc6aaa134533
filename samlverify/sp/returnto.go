package sp

import (
	"fmt"
	"net/url"
	"path"
	"strings"
)

// maxReturnTo caps return_to. Envoy's own redirect sends the request path,
// and TF Serving paths are short; anything longer is refused.
const maxReturnTo = 2048

// returnTo decides where a signed-in user may be sent. Its zero value
// allows paths only.
type returnTo struct {
	// origin is BaseURL's scheme://host, always allowed in absolute form.
	origin *url.URL
	// hosts are further allowed hosts (lower case), on https (or http too
	// when insecure).
	hosts    map[string]bool
	insecure bool
}

// newReturnTo returns the policy for base and the allow-listed hosts.
func newReturnTo(base string, hosts []string, insecure bool) returnTo {
	u, _ := url.Parse(base) // checked by Config
	rt := returnTo{origin: u, hosts: make(map[string]bool, len(hosts)), insecure: insecure}
	for _, h := range hosts {
		rt.hosts[strings.ToLower(h)] = true
	}
	return rt
}

// check returns s if it is a safe place to send the user after sign-in,
// and false otherwise. An empty s is "/".
//
// A relative return_to must be an absolute path: "/" followed by anything
// but a second "/" or a "\" (browsers read "//host" and "/\host" as another
// host), and no ASCII control characters or spaces anywhere (browsers strip
// tabs and newlines, so "/\t/evil.example" would become "//evil.example").
// Backslashes are refused anywhere, since browsers treat them as slashes in
// http URLs. Paths under /saml/ are refused too: returning to /saml/login
// would loop through the IdP forever. The one exception is
// /saml/cli/authorize, given exactly so as a relative path: a command-line
// sign-in continues there once the browser has a session.
func (rt returnTo) check(s string) (string, bool) {
	if s == "" {
		return "/", true
	}
	if len(s) > maxReturnTo || strings.ContainsAny(s, "\\") || hasControl(s) {
		return "", false
	}
	u, err := url.Parse(s)
	if err != nil || u.User != nil || u.Opaque != "" {
		return "", false
	}
	if strings.HasPrefix(s, "/") {
		if strings.HasPrefix(s, "//") || u.Scheme != "" || u.Host != "" || underSAML(u.Path) && !isCLIAuthorize(s, u) && s != HomePath {
			return "", false
		}
		return s, true
	}
	if !rt.absoluteAllowed(u) || underSAML(u.Path) && rt.sameOrigin(u) {
		return "", false
	}
	return s, true
}

// absoluteAllowed reports whether u is an absolute URL on BaseURL's origin
// or on an allow-listed host.
func (rt returnTo) absoluteAllowed(u *url.URL) bool {
	if u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return false
	}
	if rt.sameOrigin(u) {
		return true
	}
	if u.Scheme == "http" && !rt.insecure {
		return false
	}
	return rt.hosts[strings.ToLower(u.Host)]
}

// sameOrigin reports whether u is on BaseURL's scheme and host.
func (rt returnTo) sameOrigin(u *url.URL) bool {
	return rt.origin != nil && u.Scheme == rt.origin.Scheme && strings.EqualFold(u.Host, rt.origin.Host)
}

// why says, for a person, why check refuses s (which it must), without
// repeating any of s.
func (rt returnTo) why(s string) string {
	switch {
	case len(s) > maxReturnTo:
		return fmt.Sprintf("it is longer than %d characters", maxReturnTo)
	case strings.ContainsAny(s, "\\") || hasControl(s):
		return "it contains a backslash, a space or a control character, which browsers may read as another address"
	}
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return "it is not a valid address"
	case u.User != nil:
		return "it carries a user name, which is never needed and often a trick"
	case strings.HasPrefix(s, "//"):
		return "it starts with //, which browsers read as another site"
	case strings.HasPrefix(s, "/") || u.Host == "" || rt.sameOrigin(u):
		if underSAML(u.Path) {
			return "pages under /saml/ are tfgate's own sign-in pages, and returning to them after a sign-in would loop; " +
				"the account page " + HomePath + " (given exactly so) is the one allowed"
		}
		return "it is not an absolute path on this site"
	case u.Scheme == "http" && !rt.insecure:
		return "it is plain http"
	}
	// The host is not echoed: a crafted link must not put text of its
	// choosing on this site's page.
	return "it is on another site, which is not one of the hosts allowed to be returned to (saml.return_to_hosts)"
}

// isCLIAuthorize reports whether the relative return_to s (parsed as u) is
// the command-line authorize endpoint, spelled exactly: no dot segments or
// escapes that merely resolve to it.
func isCLIAuthorize(s string, u *url.URL) bool {
	return u.Path == CLIAuthorizePath && u.RawPath == "" &&
		(s == CLIAuthorizePath || strings.HasPrefix(s, CLIAuthorizePath+"?"))
}

// underSAML reports whether p, once dot segments are resolved as a browser
// resolves them, is one of the SP's own endpoints.
func underSAML(p string) bool {
	p = path.Clean("/" + p)
	return p == "/saml" || strings.HasPrefix(p, "/saml/")
}

// hasControl reports whether s has a byte that is not printable ASCII:
// control characters, space, DEL or anything non-ASCII (a browser
// percent-encodes those, and a real return_to never needs them raw).
func hasControl(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return true
		}
	}
	return false
}
