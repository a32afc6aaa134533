package tfserving

import (
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
)

// task is one tensorflow.serving.InferenceTask{model_spec=1, method_name=2}.
type task struct {
	spec   modelSpec
	method []byte
}

// multiInferenceTargets reads a MultiInferenceRequest (§5): one Target per
// task. TF Serving picks the servable from tasks[0].model_spec only, so
// every Target carries task 0's version or label; each keeps its own
// signature and method_name. All tasks must name the same, non-empty model.
func multiInferenceTargets(msg []byte) ([]Target, error) {
	var tasks []task
	budget := maxSpecBytes
	err := walkLen(msg, func(num protowire.Number, v []byte) error {
		if num != 1 { // tasks; each occurrence is a new element
			return nil
		}
		if len(tasks) == maxTasks {
			return fmt.Errorf("%w: over %d tasks", ErrTooLarge, maxTasks)
		}
		t, err := parseTask(v, &budget)
		tasks = append(tasks, t)
		return err
	})
	if err != nil {
		return nil, err
	}
	return taskTargets(tasks)
}

// parseTask reads one task, merging its own model_spec occurrences.
func parseTask(b []byte, budget *int) (task, error) {
	var t task
	err := walkLen(b, func(num protowire.Number, v []byte) error {
		switch num {
		case 1:
			if err := spend(budget, v); err != nil {
				return err
			}
			return t.spec.merge(v)
		case 2:
			return setString(&t.method, v)
		}
		return nil
	})
	return t, err
}

func taskTargets(tasks []task) ([]Target, error) {
	if len(tasks) == 0 {
		return nil, fmt.Errorf("%w: no tasks", ErrMultiInferenceMismatch)
	}
	ts := make([]Target, len(tasks))
	for i := range tasks {
		t, err := tasks[i].spec.target(MultiInference)
		if err != nil {
			return nil, fmt.Errorf("%w: task %d: %w", ErrMultiInferenceMismatch, i, err)
		}
		if i > 0 && t.Model != ts[0].Model {
			return nil, fmt.Errorf("%w: task %d names another model", ErrMultiInferenceMismatch, i)
		}
		if i > 0 {
			t.Model = ts[0].Model // share one string
			t.Version, t.HasVersion = ts[0].Version, ts[0].HasVersion
			t.Label, t.HasLabel = ts[0].Label, ts[0].HasLabel
		}
		t.Method = string(tasks[i].method)
		ts[i] = t
	}
	return ts, nil
}
