package tfserving

import (
	"encoding/binary"
	"errors"
	"reflect"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
)

// Builders for protobuf wire bytes, so tests can write exactly the bytes a
// hostile client could send (repeated fields, wrong wire types, groups).

func cat(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

// lenField is field num, wire type LEN, holding the concatenated parts.
func lenField(num protowire.Number, parts ...[]byte) []byte {
	b := protowire.AppendTag(nil, num, protowire.BytesType)
	return protowire.AppendBytes(b, cat(parts...))
}

func strField(num protowire.Number, s string) []byte {
	return lenField(num, []byte(s))
}

func varintField(num protowire.Number, v uint64) []byte {
	b := protowire.AppendTag(nil, num, protowire.VarintType)
	return protowire.AppendVarint(b, v)
}

func fixed32Field(num protowire.Number, v uint32) []byte {
	return protowire.AppendFixed32(protowire.AppendTag(nil, num, protowire.Fixed32Type), v)
}

func groupField(num protowire.Number, parts ...[]byte) []byte {
	b := protowire.AppendTag(nil, num, protowire.StartGroupType)
	b = append(b, cat(parts...)...)
	return protowire.AppendTag(b, num, protowire.EndGroupType)
}

// ModelSpec fields: name=1, version=2 (Int64Value{value=1}),
// signature_name=3, version_label=4.
func fName(s string) []byte  { return strField(1, s) }
func fSig(s string) []byte   { return strField(3, s) }
func fLabel(s string) []byte { return strField(4, s) }
func fVersion(v int64) []byte {
	return lenField(2, varintField(1, uint64(v)))
}

// spec is a model_spec field (number 1) holding the given ModelSpec fields.
func spec(fields ...[]byte) []byte { return lenField(1, fields...) }

// taskField is one MultiInference task (field 1 of the request).
func taskField(method string, specFields ...[]byte) []byte {
	return lenField(1, spec(specFields...), strField(2, method))
}

// frame wraps msg in an uncompressed gRPC Length-Prefixed-Message.
func frame(msg []byte) []byte {
	b := make([]byte, 5, 5+len(msg))
	binary.BigEndian.PutUint32(b[1:], uint32(len(msg)))
	return append(b, msg...)
}

// testCase is one row of a Parse table.
type testCase struct {
	req  Request
	want []Target
	err  []error // every sentinel the error must wrap; nil means success
}

func runCases(t *testing.T, cases map[string]testCase) {
	t.Helper()
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := Parse(tc.req)
			checkResult(t, got, err, tc.want, tc.err)
		})
	}
}

func checkResult(tb testing.TB, got []Target, err error, want []Target, wantErr []error) {
	tb.Helper()
	if wantErr != nil {
		if err == nil {
			tb.Fatalf("Parse = %+v, want error %v", got, wantErr)
		}
		for _, w := range wantErr {
			if !errors.Is(err, w) {
				tb.Errorf("Parse error %q, want it to wrap %q", err, w)
			}
		}
		if got != nil {
			tb.Errorf("Parse returned targets %+v with an error", got)
		}
		return
	}
	if err != nil {
		tb.Fatalf("Parse error: %v", err)
	}
	if !reflect.DeepEqual(got, want) {
		tb.Errorf("Parse =\n  %+v\nwant\n  %+v", got, want)
	}
}

// checkInvariants holds for every Parse result, whatever the input.
func checkInvariants(tb testing.TB, got []Target, err error) {
	tb.Helper()
	if err != nil {
		if got != nil {
			tb.Fatalf("targets %+v returned with error %v", got, err)
		}
		return
	}
	if len(got) == 0 {
		tb.Fatal("no targets and no error")
	}
	for _, t := range got {
		if t.HasVersion && t.HasLabel {
			tb.Fatalf("target has both version and label: %+v", t)
		}
		if !t.HasLabel && t.Label != "" || !t.HasVersion && t.Version != 0 {
			tb.Fatalf("target has a value without its flag: %+v", t)
		}
		if t.API == "" {
			tb.Fatalf("target without API: %+v", t)
		}
		if carriesModel(t.API) != (t.Model != "") {
			tb.Fatalf("model %q does not fit API %q", t.Model, t.API)
		}
	}
}

func carriesModel(api API) bool {
	switch api {
	case Predict, Classify, Regress, MultiInference, ModelStatus, ModelMetadata, SessionRun:
		return true
	}
	return false
}
