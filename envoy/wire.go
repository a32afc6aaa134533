package envoy

import (
	"unicode/utf8"

	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/tfgate/tfgate/authz"
)

// This file writes an allowed Check's CheckResponse straight to protobuf
// wire bytes, without building the message: on the cached path, building
// the response (a struct per header option, about 1.7 KB) and marshalling
// it by reflection was about a quarter of what tfgate added to a Check. The
// bytes are exactly what proto.Marshal writes for responder.ok's message
// (TestWireOKMatchesProto, FuzzWireOK); denials, rarer and varied, keep
// the message.
//
// The message, with the field numbers of envoy.service.auth.v3 and
// envoy.config.core.v3:
//
//	CheckResponse        1 status {}                 (google.rpc.Status, code 0: empty)
//	                     3 ok_response OkHttpResponse
//	OkHttpResponse       2 headers HeaderValueOption (repeated)
//	                     5 headers_to_remove string  (repeated)
//	HeaderValueOption    1 header HeaderValue {1 key, 2 value}
//	                     2 append {}                 (BoolValue false: empty)
//	                     3 append_action 2           (OVERWRITE_IF_EXISTS_OR_ADD)

// encodedResponse is a CheckResponse already in wire form; budgetCodec
// hands its bytes to gRPC as they are.
type encodedResponse struct{ data mem.BufferSlice }

// Field numbers and constant parts of the encoding.
const (
	fieldStatus           = 1
	fieldOKResponse       = 3
	fieldOKHeaders        = 2
	fieldOKRemove         = 5
	fieldOptionHeader     = 1
	fieldOptionAppend     = 2
	fieldOptionAction     = 3
	fieldHeaderKey        = 1
	fieldHeaderValue      = 2
	appendActionOverwrite = 2 // corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD
)

// encodeOK returns d's allowed response in wire form, or ok false when a
// header or name is not valid UTF-8: proto.Marshal refuses such a string
// field, and the caller then takes that path so the answer stays the
// same (an error, which Envoy denies).
func encodeOK(d *authz.Decision) (_ mem.BufferSlice, ok bool) {
	cookie := d.CookieChanged && d.Cookie != ""
	removeCookie := d.CookieChanged && d.Cookie == ""
	// Sizes first: every length prefix must be known before its bytes.
	body := 0
	for _, h := range d.Set {
		if !utf8.ValidString(h.Name) || !utf8.ValidString(h.Value) {
			return nil, false
		}
		body += sizeField(fieldOKHeaders, optionSize(h.Name, h.Value))
	}
	if cookie {
		if !utf8.ValidString(d.Cookie) {
			return nil, false
		}
		body += sizeField(fieldOKHeaders, optionSize("cookie", d.Cookie))
	}
	for _, name := range d.Remove {
		if !utf8.ValidString(name) {
			return nil, false
		}
		body += sizeField(fieldOKRemove, len(name))
	}
	if removeCookie {
		body += sizeField(fieldOKRemove, len("cookie"))
	}
	size := sizeField(fieldStatus, 0) + sizeField(fieldOKResponse, body)

	// As gRPC's own proto codec: small messages in a plain slice, larger
	// ones in a pooled buffer that gRPC returns once written.
	var (
		b    []byte
		buf  *[]byte
		pool = mem.DefaultBufferPool()
	)
	if mem.IsBelowBufferPoolingThreshold(size) {
		b = make([]byte, 0, size)
	} else {
		buf = pool.Get(size)
		b = (*buf)[:0]
	}
	b = protowire.AppendTag(b, fieldStatus, protowire.BytesType)
	b = protowire.AppendVarint(b, 0)
	b = protowire.AppendTag(b, fieldOKResponse, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(body))
	for _, h := range d.Set {
		b = appendOption(b, h.Name, h.Value)
	}
	if cookie {
		b = appendOption(b, "cookie", d.Cookie)
	}
	for _, name := range d.Remove {
		b = appendString(b, fieldOKRemove, name)
	}
	if removeCookie {
		b = appendString(b, fieldOKRemove, "cookie")
	}
	if buf == nil {
		return mem.BufferSlice{mem.SliceBuffer(b)}, true
	}
	*buf = b
	return mem.BufferSlice{mem.NewBuffer(buf, pool)}, true
}

// sizeField is the encoded size of a length-delimited field of n bytes.
func sizeField(num protowire.Number, n int) int {
	return protowire.SizeTag(num) + protowire.SizeBytes(n)
}

// headerSize is the size of a HeaderValue; proto3 leaves out empty strings.
func headerSize(name, value string) int {
	n := 0
	if name != "" {
		n += sizeField(fieldHeaderKey, len(name))
	}
	if value != "" {
		n += sizeField(fieldHeaderValue, len(value))
	}
	return n
}

// optionSize is the size of an overwriting HeaderValueOption.
func optionSize(name, value string) int {
	return sizeField(fieldOptionHeader, headerSize(name, value)) +
		sizeField(fieldOptionAppend, 0) +
		protowire.SizeTag(fieldOptionAction) + protowire.SizeVarint(appendActionOverwrite)
}

func appendOption(b []byte, name, value string) []byte {
	b = protowire.AppendTag(b, fieldOKHeaders, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(optionSize(name, value)))
	b = protowire.AppendTag(b, fieldOptionHeader, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(headerSize(name, value)))
	if name != "" {
		b = appendString(b, fieldHeaderKey, name)
	}
	if value != "" {
		b = appendString(b, fieldHeaderValue, value)
	}
	b = protowire.AppendTag(b, fieldOptionAppend, protowire.BytesType)
	b = protowire.AppendVarint(b, 0)
	b = protowire.AppendTag(b, fieldOptionAction, protowire.VarintType)
	return protowire.AppendVarint(b, appendActionOverwrite)
}

func appendString(b []byte, num protowire.Number, s string) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendString(b, s)
}
