package tfserving

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Limits of decompression. A real client's compressed request inflates to
// at most what Envoy would have buffered uncompressed, and protobuf or
// JSON of real tensors rarely compresses beyond 100:1; a decompression bomb
// (about 1000:1 for gzip) is refused once it passes either limit, having
// cost at most MaxInflatedBytes of memory, never an out-of-memory.
const (
	// MaxInflatedBytes bounds a decompressed body: Envoy's
	// max_request_bytes in envoy/envoy.yaml (64 MiB).
	MaxInflatedBytes = 64 << 20
	// MaxInflateRatio bounds decompressed/compressed size, beyond
	// minInflateAllowance.
	MaxInflateRatio = 256
	// minInflateAllowance is what any body may inflate to, whatever its
	// ratio: a tiny compressed message is no threat.
	minInflateAllowance = 1 << 20
)

// inflateLimit is the most bytes a compressed body of n bytes may inflate to.
func inflateLimit(n int) int {
	return min(MaxInflatedBytes, max(minInflateAllowance, MaxInflateRatio*n))
}

// inflate decompresses b, compressed with encoding as gRPC ("gzip" or
// "deflate", which in gRPC and HTTP means the zlib format) or HTTP
// Content-Encoding name it. It returns ErrUnsupportedEncoding for any other
// encoding, ErrInflateLimit past the limits and ErrMalformedCompression for
// damaged data or bytes after the compressed stream.
func inflate(encoding string, b []byte) ([]byte, error) {
	var (
		zr  io.ReadCloser
		err error
		// src is read directly (it is an io.ByteReader), so what is left
		// of it after the stream is exactly the bytes after the stream.
		src = bytes.NewReader(b)
	)
	switch strings.ToLower(strings.TrimSpace(encoding)) {
	case "gzip", "x-gzip":
		var g *gzip.Reader
		if g, err = gzip.NewReader(src); err == nil {
			g.Multistream(false)
			zr = g
		}
	case "deflate":
		zr, err = zlib.NewReader(src)
	default:
		return nil, fmt.Errorf("%w: %q", ErrUnsupportedEncoding, encoding)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformedCompression, err)
	}
	defer zr.Close()
	limit := inflateLimit(len(b))
	var out bytes.Buffer
	n, err := out.ReadFrom(io.LimitReader(zr, int64(limit)+1))
	switch {
	case err != nil:
		return nil, fmt.Errorf("%w: %v", ErrMalformedCompression, cleanInflateErr(err))
	case n > int64(limit):
		return nil, fmt.Errorf("%w: %d compressed bytes inflate past %d", ErrInflateLimit, len(b), limit)
	case src.Len() > 0:
		// A second gzip member or garbage: no real client sends it, and
		// gzip readers disagree on it.
		return nil, fmt.Errorf("%w: %d bytes after the compressed stream", ErrMalformedCompression, src.Len())
	}
	return out.Bytes(), nil
}

// cleanInflateErr drops the offsets of flate's corruption errors, which say
// nothing a caller needs.
func cleanInflateErr(err error) error {
	var ce flate.CorruptInputError
	if errors.As(err, &ce) {
		return errors.New("corrupt compressed data")
	}
	return err
}
