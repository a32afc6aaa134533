package envoyemu

import (
	"net"
	"net/http"
	"strings"
)

// connectionManager applies what Envoy's HTTP connection manager and codec
// do to a request before any HTTP filter (and so before ext_authz and the
// route match) sees it, per Config: the header-count limit and the
// underscore rule of the codec, then maybeNormalizePath
// (source/common/http/conn_manager_utility.cc:585-634 at v1.36.2): a '#'
// is rejected, escaped slashes handled, the path normalised, slashes
// merged, in that order; and x-forwarded-for with use_remote_address. It
// edits h and returns the status of a local reply, or 0 to go on.
func (p *Proxy) connectionManager(r *http.Request, h headerMap) int {
	n := 0
	for _, vs := range r.Header {
		n += len(vs)
	}
	if n > p.cfg.MaxHeadersCount { // http1/codec_impl.cc:570-577 at v1.36.2
		return http.StatusRequestHeaderFieldsTooLarge
	}
	for k := range h {
		if strings.HasPrefix(k, ":") || !strings.Contains(k, "_") {
			continue
		}
		switch p.cfg.Underscores { // HeaderUtility::checkHeaderNameForUnderscores, header_utility.cc:570-588
		case DropUnderscores:
			delete(h, k)
		case RejectUnderscores:
			return http.StatusBadRequest
		}
	}
	path := h.get(hdrPath)
	if strings.Contains(path, "#") { // http_reject_path_with_fragment
		return http.StatusBadRequest
	}
	base, query, hasQuery := strings.Cut(path, "?")
	if p.cfg.EscapedSlashes != KeepUnchanged { // PathUtil::unescapeSlashes, path_utility.cc:73-98
		unescaped := strings.NewReplacer("%2F", "/", "%2f", "/", "%5C", `\`, "%5c", `\`).Replace(base)
		if unescaped != base {
			if p.cfg.EscapedSlashes == RejectRequest {
				return http.StatusBadRequest
			}
			// UnescapeAndRedirect would answer a redirect to the unescaped
			// path; the emulator forwards it unescaped, like
			// UnescapeAndForward.
			base = unescaped
		}
	}
	if p.cfg.NormalizePath {
		base = normalizePath(base)
	}
	if p.cfg.MergeSlashes {
		base = mergeSlashes(base)
	}
	if hasQuery {
		base += "?" + query
	}
	h.setCopy(hdrPath, base)
	if p.cfg.UseRemoteAddress {
		if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
			h.appendCopy("x-forwarded-for", host)
		}
	}
	return 0
}

// normalizePath is a model of PathUtil::canonicalPath (path_utility.cc:
// 29-53 at v1.36.2), which runs Chromium's url::CanonicalizePath on the
// path part. Modelled: '\' becomes '/'; percent-escapes of unreserved
// characters (ALPHA, DIGIT, "-._~") are decoded; bytes that are not
// allowed in a path (controls, space, '"', '<', '>', '`', '{', '}', DEL
// and non-ASCII) are percent-encoded; "." and ".." segments, also written
// with %2E, are resolved and ".." never climbs above "/". Not modelled:
// Chromium's other corner cases, which tfgate's tests do not reach.
func normalizePath(path string) string {
	var b strings.Builder
	for i := 0; i < len(path); i++ {
		c := path[i]
		switch {
		case c == '\\':
			b.WriteByte('/')
		case c == '%' && i+2 < len(path) && isHex(path[i+1]) && isHex(path[i+2]):
			d := unhex(path[i+1])<<4 | unhex(path[i+2])
			if isUnreserved(d) {
				b.WriteByte(d)
			} else {
				b.WriteString(path[i : i+3])
			}
			i += 2
		case c <= ' ' || c >= 0x7f || strings.IndexByte("\"<>`{}", c) >= 0:
			b.WriteString("%" + strings.ToUpper(hexByte(c)))
		default:
			b.WriteByte(c)
		}
	}
	segs := strings.Split(b.String(), "/")
	out := make([]string, 0, len(segs))
	for i, s := range segs {
		last := i == len(segs)-1
		switch s {
		case ".":
			if last {
				out = append(out, "")
			}
		case "..":
			if len(out) > 1 {
				out = out[:len(out)-1]
			}
			if last {
				out = append(out, "")
			}
		default:
			out = append(out, s)
		}
	}
	res := strings.Join(out, "/")
	if !strings.HasPrefix(res, "/") {
		res = "/" + res
	}
	return res
}

// mergeSlashes is PathUtil::mergeSlashes (path_utility.cc:55-71): runs of
// '/' become one, keeping a leading and a trailing slash.
func mergeSlashes(path string) string {
	if !strings.Contains(path, "//") {
		return path
	}
	var parts []string
	for s := range strings.SplitSeq(path, "/") {
		if s != "" {
			parts = append(parts, s)
		}
	}
	res := strings.Join(parts, "/")
	if strings.HasPrefix(path, "/") {
		res = "/" + res
	}
	if strings.HasSuffix(path, "/") && res != "/" {
		res += "/"
	}
	return res
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c >= 'a':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}

func hexByte(c byte) string {
	const digits = "0123456789abcdef"
	return string([]byte{digits[c>>4], digits[c&15]})
}

func isUnreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-._~", c) >= 0
}
