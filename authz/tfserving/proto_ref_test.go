package tfserving

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"
	_ "google.golang.org/protobuf/types/known/wrapperspb" // registers wrappers.proto
)

// The reference: TF Serving's messages, declared here as descriptors and
// parsed by the real protobuf runtime (dynamicpb). Only the fields the
// decoder reads are declared; everything else is unknown to both sides.
//
//	message ModelSpec { string name = 1;
//	  oneof version_choice { google.protobuf.Int64Value version = 2; string version_label = 4; }
//	  string signature_name = 3; }
//	message PredictRequest { ModelSpec model_spec = 1; }
//	message InferenceTask { ModelSpec model_spec = 1; string method_name = 2; }
//	message MultiInferenceRequest { repeated InferenceTask tasks = 1; }
var refProto = buildRefProto()

func buildRefProto() protoreflect.FileDescriptor {
	opt := descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL.Enum()
	field := func(name string, num int32, typ descriptorpb.FieldDescriptorProto_Type, msg string) *descriptorpb.FieldDescriptorProto {
		f := &descriptorpb.FieldDescriptorProto{Name: proto.String(name), Number: proto.Int32(num), Label: opt, Type: typ.Enum()}
		if msg != "" {
			f.TypeName = proto.String(msg)
		}
		return f
	}
	const str, msg = descriptorpb.FieldDescriptorProto_TYPE_STRING, descriptorpb.FieldDescriptorProto_TYPE_MESSAGE
	version := field("version", 2, msg, ".google.protobuf.Int64Value")
	version.OneofIndex = proto.Int32(0)
	versionLabel := field("version_label", 4, str, "")
	versionLabel.OneofIndex = proto.Int32(0)
	tasks := field("tasks", 1, msg, ".tfgate.ref.InferenceTask")
	tasks.Label = descriptorpb.FieldDescriptorProto_LABEL_REPEATED.Enum()
	fdp := &descriptorpb.FileDescriptorProto{
		Name:       proto.String("tfgate/ref.proto"),
		Package:    proto.String("tfgate.ref"),
		Syntax:     proto.String("proto3"),
		Dependency: []string{"google/protobuf/wrappers.proto"},
		MessageType: []*descriptorpb.DescriptorProto{
			{
				Name:      proto.String("ModelSpec"),
				Field:     []*descriptorpb.FieldDescriptorProto{field("name", 1, str, ""), version, versionLabel, field("signature_name", 3, str, "")},
				OneofDecl: []*descriptorpb.OneofDescriptorProto{{Name: proto.String("version_choice")}},
			},
			{Name: proto.String("PredictRequest"), Field: []*descriptorpb.FieldDescriptorProto{field("model_spec", 1, msg, ".tfgate.ref.ModelSpec")}},
			{Name: proto.String("InferenceTask"), Field: []*descriptorpb.FieldDescriptorProto{field("model_spec", 1, msg, ".tfgate.ref.ModelSpec"), field("method_name", 2, str, "")}},
			{Name: proto.String("MultiInferenceRequest"), Field: []*descriptorpb.FieldDescriptorProto{tasks}},
		},
	}
	fd, err := protodesc.NewFile(fdp, protoregistry.GlobalFiles)
	if err != nil {
		panic(err)
	}
	return fd
}

func refMessage(name protoreflect.Name) *dynamicpb.Message {
	return dynamicpb.NewMessage(refProto.Messages().ByName(name))
}

// refSpec reads a parsed ModelSpec the way ServableRequestFromModelSpec
// does, as a Target (without API, Call or defaults).
func refSpec(m protoreflect.Message) Target {
	fields := m.Descriptor().Fields()
	get := func(n protoreflect.Name) protoreflect.Value { return m.Get(fields.ByName(n)) }
	t := Target{Model: get("name").String(), Signature: get("signature_name").String()}
	switch which := m.WhichOneof(m.Descriptor().Oneofs().ByName("version_choice")); {
	case which == nil:
	case which.Name() == "version":
		v := get("version").Message()
		t.Version, t.HasVersion = v.Get(v.Descriptor().Fields().ByNumber(1)).Int(), true
	default:
		t.Label, t.HasLabel = get("version_label").String(), true
	}
	return t
}

