package envoyemu

import (
	"bytes"
	"io"
	"net/http"
)

// readChunk is how much one read of the downstream body may return, like
// a codec delivering one DATA frame or socket read at a time.
const readChunk = 16 << 10

// bodyBuffer is what the filter buffered before sending the check.
type bodyBuffer struct {
	// data are the buffered bytes; with partial messages it can exceed the
	// limit by the rest of the last chunk.
	data []byte
	// tooLarge means the body overflowed a non-partial buffer: 413.
	tooLarge bool
}

// bufferSettings returns the settings that apply on route, or nil when the
// filter does not buffer there (§1.4, §5).
func (p *Proxy) bufferSettings(route *Route) *BufferSettings {
	if route.DisableRequestBodyBuffering {
		return nil
	}
	base := p.cfg.WithRequestBody
	if route.WithRequestBody == nil {
		return base
	}
	s := *route.WithRequestBody
	s.PackAsBytes = base != nil && base.PackAsBytes // always from the filter config
	return &s
}

// shouldBuffer reports whether the filter buffers this request: it has a
// body (headers did not end the stream) and is not an upgrade.
func shouldBuffer(r *http.Request, h headerMap) bool {
	if r.ContentLength == 0 || r.Body == nil || r.Body == http.NoBody {
		return false
	}
	upgrade := r.Header.Get("Upgrade") != "" && containsToken(r.Header.Values("Connection"), "upgrade")
	return !upgrade && !(r.ProtoMajor == 2 && h.get(hdrMethod) == http.MethodConnect)
}

// readBody buffers the downstream body per s. Without partial messages it
// reads to the end (failing once the limit is passed); with them it stops
// as soon as the limit is reached. Read errors are returned as is.
func readBody(body io.Reader, s *BufferSettings) (bodyBuffer, error) {
	limit := int(s.MaxRequestBytes)
	var buf bytes.Buffer
	chunk := make([]byte, readChunk)
	for {
		if s.AllowPartialMessage && buf.Len() >= limit {
			return bodyBuffer{data: buf.Bytes()}, nil
		}
		n, err := body.Read(chunk)
		buf.Write(chunk[:n])
		if !s.AllowPartialMessage && buf.Len() > limit {
			return bodyBuffer{tooLarge: true}, nil
		}
		if err == io.EOF {
			return bodyBuffer{data: buf.Bytes()}, nil
		}
		if err != nil {
			return bodyBuffer{}, err
		}
	}
}
