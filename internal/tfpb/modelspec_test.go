package tfpb

import (
	"errors"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// wb builds wire bytes from a list of appenders.
func wb(parts ...func([]byte) []byte) []byte {
	var b []byte
	for _, p := range parts {
		b = p(b)
	}
	return b
}

func str(num protowire.Number, s string) func([]byte) []byte {
	return func(b []byte) []byte {
		b = protowire.AppendTag(b, num, protowire.BytesType)
		return protowire.AppendString(b, s)
	}
}

func msg(num protowire.Number, m []byte) func([]byte) []byte {
	return func(b []byte) []byte { return appendMessage(b, num, m) }
}

func vint(num protowire.Number, v uint64) func([]byte) []byte {
	return func(b []byte) []byte {
		b = protowire.AppendTag(b, num, protowire.VarintType)
		return protowire.AppendVarint(b, v)
	}
}

func TestParseModelSpec(t *testing.T) {
	neg := int64(-3)
	tests := map[string]struct {
		in   []byte
		want ModelSpec
		err  error
	}{
		"name only":               {in: wb(str(1, "m")), want: ModelSpec{Name: "m"}},
		"last name wins":          {in: wb(str(1, "a"), str(1, "b")), want: ModelSpec{Name: "b"}},
		"version":                 {in: wb(str(1, "m"), msg(2, wb(vint(1, 7)))), want: ModelSpec{Name: "m", Version: V(7)}},
		"empty wrapper is 0":      {in: wb(msg(2, nil)), want: ModelSpec{Version: V(0)}},
		"negative version":        {in: wb(msg(2, wb(vint(1, uint64(neg))))), want: ModelSpec{Version: &neg}},
		"versions merge":          {in: wb(msg(2, wb(vint(1, 7))), msg(2, nil)), want: ModelSpec{Version: V(7)}},
		"label clears version":    {in: wb(msg(2, wb(vint(1, 7))), str(4, "stable")), want: ModelSpec{Label: L("stable")}},
		"version after label":     {in: wb(str(4, "stable"), msg(2, nil)), want: ModelSpec{Version: V(0)}},
		"empty label present":     {in: wb(str(4, "")), want: ModelSpec{Label: L("")}},
		"signature":               {in: wb(str(3, "sig")), want: ModelSpec{Signature: "sig"}},
		"unknown field skipped":   {in: wb(vint(9, 1), str(1, "m")), want: ModelSpec{Name: "m"}},
		"wrong wire type skipped": {in: wb(vint(1, 5), str(1, "m")), want: ModelSpec{Name: "m"}},
		"bad utf8":                {in: wb(str(1, "\xff")), err: ErrInvalidUTF8},
		"truncated":               {in: []byte{0x0a, 0x05, 'a'}, err: ErrMalformed},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := ParseModelSpec(tc.in)
			if !errors.Is(err, tc.err) {
				t.Fatalf("err = %v, want %v", err, tc.err)
			}
			if tc.err == nil && !specEqual(got, tc.want) {
				t.Fatalf("got %+v, want %+v", show(got), show(tc.want))
			}
			if tc.err == nil {
				if ref := referenceSpec(t, tc.in); !specEqual(got, ref) {
					t.Fatalf("protobuf-go decodes %+v, we decode %+v", show(ref), show(got))
				}
			}
		})
	}
}

func TestModelSpecRoundTrip(t *testing.T) {
	tests := map[string]ModelSpec{
		"latest":    {Name: "half_plus_two"},
		"version":   {Name: "m", Version: V(2), Signature: "serving_default"},
		"version 0": {Name: "m", Version: V(0)},
		"label":     {Name: "m", Label: L("stable")},
		"empty":     {},
	}
	for name, spec := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := ParseModelSpec(spec.Marshal())
			if err != nil || !specEqual(got, spec) {
				t.Fatalf("round trip = %+v, %v; want %+v", show(got), err, show(spec))
			}
		})
	}
}

func TestInt64ValueMatchesWrapperspb(t *testing.T) {
	for _, v := range []int64{0, 1, 300, -1} {
		want, err := proto.Marshal(wrapperspb.Int64(v))
		if err != nil {
			t.Fatal(err)
		}
		got, _, _ := messageField(ModelSpec{Version: V(v)}.Marshal(), 2)
		if string(got) != string(want) {
			t.Errorf("version %d: got % x, want % x", v, got, want)
		}
	}
}

