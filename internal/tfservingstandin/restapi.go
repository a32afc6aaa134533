package tfservingstandin

import (
	"bytes"
	"encoding/json"
	"slices"
	"strconv"
	"strings"

	"google.golang.org/grpc/codes"

	"github.com/tfgate/tfgate/internal/tfpb"
)

// jsonFloat prints like TF Serving's JSON writer: 3 becomes 3.0.
type jsonFloat float32

// MarshalJSON implements json.Marshaler.
func (f jsonFloat) MarshalJSON() ([]byte, error) {
	s := strconv.FormatFloat(float64(f), 'g', -1, 32)
	if !strings.ContainsAny(s, ".eEnN") {
		s += ".0"
	}
	return []byte(s), nil
}

// restBody is the union of the predict/classify/regress request documents.
type restBody struct {
	SignatureName string           `json:"signature_name"`
	Instances     json.RawMessage  `json:"instances"`
	Inputs        json.RawMessage  `json:"inputs"`
	Examples      []map[string]any `json:"examples"`
	Context       map[string]any   `json:"context"`
}

// restEndpoint runs one matched REST request and returns the JSON value
// and the version served.
func (s *Server) restEndpoint(req *restRequest) (any, int64, error) {
	switch req.verb {
	case "status":
		return s.statusJSON(req.spec)
	case "metadata":
		return s.metadataJSON(req.spec)
	}
	var body restBody
	dec := json.NewDecoder(bytes.NewReader(req.body))
	if err := dec.Decode(&body); err != nil {
		return nil, 0, apiErrorf(codes.InvalidArgument, "JSON Parse error: %v", err)
	}
	req.spec.Signature = body.SignatureName
	m, version, _, err := s.resolve(req.spec)
	if err != nil {
		return nil, 0, err
	}
	switch req.verb {
	case "predict":
		out, err := predictJSON(m, body)
		return out, version, err
	case "regress":
		xs, err := exampleXs(body.Examples, body.Context)
		return map[string]any{"results": floatsJSON(m.apply(xs))}, version, err
	default: // classify
		xs, err := exampleXs(body.Examples, body.Context)
		var res [][][2]any
		for _, y := range m.apply(xs) {
			res = append(res, [][2]any{{"", jsonFloat(y)}})
		}
		return map[string]any{"results": res}, version, err
	}
}

// predictJSON handles the row ("instances") and columnar ("inputs")
// formats for a model with one input "x" and one output "y".
func predictJSON(m *Model, body restBody) (any, error) {
	hasRows, hasCols := len(body.Instances) > 0, len(body.Inputs) > 0
	if hasRows == hasCols {
		return nil, apiErrorf(codes.InvalidArgument, "JSON Value: must have exactly one of 'instances' or 'inputs'")
	}
	if hasRows {
		var rows []json.RawMessage
		if err := json.Unmarshal(body.Instances, &rows); err != nil {
			return nil, apiErrorf(codes.InvalidArgument, "'instances' must be a list: %v", err)
		}
		xs := make([]float32, 0, len(rows))
		for _, r := range rows {
			x, err := instanceX(r)
			if err != nil {
				return nil, err
			}
			xs = append(xs, x)
		}
		return map[string]any{"predictions": floatsJSON(m.apply(xs))}, nil
	}
	var xs []float32
	if err := json.Unmarshal(body.Inputs, &xs); err != nil {
		var named map[string][]float32
		if err := json.Unmarshal(body.Inputs, &named); err != nil || named["x"] == nil {
			return nil, apiErrorf(codes.InvalidArgument, "'inputs' must be a list of numbers or {\"x\": [...]}")
		}
		xs = named["x"]
	}
	return map[string]any{"outputs": floatsJSON(m.apply(xs))}, nil
}

// instanceX reads one row: a number, or an object with a numeric "x".
func instanceX(raw json.RawMessage) (float32, error) {
	var x float32
	if err := json.Unmarshal(raw, &x); err == nil {
		return x, nil
	}
	var obj map[string]float32
	if err := json.Unmarshal(raw, &obj); err == nil {
		if x, ok := obj["x"]; ok {
			return x, nil
		}
	}
	return 0, apiErrorf(codes.InvalidArgument, "instance %s: expected a number or {\"x\": number}", raw)
}

// exampleXs reads feature "x" of each example, falling back to context.
func exampleXs(examples []map[string]any, context map[string]any) ([]float32, error) {
	xs := make([]float32, 0, len(examples))
	for i, ex := range examples {
		v, ok := ex["x"]
		if !ok {
			v, ok = context["x"]
		}
		x, isNum := v.(float64)
		if !ok || !isNum {
			return nil, apiErrorf(codes.InvalidArgument, "example %d: feature \"x\" must be a number", i)
		}
		xs = append(xs, float32(x))
	}
	return xs, nil
}

