package tfpb

import (
	"errors"
	"reflect"
	"testing"

	"google.golang.org/grpc/mem"
)

func TestPredictRoundTrip(t *testing.T) {
	spec := ModelSpec{Name: "half_plus_two", Version: V(2)}
	req := PredictRequest(spec, map[string][]float32{"x": {1, 2, 5}})
	got, ok, in, err := ParsePredictRequest(req)
	if err != nil || !ok || !specEqual(got, spec) {
		t.Fatalf("ParsePredictRequest spec = %+v, %v, %v", show(got), ok, err)
	}
	want := map[string]Tensor{"x": {DType: DTFloat, Shape: []int64{3}, Floats: []float32{1, 2, 5}}}
	if !reflect.DeepEqual(in, want) {
		t.Fatalf("inputs = %+v, want %+v", in, want)
	}

	resp := PredictResponse(spec, map[string]Tensor{"y": FloatTensor(2.5, 3, 4.5)})
	floats, err := PredictResponseFloats(resp)
	if err != nil || !reflect.DeepEqual(floats, map[string][]float32{"y": {2.5, 3, 4.5}}) {
		t.Fatalf("PredictResponseFloats = %v, %v", floats, err)
	}
	rspec, _, err := ParsePredictResponse(resp)
	if err != nil || !specEqual(rspec, spec) {
		t.Fatalf("response spec = %+v, %v", show(rspec), err)
	}
}

func TestParseTensorForms(t *testing.T) {
	tests := map[string]struct {
		in   []byte
		want []float32
	}{
		"packed":   {in: FloatTensor(1, 2).Marshal(), want: []float32{1, 2}},
		"unpacked": {in: wb(vint(1, 1), fixed32(5, 0x3f800000), fixed32(5, 0x40000000)), want: []float32{1, 2}},
		"tensor_content": {
			in:   wb(vint(1, 1), msg(4, []byte{0, 0, 0x80, 0x3f, 0, 0, 0, 0x40})),
			want: []float32{1, 2},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := ParseTensor(tc.in)
			if err != nil || !reflect.DeepEqual(got.Floats, tc.want) {
				t.Fatalf("ParseTensor = %+v, %v; want floats %v", got, err, tc.want)
			}
		})
	}
}

func TestMetadataRoundTrip(t *testing.T) {
	spec := ModelSpec{Name: "m", Version: V(1)}
	req := GetModelMetadataRequest(spec, "signature_def")
	got, ok, fields, err := ParseGetModelMetadataRequest(req)
	if err != nil || !ok || !specEqual(got, spec) || !reflect.DeepEqual(fields, []string{"signature_def"}) {
		t.Fatalf("ParseGetModelMetadataRequest = %+v %v %v %v", show(got), ok, fields, err)
	}
	sigs := map[string]SignatureDef{"serving_default": {
		Inputs:     map[string]TensorInfo{"x": {Name: "x:0", DType: DTFloat, Shape: []int64{-1}}},
		Outputs:    map[string]TensorInfo{"y": {Name: "y:0", DType: DTFloat, Shape: []int64{-1}}},
		MethodName: "tensorflow/serving/predict",
	}}
	rspec, rsigs, err := ParseGetModelMetadataResponse(GetModelMetadataResponse(spec, sigs))
	if err != nil || !specEqual(rspec, spec) || !reflect.DeepEqual(rsigs, sigs) {
		t.Fatalf("ParseGetModelMetadataResponse = %+v %+v %v", show(rspec), rsigs, err)
	}
}

func TestStatusRoundTrip(t *testing.T) {
	in := []ModelVersionStatus{
		{Version: 2, State: StateAvailable},
		{Version: 1, State: StateEnd, ErrorCode: 5, ErrorMessage: "gone"},
	}
	got, err := ParseGetModelStatusResponse(GetModelStatusResponse(in))
	if err != nil || !reflect.DeepEqual(got, in) {
		t.Fatalf("got %+v, %v", got, err)
	}
	spec, ok, err := RequestModelSpec(GetModelStatusRequest(ModelSpec{Name: "m"}))
	if err != nil || !ok || spec.Name != "m" {
		t.Fatalf("GetModelStatusRequest spec = %+v %v %v", spec, ok, err)
	}
}

