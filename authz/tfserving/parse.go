package tfserving

// Parse returns what r asks TF Serving for. It returns at least one Target
// when err is nil: one per MultiInference task, else exactly one. A non-nil
// error wraps one of the package's sentinel errors and means the request is
// malformed and must be denied.
func Parse(r Request) ([]Target, error) {
	if r.GRPC {
		return parseGRPC(r)
	}
	return parseREST(r)
}

// one wraps a single target; most requests have exactly one.
func one(t Target) ([]Target, error) {
	return []Target{t}, nil
}