// comparePredict checks requestTargets against proto.Unmarshal for msg.
func comparePredict(tb testing.TB, msg []byte) {
	tb.Helper()
	ref := refMessage("PredictRequest")
	refErr := proto.Unmarshal(msg, ref)
	got, err := requestTargets(msg, Predict)
	if refErr != nil {
		if err == nil {
			tb.Fatalf("protobuf rejects %x (%v) but decoder returned %+v", msg, refErr, got)
		}
		return
	}
	specField := ref.Descriptor().Fields().ByNumber(1)
	want := refSpec(ref.Get(specField).Message())
	switch {
	case !ref.Has(specField):
		wantErr(tb, msg, err, ErrNoModelSpec)
	case want.Model == "":
		wantErr(tb, msg, err, ErrEmptyModel)
	case errors.Is(err, ErrTooLarge) && len(msg) > maxSpecBytes:
	case err != nil:
		tb.Fatalf("protobuf accepts %x as %+v but decoder failed: %v", msg, want, err)
	default:
		want.API, want.Signature = Predict, orDefault(want.Signature)
		if got[0] != want {
			tb.Fatalf("decoding %x\n got %+v\nwant %+v", msg, got[0], want)
		}
	}
}

// compareMulti checks multiInferenceTargets against proto.Unmarshal.
func compareMulti(tb testing.TB, msg []byte) {
	tb.Helper()
	ref := refMessage("MultiInferenceRequest")
	refErr := proto.Unmarshal(msg, ref)
	got, err := multiInferenceTargets(msg)
	if refErr != nil {
		if err == nil {
			tb.Fatalf("protobuf rejects %x (%v) but decoder returned %+v", msg, refErr, got)
		}
		return
	}
	want, problem := refTasks(ref)
	switch {
	case problem != nil:
		wantErr(tb, msg, err, problem)
	case errors.Is(err, ErrTooLarge) && len(msg) > maxSpecBytes:
	case err != nil:
		tb.Fatalf("protobuf accepts %x as %+v but decoder failed: %v", msg, want, err)
	case len(got) != len(want):
		tb.Fatalf("decoding %x: %d targets, want %d", msg, len(got), len(want))
	default:
		for i := range want {
			if got[i] != want[i] {
				tb.Fatalf("decoding %x, task %d\n got %+v\nwant %+v", msg, i, got[i], want[i])
			}
		}
	}
}

// refTasks applies TF Serving's MultiInference rules to a parsed request.
func refTasks(ref *dynamicpb.Message) ([]Target, error) {
	list := ref.Get(ref.Descriptor().Fields().ByNumber(1)).List()
	if list.Len() == 0 {
		return nil, ErrMultiInferenceMismatch
	}
	var ts []Target
	for i := 0; i < list.Len(); i++ {
		task := list.Get(i).Message()
		specField := task.Descriptor().Fields().ByNumber(1)
		t := refSpec(task.Get(specField).Message())
		if !task.Has(specField) || t.Model == "" || t.Model != refSpec(list.Get(0).Message().Get(specField).Message()).Model {
			return nil, ErrMultiInferenceMismatch
		}
		if i > 0 {
			t.Version, t.HasVersion, t.Label, t.HasLabel = ts[0].Version, ts[0].HasVersion, ts[0].Label, ts[0].HasLabel
		}
		t.API, t.Signature = MultiInference, orDefault(t.Signature)
		t.Method = task.Get(task.Descriptor().Fields().ByNumber(2)).String()
		ts = append(ts, t)
	}
	return ts, nil
}

func orDefault(sig string) string {
	if sig == "" {
		return DefaultSignature
	}
	return sig
}

func wantErr(tb testing.TB, msg []byte, err, want error) {
	tb.Helper()
	if !errors.Is(err, want) {
		tb.Fatalf("decoding %x: error %v, want %v", msg, err, want)
	}
}

// Random messages for the deterministic differential runs. They are built
// mostly from the shapes that matter (ModelSpec fields with right and wrong
// wire types, repeated and nested specs, wrappers with several values,
// unknown fields, groups, invalid UTF-8) and now and then raw bytes, so that
// most of them parse and reach the merge rules.

var randomStrings = []string{"m", "m", "n", "", "stable", "caf\u00e9", "\xff", "\xc3"}

func randomString(r *rand.Rand) string { return randomStrings[r.IntN(len(randomStrings))] }

// randomRequest is a PredictRequest-like message; with tasks it is a
// MultiInferenceRequest-like one.
func randomRequest(r *rand.Rand, tasks bool) []byte {
	var parts [][]byte
	for n := r.IntN(5); n >= 0; n-- {
		switch {
		case r.IntN(3) == 0:
			parts = append(parts, randomField(r, 0))
		case tasks:
			parts = append(parts, lenField(1, randomTask(r)...))
		default:
			parts = append(parts, spec(randomSpec(r)...))
		}
	}
	return cat(parts...)
}

