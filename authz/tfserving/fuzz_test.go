package tfserving

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
)

// Errors are expected from every fuzz target; what is checked is that
// nothing panics or hangs, that an error never comes with targets, and,
// for the differential targets, that the answer is the reference's.

var restSeeds = []string{
	"/v1/models/resnet:predict", "/v1/models/m/versions/007:classify", "/V1/MODELS/m/LABELS/x:regress",
	"/v1/models/res%6Eet:predict", "/v1/models/m?a=b:predict", "/v1/models/m:PREDICT", "/v1/models/m:predict?x=1",
	"/v1/models/m", "/v1/models/m/metadata", "/v1/models/m/labels/l/metadata", "/v1/models/m/METADATA",
	"/v1/models/labels/metadata", "/v1/models", "/v1/models/m?x=1", "/v1/model\u017f/m/ver\u017fions/1",
	"/v1/models/m/versions/9223372036854775808", "/v1/models/a%2Fb%zz%4", "/monitoring/prometheus/metrics",
}

func FuzzParseREST(f *testing.F) {
	bodies := []string{"", `{"signature_name":"s","instances":[1,NaN]}`, `{"a":{"signature_name":1}}`, `[]`, `{"signature_name":"a","signature_name":"b"}`}
	for i, p := range restSeeds {
		f.Add("POST", p, []byte(bodies[i%len(bodies)]), i%7 == 0)
		f.Add("GET", p, []byte(nil), false)
	}
	f.Add("OPTIONS", "/v1/x", []byte(nil), false)
	f.Fuzz(func(t *testing.T, method, path string, body []byte, partial bool) {
		got, err := Parse(Request{Method: method, Path: path, Body: body, PartialBody: partial})
		checkInvariants(t, got, err)
		if err != nil && (method != "POST" || len(body) == 0) {
			t.Fatalf("error without a body to blame: %v", err)
		}
	})
}

func FuzzRESTDifferential(f *testing.F) {
	for _, p := range restSeeds {
		for _, m := range []string{"GET", "POST"} {
			f.Add(m, p)
		}
	}
	f.Fuzz(func(t *testing.T, method, path string) {
		compareREST(t, method, path)
	})
}

func FuzzJSONSignature(f *testing.F) {
	for _, s := range []string{
		`{}`, `{"signature_name":"s"}`, `{"instances":[[1,2],[3,4]],"signature_name":"caf\u00e9"}`,
		`{"inputs":{"a":{"b64":"AA=="}},"signature_name":"\ud83d\ude00"}`, `{"a":[NaN,-Infinity,1e-5,true,null]}`,
		`{"signature_name":"a","signature\u005fname":"b"}`, `{"signature_name":1}`, ` [ ] `, `{"a":"\u0000"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(compareJSON)
}

// compareJSON checks jsonSignature against encoding/json, which has the
// same grammar as rapidjson except NaN and Infinity.
func compareJSON(t *testing.T, body []byte) {
	sig, err := jsonSignature(body)
	valid := json.Valid(body)
	switch {
	case err == nil && !valid:
		if !bytes.Contains(body, []byte("NaN")) && !bytes.Contains(body, []byte("Inf")) {
			t.Fatalf("accepted invalid JSON %q", body)
		}
	case err == nil:
		var m map[string]json.RawMessage
		if e := json.Unmarshal(body, &m); e != nil {
			t.Fatalf("accepted %q, which is no JSON object: %v", body, e)
		}
		want := DefaultSignature
		if raw, ok := m["signature_name"]; ok {
			var s string
			if e := json.Unmarshal(raw, &s); e != nil {
				t.Fatalf("accepted a non-string signature in %q", body)
			}
			want = orDefault(s)
		}
		if sig != want {
			t.Fatalf("signature of %q = %q, want %q", body, sig, want)
		}
	case valid:
		// Valid JSON may still be refused, but only for these reasons.
		for _, ok := range []error{errJSONNotObj, errJSONDupSig, errJSONSigType, errJSONSigUTF8, errJSONTooDeep, errJSONEscape} {
			if errors.Is(err, ok) {
				return
			}
		}
		t.Fatalf("refused valid JSON %q: %v", body, err)
	}
}

var grpcSeedPaths = []string{pathPredict, pathMulti, pathStatus, pathMetadata,
	"/tensorflow.serving.SessionService/SessionRun", "/tensorflow.ProfilerService/Profile", "/x"}

func FuzzParseGRPC(f *testing.F) {
	msgs := [][]byte{
		spec(fName("m"), fVersion(3), fSig("s")),
		cat(spec(fName("a"), fLabel("l")), lenField(2, strField(1, "x")), spec(fName("b"), lenField(2))),
		cat(taskField("tensorflow/serving/classify", fName("m"), fVersion(1)), taskField("r", fName("m"))),
		cat(groupField(5, varintField(1, 1)), spec(fName("m")), fixed32Field(9, 1)),
	}
	for i, m := range msgs {
		for j, p := range grpcSeedPaths {
			f.Add(uint8(j), p, frame(m), i == 0 && j == 0)
		}
	}
	f.Fuzz(func(t *testing.T, pick uint8, path string, body []byte, partial bool) {
		if int(pick) < len(grpcSeedPaths) {
			path = grpcSeedPaths[pick] // most inputs should reach the decoders
		}
		got, err := Parse(Request{Method: "POST", Path: path, GRPC: true, Body: body, PartialBody: partial})
		checkInvariants(t, got, err)
	})
}

func protoSeeds(f *testing.F) {
	f.Add([]byte{})
	f.Add(spec(fName("m"), fVersion(-1), fLabel("x"), lenField(2)))
	f.Add(cat(spec(fName("m"), fSig("s")), varintField(1, 1), spec(fLabel("l")), groupField(3, fName("x"))))
	f.Add(cat(taskField("c", fName("m"), fVersion(1)), taskField("r", fName("m"), fSig("s")), lenField(2)))
	f.Add(cat(lenField(1, spec(fName("m")), spec(fVersion(4)), strField(2, "c"))))
}

func FuzzPredictDifferential(f *testing.F) {
	protoSeeds(f)
	f.Fuzz(func(t *testing.T, msg []byte) { comparePredict(t, msg) })
}

func FuzzMultiInferenceDifferential(f *testing.F) {
	protoSeeds(f)
	f.Fuzz(func(t *testing.T, msg []byte) { compareMulti(t, msg) })
}
