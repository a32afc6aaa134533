package tfpb

import "fmt"

// Signature method names accepted by MultiInference tasks.
const (
	MethodNameClassify = "tensorflow/serving/classify"
	MethodNameRegress  = "tensorflow/serving/regress"
)

// Example is the float subset of tensorflow.Example: feature name → the
// values of its float_list. It is encoded as Example{features=1
// Features{feature=1 map<string, Feature{float_list=2 FloatList{value=1}}>}}.
type Example map[string][]float32

// Class is tensorflow.serving.Class{label=1, score=2}.
type Class struct {
	Label string
	Score float32
}

// InferenceTask is tensorflow.serving.InferenceTask{model_spec=1,
// method_name=2}.
type InferenceTask struct {
	Spec       ModelSpec
	MethodName string
}

// InferenceResult is one MultiInferenceResponse result. Exactly one of
// Classifications and Regressions is meant to be non-nil.
type InferenceResult struct {
	Spec            ModelSpec
	Classifications [][]Class
	Regressions     []float32
}

// ClassificationRequest encodes a ClassificationRequest (model_spec=1,
// input=2 as an ExampleList).
func ClassificationRequest(spec ModelSpec, examples ...Example) []byte {
	return appendInput(appendSpec(nil, 1, spec), 2, examples)
}

// RegressionRequest encodes a RegressionRequest; it has the same shape as
// ClassificationRequest.
func RegressionRequest(spec ModelSpec, examples ...Example) []byte {
	return ClassificationRequest(spec, examples...)
}

// ParseInferenceRequest decodes a ClassificationRequest or RegressionRequest
// (model_spec=1, input=2). Examples of an ExampleListWithContext are
// returned with the context features merged in.
func ParseInferenceRequest(b []byte) (spec ModelSpec, hasSpec bool, examples []Example, err error) {
	spec, hasSpec, err = specAt(b, 1)
	if err == nil {
		examples, err = inputAt(b, 2)
	}
	if err != nil {
		return ModelSpec{}, false, nil, fmt.Errorf("parsing inference request: %w", err)
	}
	return spec, hasSpec, examples, nil
}

// RegressionResponse encodes a RegressionResponse (result=1
// RegressionResult{regressions=1 Regression{value=1}}, model_spec=2).
func RegressionResponse(spec ModelSpec, values []float32) []byte {
	return appendSpec(appendMessage(nil, 1, marshalRegressions(values)), 2, spec)
}

// ParseRegressionResponse decodes a RegressionResponse.
func ParseRegressionResponse(b []byte) (ModelSpec, []float32, error) {
	spec, _, err := specAt(b, 2)
	if err != nil {
		return ModelSpec{}, nil, err
	}
	res, _, err := messageField(b, 1)
	if err != nil {
		return ModelSpec{}, nil, err
	}
	vs, err := parseRegressions(res)
	return spec, vs, err
}

// ClassificationResponse encodes a ClassificationResponse (result=1
// ClassificationResult{classifications=1 Classifications{classes=1}},
// model_spec=2); one []Class per example.
func ClassificationResponse(spec ModelSpec, classes [][]Class) []byte {
	return appendSpec(appendMessage(nil, 1, marshalClassifications(classes)), 2, spec)
}

// ParseClassificationResponse decodes a ClassificationResponse.
func ParseClassificationResponse(b []byte) (ModelSpec, [][]Class, error) {
	spec, _, err := specAt(b, 2)
	if err != nil {
		return ModelSpec{}, nil, err
	}
	res, _, err := messageField(b, 1)
	if err != nil {
		return ModelSpec{}, nil, err
	}
	cs, err := parseClassifications(res)
	return spec, cs, err
}

// MultiInferenceRequest encodes a MultiInferenceRequest (tasks=1,
// input=2).
func MultiInferenceRequest(tasks []InferenceTask, examples ...Example) []byte {
	var b []byte
	for _, t := range tasks {
		m := appendSpec(nil, 1, t.Spec)
		m = appendString(m, 2, t.MethodName)
		b = appendMessage(b, 1, m)
	}
	return appendInput(b, 2, examples)
}

// ParseMultiInferenceRequest decodes a MultiInferenceRequest. Each
// top-level task is separate (repeated field); within a task, repeated
// model_spec occurrences merge.
func ParseMultiInferenceRequest(b []byte) ([]InferenceTask, []Example, error) {
	var tasks []InferenceTask
	err := walk(b, func(f field) error {
		if !f.isBytes(1) {
			return nil
		}
		var t InferenceTask
		var err error
		t.Spec, _, err = specAt(f.b, 1)
		if err != nil {
			return err
		}
		err = walk(f.b, func(g field) error {
			if g.isBytes(2) {
				t.MethodName, err = g.str()
			}
			return err
		})
		tasks = append(tasks, t)
		return err
	})
	if err != nil {
		return nil, nil, fmt.Errorf("parsing MultiInferenceRequest: %w", err)
	}
	examples, err := inputAt(b, 2)
	if err != nil {
		return nil, nil, fmt.Errorf("parsing MultiInferenceRequest input: %w", err)
	}
	return tasks, examples, nil
}

// MultiInferenceResponse encodes a MultiInferenceResponse (results=1
// InferenceResult{model_spec=1, classification_result=2,
// regression_result=3}).
func MultiInferenceResponse(results []InferenceResult) []byte {
	var b []byte
	for _, r := range results {
		m := appendSpec(nil, 1, r.Spec)
		if r.Classifications != nil {
			m = appendMessage(m, 2, marshalClassifications(r.Classifications))
		} else {
			m = appendMessage(m, 3, marshalRegressions(r.Regressions))
		}
		b = appendMessage(b, 1, m)
	}
	return b
}

// ParseMultiInferenceResponse decodes a MultiInferenceResponse.
func ParseMultiInferenceResponse(b []byte) ([]InferenceResult, error) {
	var out []InferenceResult
	err := walk(b, func(f field) error {
		if !f.isBytes(1) {
			return nil
		}
		var r InferenceResult
		var err error
		if r.Spec, _, err = specAt(f.b, 1); err != nil {
			return err
		}
		err = walk(f.b, func(g field) error {
			var err error
			switch {
			case g.isBytes(2):
				r.Classifications, err = parseClassifications(g.b)
			case g.isBytes(3):
				r.Regressions, err = parseRegressions(g.b)
			}
			return err
		})
		out = append(out, r)
		return err
	})
	return out, err
}