func randomTask(r *rand.Rand) [][]byte {
	var parts [][]byte
	for n := r.IntN(3); n >= 0; n-- {
		switch r.IntN(4) {
		case 0:
			parts = append(parts, strField(2, randomString(r)))
		case 1:
			parts = append(parts, randomField(r, 1))
		default:
			parts = append(parts, spec(randomSpec(r)...))
		}
	}
	return parts
}

func randomSpec(r *rand.Rand) [][]byte {
	var parts [][]byte
	for n := r.IntN(5); n >= 0; n-- {
		switch r.IntN(8) {
		case 0, 1:
			parts = append(parts, fName(randomString(r)))
		case 2:
			parts = append(parts, fSig(randomString(r)))
		case 3:
			parts = append(parts, fLabel(randomString(r)))
		case 4, 5:
			parts = append(parts, lenField(2, randomWrapper(r)...))
		default:
			parts = append(parts, randomField(r, 1))
		}
	}
	return parts
}

func randomWrapper(r *rand.Rand) [][]byte {
	vals := []uint64{0, 1, 7, 1 << 63, ^uint64(0)}
	var parts [][]byte
	for n := r.IntN(3); n > 0; n-- {
		if r.IntN(3) > 0 {
			parts = append(parts, varintField(1, vals[r.IntN(len(vals))]))
		} else {
			parts = append(parts, randomField(r, 2))
		}
	}
	return parts
}

// randomField is any field: numbers 1-5, any wire type, nesting, raw bytes.
func randomField(r *rand.Rand, depth int) []byte {
	num := protowire.Number(1 + r.IntN(5))
	switch r.IntN(9) {
	case 0, 1:
		return strField(num, randomString(r))
	case 2:
		return varintField(num, []uint64{0, 1, 1 << 63}[r.IntN(3)])
	case 3:
		return fixed32Field(num, r.Uint32())
	case 4:
		return groupField(num, randomFields(r, depth+1)...)
	case 5, 6:
		return lenField(num, randomFields(r, depth+1)...)
	case 7:
		return protowire.AppendTag(nil, num, protowire.Type(r.IntN(8)))
	}
	return []byte{byte(r.Uint32())}
}

func randomFields(r *rand.Rand, depth int) [][]byte {
	if depth > 3 {
		return nil
	}
	fs := make([][]byte, r.IntN(4))
	for i := range fs {
		fs[i] = randomField(r, depth)
	}
	return fs
}

// TestModelSpecMatchesProtobuf is a deterministic differential run over
// many random messages; the fuzz tests explore further.
func TestModelSpecMatchesProtobuf(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	n := 200_000
	if testing.Short() {
		n = 20_000
	}
	for i := 0; i < n; i++ {
		comparePredict(t, randomRequest(r, false))
		compareMulti(t, randomRequest(r, true))
	}
}

// TestSmallFieldFastPaths compares the walk's fast paths for one-byte-tag
// fields (one-byte varints, empty groups, short LEN fields) with protobuf,
// including the near misses that must take the general path.
func TestSmallFieldFastPaths(t *testing.T) {
	specMsg := spec(fName("m"), fVersion(2))
	for name, msg := range map[string][]byte{
		"varints":             cat(varintField(9, 1), varintField(15, 127), specMsg, varintField(2, 0)),
		"two-byte varint":     cat(varintField(9, 300), specMsg),
		"field 0 varint":      cat([]byte{0x00, 0x01}, specMsg),
		"empty group":         cat([]byte{9<<3 | 3, 9<<3 | 4}, specMsg),
		"mismatched group":    cat([]byte{9<<3 | 3, 10<<3 | 4}, specMsg),
		"stray end group":     cat([]byte{9<<3 | 4}, specMsg),
		"group with content":  cat([]byte{9<<3 | 3, 1 << 3, 5, 9<<3 | 4}, specMsg),
		"short LEN fields":    cat(lenField(9), lenField(3, []byte("abc")), specMsg),
		"LEN past the end":    cat(specMsg, []byte{9<<3 | 2, 5, 'a'}),
		"127-byte LEN":        cat(lenField(9, bytes.Repeat([]byte{'x'}, 127)), specMsg),
		"128-byte LEN":        cat(lenField(9, bytes.Repeat([]byte{'x'}, 128)), specMsg),
		"spec twice, merged":  cat(spec(fName("a")), spec(fVersion(3)), spec(fName("b"))),
		"truncated at 1 byte": cat(specMsg, []byte{9 << 3}),
	} {
		t.Run(name, func(t *testing.T) { comparePredict(t, msg) })
	}
}