func TestInferenceRoundTrip(t *testing.T) {
	spec := ModelSpec{Name: "m", Signature: "regress_x_to_y"}
	exs := []Example{{"x": {1}}, {"x": {2}}}
	got, ok, gotEx, err := ParseInferenceRequest(RegressionRequest(spec, exs...))
	if err != nil || !ok || !specEqual(got, spec) || !reflect.DeepEqual(gotEx, exs) {
		t.Fatalf("ParseInferenceRequest = %+v %v %v %v", show(got), ok, gotEx, err)
	}
	_, vs, err := ParseRegressionResponse(RegressionResponse(spec, []float32{2.5, 3}))
	if err != nil || !reflect.DeepEqual(vs, []float32{2.5, 3}) {
		t.Fatalf("ParseRegressionResponse = %v %v", vs, err)
	}
	classes := [][]Class{{{Label: "a", Score: 0.5}}, {{Score: 3}}}
	_, cs, err := ParseClassificationResponse(ClassificationResponse(spec, classes))
	if err != nil || !reflect.DeepEqual(cs, classes) {
		t.Fatalf("ParseClassificationResponse = %v %v", cs, err)
	}

	tasks := []InferenceTask{
		{Spec: ModelSpec{Name: "m", Label: L("stable"), Signature: "c"}, MethodName: MethodNameClassify},
		{Spec: ModelSpec{Name: "m", Signature: "r"}, MethodName: MethodNameRegress},
	}
	gotTasks, gotEx, err := ParseMultiInferenceRequest(MultiInferenceRequest(tasks, exs...))
	if err != nil || len(gotTasks) != 2 || !specEqual(gotTasks[0].Spec, tasks[0].Spec) ||
		gotTasks[1].MethodName != MethodNameRegress || !reflect.DeepEqual(gotEx, exs) {
		t.Fatalf("ParseMultiInferenceRequest = %+v %v %v", gotTasks, gotEx, err)
	}
	results := []InferenceResult{{Spec: spec, Classifications: classes}, {Spec: spec, Regressions: []float32{1}}}
	gotRes, err := ParseMultiInferenceResponse(MultiInferenceResponse(results))
	if err != nil || !reflect.DeepEqual(gotRes[0].Classifications, classes) || !reflect.DeepEqual(gotRes[1].Regressions, []float32{1}) {
		t.Fatalf("ParseMultiInferenceResponse = %+v %v", gotRes, err)
	}
}

func TestParseFrame(t *testing.T) {
	tests := map[string]struct {
		in      []byte
		msg     string
		gzipped bool
		err     error
	}{
		"ok":         {in: Frame([]byte("abc")), msg: "abc"},
		"empty":      {in: Frame(nil), msg: ""},
		"compressed": {in: append([]byte{1, 0, 0, 0, 1}, 'z'), msg: "z", gzipped: true},
		"short":      {in: []byte{0, 0, 0}, err: ErrFrame},
		"truncated":  {in: Frame([]byte("abc"))[:6], err: ErrFrame},
		"trailing":   {in: append(Frame([]byte("abc")), 'x'), err: ErrFrame},
		"bad flag":   {in: []byte{2, 0, 0, 0, 0}, err: ErrFrame},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c, m, err := ParseFrame(tc.in)
			if !errors.Is(err, tc.err) || (err == nil && (string(m) != tc.msg || c != tc.gzipped)) {
				t.Fatalf("ParseFrame = %v %q %v", c, m, err)
			}
		})
	}
}

func TestCodec(t *testing.T) {
	var c Codec
	for name, v := range map[string]any{"slice": []byte("hi"), "pointer": &[]byte{'h', 'i'}} {
		data, err := c.Marshal(v)
		if err != nil || string(data.Materialize()) != "hi" {
			t.Fatalf("%s: Marshal = %q, %v", name, data.Materialize(), err)
		}
	}
	if _, err := c.Marshal("no"); !errors.Is(err, ErrCodecType) {
		t.Fatalf("Marshal(string) err = %v", err)
	}
	var out []byte
	if err := c.Unmarshal(mem.BufferSlice{mem.SliceBuffer("raw")}, &out); err != nil || string(out) != "raw" {
		t.Fatalf("Unmarshal = %q, %v", out, err)
	}
	if err := c.Unmarshal(nil, out); !errors.Is(err, ErrCodecType) {
		t.Fatalf("Unmarshal([]byte) err = %v", err)
	}
}
