package tfserving

import (
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"encoding/binary"
	"testing"
)

func gzipped(b []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

func fastGzipped(b []byte) []byte {
	var buf bytes.Buffer
	w, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

func zlibbed(b []byte) []byte {
	var buf bytes.Buffer
	w := zlib.NewWriter(&buf)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

// compressedFrame is a gRPC frame with the compressed flag set.
func compressedFrame(z []byte) []byte {
	out := make([]byte, 5, 5+len(z))
	out[0] = 1
	binary.BigEndian.PutUint32(out[1:], uint32(len(z)))
	return append(out, z...)
}

// bomb is a Predict message whose inputs field holds n zero bytes: it
// compresses about 1000:1.
func bomb(n int) []byte {
	return cat(spec(fName("m")), lenField(2, make([]byte, n)))
}

// TestParseGRPCCompressed: a frame compressed with the grpc-encoding the
// client named is inflated and parsed, as TF Serving's gRPC server does;
// a bomb, an unknown encoding and damaged data are refused. (Before, every
// compressed frame was refused with ErrCompressed.)
func TestParseGRPCCompressed(t *testing.T) {
	msg := spec(fName("m"), fVersion(2))
	req := func(enc string, body []byte) Request {
		return Request{Path: pathPredict, GRPC: true, Body: body, Encoding: enc}
	}
	gz := gzipped(msg)
	runCases(t, map[string]testCase{
		"gzip":                 {req: req("gzip", compressedFrame(gz)), want: []Target{withVersion(gp("m"), 2)}},
		"deflate (zlib)":       {req: req("deflate", compressedFrame(zlibbed(msg))), want: []Target{withVersion(gp("m"), 2)}},
		"gzip, upper case":     {req: req("GZIP", compressedFrame(gz)), want: []Target{withVersion(gp("m"), 2)}},
		"plain frame, gzip ok": {req: req("gzip", frame(msg)), want: []Target{withVersion(gp("m"), 2)}},
		"multiinference gzip": {req: Request{Path: pathMulti, GRPC: true, Encoding: "gzip",
			Body: compressedFrame(gzipped(taskField("c", fName("m"))))}, want: []Target{{API: MultiInference, Model: "m", Signature: DefaultSignature, Method: "c", Call: "PredictionService/MultiInference"}}},
		"no encoding":       {req: req("", compressedFrame(gz)), err: []error{ErrCompressed}},
		"identity":          {req: req("identity", compressedFrame(gz)), err: []error{ErrCompressed}},
		"unknown encoding":  {req: req("snappy", compressedFrame(gz)), err: []error{ErrUnsupportedEncoding}},
		"zstd":              {req: req("zstd", compressedFrame(gz)), err: []error{ErrUnsupportedEncoding}},
		"gzip named, zlib":  {req: req("gzip", compressedFrame(zlibbed(msg))), err: []error{ErrMalformedCompression}},
		"corrupt":           {req: req("gzip", compressedFrame(append(bytes.Clone(gz[:12]), 0xff, 0xff, 0xff))), err: []error{ErrMalformedCompression}},
		"truncated stream":  {req: req("gzip", compressedFrame(gz[:len(gz)-4])), err: []error{ErrMalformedCompression}},
		"two gzip members":  {req: req("gzip", compressedFrame(cat(gz, gz))), err: []error{ErrMalformedCompression}},
		"bytes after zlib":  {req: req("deflate", compressedFrame(cat(zlibbed(msg), []byte{0}))), err: []error{ErrMalformedCompression}},
		"bomb":              {req: req("gzip", compressedFrame(fastGzipped(bomb(MaxInflatedBytes+1)))), err: []error{ErrInflateLimit}},
		"ratio bomb":        {req: req("deflate", compressedFrame(zlibbed(bomb(8<<20)))), err: []error{ErrInflateLimit}},
		"compressed, empty": {req: req("gzip", compressedFrame(gzipped(nil))), err: []error{ErrNoModelSpec}},
	})
}

// TestParseRESTGzipBody: with REST body buffering on, a gzip body's
// signature_name is read as TF Serving reads it after inflating.
func TestParseRESTGzipBody(t *testing.T) {
	body := []byte(`{"signature_name":"serving_x","instances":[1]}`)
	req := func(enc string, b []byte) Request {
		return Request{Method: "POST", Path: "/v1/models/m:predict", Body: b, Encoding: enc}
	}
	want := Target{API: Predict, Model: "m", Signature: "serving_x", Call: "POST :predict"}
	runCases(t, map[string]testCase{
		"gzip":     {req: req("gzip", gzipped(body)), want: []Target{want}},
		"identity": {req: req("identity", body), want: []Target{want}},
		"deflate":  {req: req("deflate", zlibbed(body)), err: []error{ErrUnsupportedEncoding}},
		"br":       {req: req("br", body), err: []error{ErrUnsupportedEncoding}},
		"corrupt":  {req: req("gzip", body), err: []error{ErrMalformedCompression}},
		"bomb":     {req: req("gzip", gzipped(append(append([]byte(`{"a":"`), make([]byte, 4<<20)...), `"}`...))), err: []error{ErrInflateLimit}},
	})
}

func FuzzInflateGRPC(f *testing.F) {
	msg := spec(fName("m"), fVersion(3), fSig("s"))
	for _, enc := range []string{"gzip", "deflate", "identity", "", "snappy"} {
		f.Add(enc, compressedFrame(gzipped(msg)))
		f.Add(enc, compressedFrame(zlibbed(msg)))
		f.Add(enc, compressedFrame(gzipped(bomb(1<<16))))
		f.Add(enc, frame(msg))
	}
	f.Fuzz(func(t *testing.T, enc string, body []byte) {
		got, err := Parse(Request{Method: "POST", Path: pathPredict, GRPC: true, Body: body, Encoding: enc})
		checkInvariants(t, got, err)
	})
}

func FuzzInflate(f *testing.F) {
	for _, b := range [][]byte{gzipped([]byte("x")), zlibbed([]byte("hello")), gzipped(make([]byte, 1<<16)), {0x1f, 0x8b}} {
		f.Add("gzip", b)
		f.Add("deflate", b)
	}
	f.Fuzz(func(t *testing.T, enc string, b []byte) {
		out, err := inflate(enc, b)
		if err == nil && len(out) > inflateLimit(len(b)) {
			t.Fatalf("inflated %d bytes from %d, past the limit %d", len(out), len(b), inflateLimit(len(b)))
		}
		if err != nil && out != nil {
			t.Fatal("output with an error")
		}
	})
}
