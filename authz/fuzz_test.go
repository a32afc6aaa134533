package authz

import (
	"context"
	"net/http"
	"testing"
)

// FuzzCheck drives the whole pipeline with hostile requests: any path,
// body, cookie and Authorization header. The policy allows only model "m"
// to group "ml", so whatever the parser and credential code make of the
// bytes, an allow must name only model "m" and a signed-in subject.
func FuzzCheck(f *testing.F) {
	f.Add("POST", "/v1/models/m:predict", []byte(nil), false, "Bearer good", "")
	f.Add("POST", "/tensorflow.serving.PredictionService/Predict", grpcPredict("m", "x"), true, "", "__Host-tfgate=good")
	f.Add("POST", "/tensorflow.serving.PredictionService/MultiInference", multiInference("a", "secret"), true, "Bearer good", "")
	f.Add("GET", "/V1/MODELS/%6D", []byte(nil), false, "bearer good", "a=b")
	store := &fakeStore{sessions: map[string]Session{"good": session("ml")}}
	f.Fuzz(func(t *testing.T, method, path string, body []byte, grpc bool, auth, cookie string) {
		a := newTestAuthorizer(t, store, &fakePolicy{})
		h := http.Header{}
		if auth != "" {
			h.Set("Authorization", auth)
		}
		if cookie != "" {
			h.Set("Cookie", cookie)
		}
		d, err := a.Check(context.Background(), &Request{Method: method, Path: path, Body: body, GRPC: grpc, Header: h})
		if err != nil {
			t.Fatalf("the fake store and policy cannot fail, got %v", err)
		}
		if !d.Allow {
			return
		}
		if len(d.Targets) == 0 {
			t.Fatal("allowed with no target")
		}
		for _, tg := range d.Targets {
			if tg.Model != "m" && tg.API != "cors_preflight" {
				t.Fatalf("allowed target %+v", tg)
			}
		}
		if d.Subject == nil && d.Targets[0].API != "cors_preflight" {
			t.Fatal("allowed a model call without a subject")
		}
	})
}
