package tfserving

import (
	"fmt"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"
)

// Work limits, far above any real request (a ModelSpec is a few dozen
// bytes; MultiInference needs one task per distinct signature).
const (
	maxSpecBytes = 64 << 10 // all ModelSpec occurrences together
	maxTasks     = 1024
)

// modelSpec is a tensorflow.serving.ModelSpec being parsed. Each occurrence
// of the field is merged into it, in order, as protobuf merges repeated
// occurrences of a singular message field. Merging occurrence by occurrence
// gives the same result as concatenating them and parsing once, without
// copying, and also rejects an occurrence that is malformed on its own.
// String fields alias the request body until target converts them.
type modelSpec struct {
	present              bool
	name, sig, label     []byte
	version              int64
	hasVersion, hasLabel bool
}

// merge parses one occurrence b into s (tfserving-api.md §4 step 3).
func (s *modelSpec) merge(b []byte) error {
	s.present = true
	return walkLen(b, func(num protowire.Number, v []byte) error {
		switch num {
		case 1:
			return setString(&s.name, v)
		case 3:
			return setString(&s.sig, v)
		case 4: // oneof version_choice := version_label
			s.version, s.hasVersion, s.hasLabel = 0, false, true
			return setString(&s.label, v)
		case 2: // oneof version_choice := version (Int64Value)
			if !s.hasVersion {
				s.version = 0 // a fresh message; else merge into the current one
			}
			s.hasVersion, s.hasLabel, s.label = true, false, nil
			return s.mergeVersion(v)
		}
		return nil
	})
}

// mergeVersion parses a google.protobuf.Int64Value into s.version: field 1
// varint, last one wins; an empty wrapper leaves the value (0 if fresh).
func (s *modelSpec) mergeVersion(b []byte) error {
	for len(b) > 0 {
		num, typ, n, err := consumeTag(b)
		if err != nil {
			return err
		}
		b = b[n:]
		if num == 1 && typ == protowire.VarintType {
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return malformed(n)
			}
			s.version, b = int64(v), b[n:] // negatives are 10-byte varints
			continue
		}
		if n = protowire.ConsumeFieldValue(num, typ, b); n < 0 {
			return malformed(n)
		}
		b = b[n:]
	}
	return nil
}

// target turns the parsed ModelSpec into the Target TF Serving resolves.
func (s *modelSpec) target(api API) (Target, error) {
	if !s.present {
		return Target{}, ErrNoModelSpec
	}
	if len(s.name) == 0 {
		return Target{}, ErrEmptyModel // "ModelSpec has no name specified."
	}
	t := Target{
		API: api, Model: string(s.name), Signature: string(s.sig),
		Version: s.version, HasVersion: s.hasVersion,
		Label: string(s.label), HasLabel: s.hasLabel,
	}
	switch api {
	case ModelStatus:
		// GetModelStatus reads only the version: a label lists all versions.
		t.Label, t.HasLabel, t.Signature = "", false, ""
	case ModelMetadata:
		// Metadata returns every signature; the field is not used.
		t.Signature = ""
	default:
		if t.Signature == "" {
			t.Signature = DefaultSignature
		}
	}
	return t, nil
}

// requestTargets reads a request whose ModelSpec is top-level field 1:
// Predict, Classify, Regress, GetModelMetadata, GetModelStatus, SessionRun.
func requestTargets(msg []byte, api API) ([]Target, error) {
	var s modelSpec
	budget := maxSpecBytes
	err := walkLen(msg, func(num protowire.Number, v []byte) error {
		if num != 1 {
			return nil
		}
		if err := spend(&budget, v); err != nil {
			return err
		}
		return s.merge(v)
	})
	if err != nil {
		return nil, err
	}
	t, err := s.target(api)
	if err != nil {
		return nil, err
	}
	return []Target{t}, nil
}

// walkLen calls fn with the payload of every LEN field of msg, in order,
// and skips every other field as protobuf skips unknown ones (groups
// included). A known field number with the wrong wire type is also just an
// unknown field to protobuf, not an error, so it is skipped too: the C++
// server ignores it the same way.
func walkLen(msg []byte, fn func(num protowire.Number, v []byte) error) error {
	for len(msg) > 0 {
		// Fast paths for the smallest fields, those with a one-byte tag
		// (field 1..15): a one-byte varint, an empty group, a LEN field
		// under 128 bytes. A body of such fields is the worst case per
		// byte; these take the same checks as the general path below,
		// without its calls.
		if len(msg) >= 2 && msg[0] < 0x80 && msg[0]>>3 != 0 {
			switch b0, b1 := msg[0], msg[1]; protowire.Type(b0 & 7) {
			case protowire.VarintType:
				if b1 < 0x80 {
					msg = msg[2:]
					continue
				}
			case protowire.StartGroupType:
				if b1 == b0+1 { // the same field's EndGroup tag
					msg = msg[2:]
					continue
				}
			case protowire.BytesType:
				if end := 2 + int(b1); b1 < 0x80 && end <= len(msg) {
					v := msg[2:end:end]
					msg = msg[end:]
					if err := fn(protowire.Number(b0>>3), v); err != nil {
						return err
					}
					continue
				}
			}
		}
		num, typ, n, err := consumeTag(msg)
		if err != nil {
			return err
		}
		msg = msg[n:]
		if typ == protowire.BytesType {
			v, n := protowire.ConsumeBytes(msg)
			if n < 0 {
				return malformed(n)
			}
			msg = msg[n:]
			if err := fn(num, v); err != nil {
				return err
			}
			continue
		}
		if n = protowire.ConsumeFieldValue(num, typ, msg); n < 0 {
			return malformed(n)
		}
		msg = msg[n:]
	}
	return nil
}

// consumeTag is protowire.ConsumeTag restricted to the field numbers a
// message may use. ConsumeTag accepts numbers up to 2^31-1 for MessageSet,
// but protobuf's parsers (C++ and Go) reject a field number above 2^29-1.
func consumeTag(b []byte) (protowire.Number, protowire.Type, int, error) {
	num, typ, n := protowire.ConsumeTag(b)
	switch {
	case n < 0:
		return 0, 0, 0, malformed(n)
	case num > protowire.MaxValidNumber:
		return 0, 0, 0, fmt.Errorf("%w: field number %d", ErrMalformedMessage, num)
	}
	return num, typ, n, nil
}

// setString sets a proto3 string field, which must be valid UTF-8: the C++
// server fails to parse the request otherwise.
func setString(dst *[]byte, v []byte) error {
	if !utf8.Valid(v) {
		return fmt.Errorf("%w: string field is not valid UTF-8", ErrMalformedMessage)
	}
	*dst = v
	return nil
}

// spend charges a ModelSpec occurrence to the work budget.
func spend(budget *int, v []byte) error {
	if *budget -= len(v); *budget < 0 {
		return fmt.Errorf("%w: model_spec over %d bytes", ErrTooLarge, maxSpecBytes)
	}
	return nil
}

func malformed(n int) error {
	return fmt.Errorf("%w: %v", ErrMalformedMessage, protowire.ParseError(n))
}
