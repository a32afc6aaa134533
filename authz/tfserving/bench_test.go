package tfserving

import (
	"bytes"
	"strings"
	"testing"
)

func benchParse(b *testing.B, r Request) {
	b.Helper()
	if _, err := Parse(r); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(r.Body)))
	for b.Loop() {
		if _, err := Parse(r); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseRESTPredict(b *testing.B) {
	benchParse(b, post("/v1/models/resnet/versions/3:predict"))
}

func BenchmarkParseRESTPredictEscaped(b *testing.B) {
	benchParse(b, post("/v1/models/res%6Eet/labels/can%61ry:predict"))
}

func BenchmarkParseRESTMetadata(b *testing.B) {
	benchParse(b, get("/V1/Models/resnet/labels/stable/metadata"))
}

func BenchmarkParseRESTPredictSmallBody(b *testing.B) {
	benchParse(b, predictBody("/v1/models/resnet:predict", `{"signature_name":"serving_default","instances":[[1.0,2.0,3.0,4.0]]}`))
}

// A 1 MiB JSON body: the cost of validating the JSON while looking for
// the top-level signature_name, which comes last here.
func BenchmarkParseRESTPredictJSON1MiB(b *testing.B) {
	row := "[" + strings.Repeat("0.123456,", 63) + "1e-3],"
	rows := strings.Repeat(row, (1<<20)/len(row))
	body := `{"instances":[` + rows[:len(rows)-1] + `],"signature_name":"s"}`
	benchParse(b, predictBody("/v1/models/resnet:predict", body))
}

func BenchmarkParseGRPCPredictSmall(b *testing.B) {
	msg := cat(spec(fName("resnet"), fVersion(3), fSig("serving_default")), lenField(2, strField(1, "x"), lenField(2, lenField(4, make([]byte, 64)))))
	benchParse(b, grpcReq(pathPredict, msg))
}

// bigInputs is a Predict inputs entry (field 2) holding a 32 MiB tensor.
func bigInputs() []byte {
	return lenField(2, strField(1, "images"), lenField(2, lenField(4, make([]byte, 32<<20))))
}

// The ModelSpec at the start and at the end of a 32 MiB body: neither may
// cost time or memory proportional to the body.
func BenchmarkParseGRPCPredict32MiBSpecFirst(b *testing.B) {
	benchParse(b, grpcReq(pathPredict, cat(spec(fName("resnet"), fVersion(3)), bigInputs())))
}

func BenchmarkParseGRPCPredict32MiBSpecLast(b *testing.B) {
	benchParse(b, grpcReq(pathPredict, cat(bigInputs(), spec(fName("resnet"), fVersion(3)))))
}

// The worst case for the field walk: 32 MiB of two-byte unknown fields
// before the ModelSpec. Time is linear in the body; memory is not.
func BenchmarkParseGRPCPredict32MiBTinyFields(b *testing.B) {
	junk := bytes.Repeat(varintField(9, 1), 16<<20)
	benchParse(b, grpcReq(pathPredict, cat(junk, spec(fName("resnet")))))
}

// The same worst case with other two-byte fields: empty LEN fields (each
// reaches the walk's callback) and empty groups (start and end tags).
func BenchmarkParseGRPCPredict32MiBTinyLenFields(b *testing.B) {
	junk := bytes.Repeat(lenField(9), 16<<20)
	benchParse(b, grpcReq(pathPredict, cat(junk, spec(fName("resnet")))))
}

func BenchmarkParseGRPCPredict32MiBEmptyGroups(b *testing.B) {
	junk := bytes.Repeat([]byte{9<<3 | 3, 9<<3 | 4}, 16<<20)
	benchParse(b, grpcReq(pathPredict, cat(junk, spec(fName("resnet")))))
}

func BenchmarkParseGRPCMultiInference(b *testing.B) {
	msg := cat(
		taskField("tensorflow/serving/classify", fName("m"), fVersion(1), fSig("a")),
		taskField("tensorflow/serving/regress", fName("m"), fSig("b")),
		lenField(2, lenField(1)),
	)
	benchParse(b, grpcReq(pathMulti, msg))
}