func TestRequestModelSpecMerges(t *testing.T) {
	// The smuggling case of envoy-ext-authz.md §8: a second model_spec after
	// the inputs overrides the name.
	req := wb(msg(1, wb(str(1, "ok"))), msg(2, nil), msg(1, wb(str(1, "secret"))))
	spec, ok, err := RequestModelSpec(req)
	if err != nil || !ok || spec.Name != "secret" {
		t.Fatalf("RequestModelSpec = %+v, %v, %v; want name secret", spec, ok, err)
	}
	if _, ok, _ := RequestModelSpec(wb(msg(2, nil))); ok {
		t.Fatal("absent model_spec reported as present")
	}
}

func specEqual(a, b ModelSpec) bool {
	return a.Name == b.Name && a.Signature == b.Signature &&
		((a.Version == nil) == (b.Version == nil)) && (a.Version == nil || *a.Version == *b.Version) &&
		((a.Label == nil) == (b.Label == nil)) && (a.Label == nil || *a.Label == *b.Label)
}

func show(s ModelSpec) map[string]any {
	m := map[string]any{"name": s.Name, "sig": s.Signature}
	if s.Version != nil {
		m["version"] = *s.Version
	}
	if s.Label != nil {
		m["label"] = *s.Label
	}
	return m
}

// referenceSpec decodes b with protobuf-go's dynamic messages and a
// descriptor for tensorflow.serving.ModelSpec, as an independent oracle.
func referenceSpec(tb testing.TB, b []byte) ModelSpec {
	tb.Helper()
	md := modelSpecDescriptor(tb)
	m := dynamicpb.NewMessage(md)
	if err := proto.Unmarshal(b, m); err != nil {
		tb.Fatalf("protobuf-go rejects input: %v", err)
	}
	var s ModelSpec
	s.Name = m.Get(md.Fields().ByName("name")).String()
	s.Signature = m.Get(md.Fields().ByName("signature_name")).String()
	if fd := md.Fields().ByName("version"); m.Has(fd) {
		v := m.Get(fd).Message().Get(fd.Message().Fields().ByName("value")).Int()
		s.Version = &v
	}
	if fd := md.Fields().ByName("version_label"); m.Has(fd) {
		l := m.Get(fd).String()
		s.Label = &l
	}
	return s
}

func modelSpecDescriptor(tb testing.TB) protoreflect.MessageDescriptor {
	tb.Helper()
	opt := func(s string) *string { return &s }
	num := func(n int32) *int32 { return &n }
	zero := int32(0)
	lbl := descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL.Enum()
	fdp := &descriptorpb.FileDescriptorProto{
		Name:       opt("tfpb_test/model.proto"),
		Package:    opt("tensorflow.serving"),
		Syntax:     opt("proto3"),
		Dependency: []string{"google/protobuf/wrappers.proto"},
		MessageType: []*descriptorpb.DescriptorProto{{
			Name: opt("ModelSpec"),
			Field: []*descriptorpb.FieldDescriptorProto{
				{Name: opt("name"), Number: num(1), Label: lbl, Type: descriptorpb.FieldDescriptorProto_TYPE_STRING.Enum()},
				{Name: opt("version"), Number: num(2), Label: lbl, Type: descriptorpb.FieldDescriptorProto_TYPE_MESSAGE.Enum(), TypeName: opt(".google.protobuf.Int64Value"), OneofIndex: &zero},
				{Name: opt("version_label"), Number: num(4), Label: lbl, Type: descriptorpb.FieldDescriptorProto_TYPE_STRING.Enum(), OneofIndex: &zero},
				{Name: opt("signature_name"), Number: num(3), Label: lbl, Type: descriptorpb.FieldDescriptorProto_TYPE_STRING.Enum()},
			},
			OneofDecl: []*descriptorpb.OneofDescriptorProto{{Name: opt("version_choice")}},
		}},
	}
	fd, err := protodesc.NewFile(fdp, protoregistry.GlobalFiles)
	if err != nil {
		tb.Fatal(err)
	}
	return fd.Messages().ByName("ModelSpec")
}

func fixed32(num protowire.Number, v uint32) func([]byte) []byte {
	return func(b []byte) []byte {
		b = protowire.AppendTag(b, num, protowire.Fixed32Type)
		return protowire.AppendFixed32(b, v)
	}
}
