package tfpb

import (
	"fmt"
	"strconv"

	"google.golang.org/protobuf/encoding/protowire"
)

// ModelSpec is tensorflow.serving.ModelSpec (apis/model.proto). Version and
// Label are the oneof version_choice: at most one is non-nil. A nil Version
// and nil Label mean "latest".
type ModelSpec struct {
	// Name is the model name (field 1).
	Name string
	// Version is the google.protobuf.Int64Value version (field 2).
	Version *int64
	// Label is version_label (field 4).
	Label *string
	// Signature is signature_name (field 3); empty means serving_default.
	Signature string
}

// V returns a pointer to v, for ModelSpec.Version literals.
func V(v int64) *int64 { return &v }

// L returns a pointer to l, for ModelSpec.Label literals.
func L(l string) *string { return &l }

// String renders the spec the way TF Serving's error messages name
// servables: Latest(name), Specific(name, 3) or Label(name, stable).
func (s ModelSpec) String() string {
	switch {
	case s.Version != nil:
		return "Specific(" + s.Name + ", " + strconv.FormatInt(*s.Version, 10) + ")"
	case s.Label != nil:
		return "Label(" + s.Name + ", " + *s.Label + ")"
	}
	return "Latest(" + s.Name + ")"
}

// Marshal encodes the spec as a ModelSpec message. If both Version and
// Label are set, Label is written last and therefore wins on decode.
func (s ModelSpec) Marshal() []byte {
	var b []byte
	b = appendString(b, 1, s.Name)
	if s.Version != nil {
		var w []byte
		w = appendVarint(w, 1, uint64(*s.Version))
		b = appendMessage(b, 2, w)
	}
	b = appendString(b, 3, s.Signature)
	if s.Label != nil {
		b = protowire.AppendTag(b, 4, protowire.BytesType)
		b = protowire.AppendString(b, *s.Label)
	}
	return b
}

// appendSpec appends s as message field num.
func appendSpec(b []byte, num protowire.Number, s ModelSpec) []byte {
	return appendMessage(b, num, s.Marshal())
}

// ParseModelSpec decodes a ModelSpec message with protobuf's semantics:
// the last name/signature wins, a version_label clears the version, a
// version starts from 0 unless the oneof already holds a version (an empty
// Int64Value wrapper therefore means version 0), and unknown fields are
// skipped. Strings must be valid UTF-8.
func ParseModelSpec(b []byte) (ModelSpec, error) {
	var s ModelSpec
	err := walk(b, func(f field) error {
		var err error
		switch {
		case f.isBytes(1):
			s.Name, err = f.str()
		case f.isBytes(3):
			s.Signature, err = f.str()
		case f.isBytes(4):
			var l string
			l, err = f.str()
			s.Label, s.Version = &l, nil
		case f.isBytes(2):
			if s.Version == nil {
				s.Version = new(int64)
			}
			s.Label = nil
			err = walk(f.b, func(g field) error {
				if g.isVarint(1) {
					*s.Version = int64(g.v)
				}
				return nil
			})
		}
		return err
	})
	if err != nil {
		return ModelSpec{}, fmt.Errorf("parsing ModelSpec: %w", err)
	}
	return s, nil
}

// messageField concatenates every occurrence of LEN field num in msg, which
// is exactly protobuf's merge of a repeated singular message field, and
// reports whether the field occurred at all.
func messageField(msg []byte, num protowire.Number) ([]byte, bool, error) {
	var out []byte
	found := false
	err := walk(msg, func(f field) error {
		if f.isBytes(num) {
			out = append(out, f.b...)
			found = true
		}
		return nil
	})
	return out, found, err
}

// specAt parses the (merged) ModelSpec at field num of msg. The boolean is
// false when the field is absent.
func specAt(msg []byte, num protowire.Number) (ModelSpec, bool, error) {
	b, found, err := messageField(msg, num)
	if err != nil || !found {
		return ModelSpec{}, false, err
	}
	s, err := ParseModelSpec(b)
	return s, true, err
}

// RequestModelSpec returns the ModelSpec of any request message that keeps
// it in field 1 (Predict, Classify, Regress, GetModelMetadata,
// GetModelStatus, SessionRun). The boolean is false when it is absent.
func RequestModelSpec(msg []byte) (ModelSpec, bool, error) {
	return specAt(msg, 1)
}
