package rego

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	"github.com/tfgate/tfgate/authz"
)

// EvalInput evaluates one JSON input document (the shape documented in
// design.md: subject, request, target) with the policy in dir, or the
// embedded policy when dir is "", exactly as the running server would, for
// `extauthz policy eval`. Unknown fields in the input are an error
// (ErrInvalidInput), so a typo cannot silently test something else.
func EvalInput(ctx context.Context, dir string, input []byte) (authz.Verdict, error) {
	in, err := DecodeInput(input)
	if err != nil {
		return authz.Verdict{}, err
	}
	e, err := New(ctx, Config{Dir: dir})
	if err != nil {
		return authz.Verdict{}, err
	}
	return e.Evaluate(ctx, in)
}

// DecodeInput parses a JSON input document strictly: unknown fields and
// trailing data are errors wrapping ErrInvalidInput.
func DecodeInput(data []byte) (*authz.Input, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var in authz.Input
	if err := dec.Decode(&in); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidInput, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: trailing data after the input object", ErrInvalidInput)
	}
	// The shape: a missing request or target is a mistake in the input,
	// not a request for an unsupported API.
	var keys map[string]json.RawMessage
	_ = json.Unmarshal(data, &keys)
	for _, k := range []string{"request", "target"} {
		if _, ok := keys[k]; !ok {
			return nil, fmt.Errorf("%w: missing %q (an input has subject, request and target; see the README)", ErrInvalidInput, k)
		}
	}
	if in.Target.API == "" {
		return nil, fmt.Errorf("%w: target.api is empty", ErrInvalidInput)
	}
	return &in, nil
}
