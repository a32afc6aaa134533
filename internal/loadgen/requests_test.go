package loadgen_test

import (
	"testing"

	"github.com/tfgate/tfgate/authz/tfserving"
	"github.com/tfgate/tfgate/envoy"
	"github.com/tfgate/tfgate/internal/loadgen"
)

// TestRequestsParse checks the benchmark's requests the way tfgate reads
// them: envoy.NewRequest, then the TF Serving parser. The smoke tests then
// check the whole decision.
func TestRequestsParse(t *testing.T) {
	body := loadgen.PredictBody()
	if n := len(body); n < 5+4*loadgen.TensorFloats || n > 5+4*loadgen.TensorFloats+64 {
		t.Errorf("PredictBody is %d bytes, want a ~1 KiB tensor plus framing", n)
	}
	cases := map[string]struct {
		grpc bool
		tok  string
	}{
		"rest bearer": {false, "tfg_tok"}, "rest anonymous": {false, ""},
		"grpc bearer": {true, "tfg_tok"}, "grpc anonymous": {true, ""},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			cr := loadgen.RESTPredict(tc.tok, 3)
			if tc.grpc {
				cr = loadgen.GRPCPredict(tc.tok, body, 3)
			}
			h := cr.GetAttributes().GetRequest().GetHttp()
			for _, k := range []string{":authority", ":method", ":path", ":scheme", "x-request-id", "x-forwarded-proto"} {
				if h.GetHeaders()[k] == "" {
					t.Errorf("no %s header: Envoy always sends it", k)
				}
			}
			r := envoy.NewRequest(cr)
			if r.GRPC != tc.grpc {
				t.Errorf("GRPC = %v, want %v", r.GRPC, tc.grpc)
			}
			if got, want := r.Header.Get("Authorization"), bearer(tc.tok); got != want {
				t.Errorf("Authorization %q, want %q", got, want)
			}
			targets, err := tfserving.Parse(tfserving.Request{Method: r.Method, Path: r.Path, GRPC: r.GRPC, Body: r.Body})
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if len(targets) != 1 || targets[0].Model != loadgen.Model || targets[0].API != tfserving.Predict {
				t.Errorf("targets %+v, want predict on %s", targets, loadgen.Model)
			}
		})
	}
	a, b := loadgen.RESTPredict("", 0), loadgen.RESTPredict("", 1)
	if a.GetAttributes().GetRequest().GetHttp().GetHeaders()["x-request-id"] == b.GetAttributes().GetRequest().GetHttp().GetHeaders()["x-request-id"] {
		t.Error("two requests share an x-request-id")
	}
}

func bearer(tok string) string {
	if tok == "" {
		return ""
	}
	return "Bearer " + tok
}
