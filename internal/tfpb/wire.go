package tfpb

import (
	"fmt"
	"math"
	"slices"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"
)

// field is one decoded field of a message. For BytesType, b holds the
// contents; for the numeric types, v holds the raw value.
type field struct {
	num protowire.Number
	typ protowire.Type
	v   uint64
	b   []byte
}

// walk calls fn for every field of msg in wire order. Groups are skipped.
func walk(msg []byte, fn func(f field) error) error {
	for len(msg) > 0 {
		num, typ, n := protowire.ConsumeTag(msg)
		if n < 0 {
			return fmt.Errorf("%w: %v", ErrMalformed, protowire.ParseError(n))
		}
		msg = msg[n:]
		f := field{num: num, typ: typ}
		switch typ {
		case protowire.VarintType:
			f.v, n = protowire.ConsumeVarint(msg)
		case protowire.Fixed32Type:
			var v uint32
			v, n = protowire.ConsumeFixed32(msg)
			f.v = uint64(v)
		case protowire.Fixed64Type:
			f.v, n = protowire.ConsumeFixed64(msg)
		case protowire.BytesType:
			f.b, n = protowire.ConsumeBytes(msg)
		default:
			n = protowire.ConsumeFieldValue(num, typ, msg)
		}
		if n < 0 {
			return fmt.Errorf("%w: field %d: %v", ErrMalformed, num, protowire.ParseError(n))
		}
		msg = msg[n:]
		if typ == protowire.StartGroupType {
			continue
		}
		if err := fn(f); err != nil {
			return err
		}
	}
	return nil
}

// str returns the field as a proto3 string, rejecting invalid UTF-8.
func (f field) str() (string, error) {
	if !utf8.Valid(f.b) {
		return "", fmt.Errorf("%w: field %d", ErrInvalidUTF8, f.num)
	}
	return string(f.b), nil
}

// isBytes reports whether f is field num with wire type LEN.
func (f field) isBytes(num protowire.Number) bool {
	return f.num == num && f.typ == protowire.BytesType
}

// isVarint reports whether f is field num with wire type VARINT.
func (f field) isVarint(num protowire.Number) bool {
	return f.num == num && f.typ == protowire.VarintType
}

// floats decodes a repeated float field in packed (LEN) or unpacked
// (FIXED32) form and appends the values to dst.
func (f field) floats(dst []float32) ([]float32, error) {
	switch f.typ {
	case protowire.Fixed32Type:
		return append(dst, math.Float32frombits(uint32(f.v))), nil
	case protowire.BytesType:
		b := f.b
		for len(b) > 0 {
			v, n := protowire.ConsumeFixed32(b)
			if n < 0 {
				return nil, fmt.Errorf("%w: packed float: %v", ErrMalformed, protowire.ParseError(n))
			}
			dst = append(dst, math.Float32frombits(v))
			b = b[n:]
		}
		return dst, nil
	}
	return dst, nil
}

// appendString appends a LEN field holding s; empty strings are omitted,
// as proto3 does for implicit-presence fields.
func appendString(b []byte, num protowire.Number, s string) []byte {
	if s == "" {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendString(b, s)
}

// appendMessage appends a LEN field holding an encoded message, even when
// the message is empty (message fields have presence).
func appendMessage(b []byte, num protowire.Number, msg []byte) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, msg)
}

// appendVarint appends a VARINT field; zero is omitted.
func appendVarint(b []byte, num protowire.Number, v uint64) []byte {
	if v == 0 {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.VarintType)
	return protowire.AppendVarint(b, v)
}

// appendPackedFloats appends a packed repeated float field.
func appendPackedFloats(b []byte, num protowire.Number, vs []float32) []byte {
	if len(vs) == 0 {
		return b
	}
	var p []byte
	for _, v := range vs {
		p = protowire.AppendFixed32(p, math.Float32bits(v))
	}
	return appendMessage(b, num, p)
}

// appendMapEntries appends one map entry per key, in sorted key order, with
// the key as field 1 and the encoded value message as field 2.
func appendMapEntries[V any](b []byte, num protowire.Number, m map[string]V, enc func(V) []byte) []byte {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		var e []byte
		e = protowire.AppendTag(e, 1, protowire.BytesType)
		e = protowire.AppendString(e, k)
		e = appendMessage(e, 2, enc(m[k]))
		b = appendMessage(b, num, e)
	}
	return b
}

// parseMapEntry decodes one map<string, message> entry, returning the key
// and the value message bytes. Repeated value occurrences are merged by
// concatenation, as protobuf does.
func parseMapEntry(entry []byte) (key string, val []byte, err error) {
	err = walk(entry, func(f field) error {
		switch {
		case f.isBytes(1):
			s, err := f.str()
			key = s
			return err
		case f.isBytes(2):
			val = append(val, f.b...)
		}
		return nil
	})
	return key, val, err
}