// floatsJSON converts ys for JSON output.
func floatsJSON(ys []float32) []jsonFloat {
	out := make([]jsonFloat, len(ys))
	for i, y := range ys {
		out[i] = jsonFloat(y)
	}
	return out
}

// statusJSON answers GET /v1/models/{m}[/versions/N|/labels/L]. A label is
// ignored (all versions), as in get_model_status_impl.cc.
func (s *Server) statusJSON(spec tfpb.ModelSpec) (any, int64, error) {
	statuses, err := s.modelStatus(spec)
	if err != nil {
		return nil, 0, err
	}
	var out []map[string]any
	for _, st := range statuses {
		out = append(out, map[string]any{
			"version": strconv.FormatInt(st.Version, 10),
			"state":   st.State.String(),
			"status":  map[string]string{"error_code": "OK", "error_message": ""},
		})
	}
	var served int64
	if spec.Version != nil {
		served = *spec.Version
	}
	return map[string]any{"model_version_status": out}, served, nil
}

// modelStatus lists the versions GetModelStatus reports, newest first.
func (s *Server) modelStatus(spec tfpb.ModelSpec) ([]tfpb.ModelVersionStatus, error) {
	m, ok := s.models[spec.Name]
	if !ok {
		return nil, apiErrorf(codes.NotFound, "Could not find any versions of model %s", spec.Name)
	}
	var out []tfpb.ModelVersionStatus
	for _, v := range slices.Backward(m.Versions) {
		if spec.Version == nil || *spec.Version == v {
			out = append(out, tfpb.ModelVersionStatus{Version: v, State: tfpb.StateAvailable})
		}
	}
	if len(out) == 0 {
		return nil, apiErrorf(codes.NotFound, "Could not find version %d of model %s", *spec.Version, spec.Name)
	}
	return out, nil
}

// metadataJSON answers GET .../metadata with the signature defs.
func (s *Server) metadataJSON(spec tfpb.ModelSpec) (any, int64, error) {
	spec.Signature = ""
	m, version, _, err := s.resolve(spec)
	if err != nil {
		return nil, 0, err
	}
	sigs := map[string]any{}
	for name, def := range signatureDefs(m) {
		sigs[name] = map[string]any{
			"inputs":      tensorInfoJSON(def.Inputs),
			"outputs":     tensorInfoJSON(def.Outputs),
			"method_name": def.MethodName,
		}
	}
	return map[string]any{
		"model_spec": map[string]string{"name": m.Name, "signature_name": "", "version": strconv.FormatInt(version, 10)},
		"metadata":   map[string]any{"signature_def": map[string]any{"signature_def": sigs}},
	}, version, nil
}

// tensorInfoJSON renders TensorInfos the way TF Serving's JSON does.
func tensorInfoJSON(in map[string]tfpb.TensorInfo) map[string]any {
	out := map[string]any{}
	for k, ti := range in {
		out[k] = map[string]any{
			"dtype":        dtypeNames[ti.DType],
			"tensor_shape": map[string]any{"dim": dimsJSON(ti.Shape), "unknown_rank": false},
			"name":         ti.Name,
		}
	}
	return out
}

// dtypeNames are the DataType enum names used in metadata JSON.
var dtypeNames = map[tfpb.DataType]string{
	tfpb.DTInvalid: "DT_INVALID", tfpb.DTFloat: "DT_FLOAT", tfpb.DTDouble: "DT_DOUBLE",
	tfpb.DTInt32: "DT_INT32", tfpb.DTString: "DT_STRING", tfpb.DTInt64: "DT_INT64",
}

// dimsJSON renders a shape's dims (int64 as strings, as proto JSON does).
func dimsJSON(shape []int64) []map[string]string {
	out := make([]map[string]string, len(shape))
	for i, d := range shape {
		out[i] = map[string]string{"size": strconv.FormatInt(d, 10), "name": ""}
	}
	return out
}

// signatureDefs describes a model's signatures: every one maps input "x"
// to output "y", with the method name its prefix implies.
func signatureDefs(m *Model) map[string]tfpb.SignatureDef {
	defs := make(map[string]tfpb.SignatureDef, len(m.Signatures))
	for _, name := range m.Signatures {
		method := "tensorflow/serving/predict"
		switch {
		case strings.HasPrefix(name, "classify"):
			method = tfpb.MethodNameClassify
		case strings.HasPrefix(name, "regress"):
			method = tfpb.MethodNameRegress
		}
		defs[name] = tfpb.SignatureDef{
			Inputs:     map[string]tfpb.TensorInfo{"x": {Name: "x:0", DType: tfpb.DTFloat, Shape: []int64{-1}}},
			Outputs:    map[string]tfpb.TensorInfo{"y": {Name: "y:0", DType: tfpb.DTFloat, Shape: []int64{-1}}},
			MethodName: method,
		}
	}
	return defs
}
