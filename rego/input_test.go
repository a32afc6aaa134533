package rego

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/util"

	"github.com/tfgate/tfgate/authz"
)

// jsonValue is the reference conversion: what a policy would see if the input
// went through encoding/json, as `opa eval --input` does.
func jsonValue(tb testing.TB, x *authz.Input) ast.Value {
	tb.Helper()
	b, err := json.Marshal(x)
	if err != nil {
		tb.Fatal(err)
	}
	var v any
	if err := util.UnmarshalJSON(b, &v); err != nil {
		tb.Fatal(err)
	}
	val, err := ast.InterfaceToValue(v)
	if err != nil {
		tb.Fatal(err)
	}
	return val
}

func TestInputValueMatchesJSON(t *testing.T) {
	tests := map[string]*authz.Input{
		"zero":         {},
		"anonymous":    in(nil, "predict", "m", anonymous),
		"nil groups":   in(nil, "predict", "m"),
		"empty groups": in([]string{}, "predict", "m"),
		"version":      in([]string{"a", "b"}, "predict", "m", version(3)),
		"version zero": in([]string{"a"}, "predict", "m", version(0)),
		"negative":     in([]string{"a"}, "predict", "m", version(-1)),
		"max version":  in([]string{"a"}, "predict", "m", version(1<<63-1)),
		"label":        in([]string{"a"}, "predict", "m", label("stable")),
		"empty label":  in([]string{"a"}, "predict", "m", label("")),
		"scope":        in([]string{"a"}, "predict", "m", scope("model:m", "model:n:predict")),
		"empty scope":  in([]string{"a"}, "predict", "m", func(x *authz.Input) { x.Subject.Scope = []string{} }),
		"method":       in([]string{"a"}, "multi_inference", "m", func(x *authz.Input) { x.Target.Method = "tensorflow/serving/classify" }),
		"zero time":    in([]string{"a"}, "predict", "m", func(x *authz.Input) { x.Subject.ExpiresAt = time.Time{} }),
		"zoned time": in([]string{"a"}, "predict", "m", func(x *authz.Input) {
			x.Subject.ExpiresAt = time.Date(2031, 5, 6, 7, 8, 9, 0, time.FixedZone("x", 5400))
		}),
		"invalid utf8":    in([]string{"a\xff"}, "predict", "res\xffnet\xfe\xfd", label("\xc3")),
		"html and quotes": in([]string{"<a&b>"}, "predict", `m"\`+"\u2028"),
		"grpc":            in([]string{"a"}, "predict", "m", func(x *authz.Input) { x.Request.Protocol = authz.ProtocolGRPC }),
	}
	for name, x := range tests {
		t.Run(name, func(t *testing.T) {
			got, want := inputValue(x), jsonValue(t, x)
			if got.Compare(want) != 0 {
				t.Errorf("inputValue =\n%v\nwant (JSON)\n%v", got, want)
			}
		})
	}
}

func TestInputValueNullVersusNumber(t *testing.T) {
	v := inputValue(in(nil, "predict", "m", version(0)))
	tgt := v.(ast.Object).Get(ast.StringTerm("target")).Value.(ast.Object)
	if _, ok := tgt.Get(ast.StringTerm("version")).Value.(ast.Number); !ok {
		t.Errorf("version 0 is %v, want the number 0", tgt.Get(ast.StringTerm("version")))
	}
	if _, ok := tgt.Get(ast.StringTerm("label")).Value.(ast.Null); !ok {
		t.Errorf("absent label is %v, want null", tgt.Get(ast.StringTerm("label")))
	}
}

// TestSubjectCacheGivesTheSameInput checks that a cached subject term is
// used only for an equal subject: every variation of a field must give the
// input a fresh conversion gives.
func TestSubjectCacheGivesTheSameInput(t *testing.T) {
	c := newSubjectCache()
	base := func() *authz.Input { return in([]string{"a", "b"}, "predict", "m", version(1)) }
	variants := []func(*authz.Input){
		func(x *authz.Input) {},
		func(x *authz.Input) { x.Subject.ID = "bob" },
		func(x *authz.Input) { x.Subject.Email = "bob@example.com" },
		func(x *authz.Input) { x.Subject.Groups = []string{"a"} },
		func(x *authz.Input) { x.Subject.Groups = []string{"b", "a"} },
		func(x *authz.Input) { x.Subject.Groups = nil },
		func(x *authz.Input) { x.Subject.Groups = []string{} },
		func(x *authz.Input) { x.Subject.IdP = "other" },
		func(x *authz.Input) { x.Subject.Auth = authz.AuthBearer },
		func(x *authz.Input) { x.Subject.Scope = []string{"model:m"} },
		func(x *authz.Input) { x.Subject.ExpiresAt = x.Subject.ExpiresAt.Add(1) },
		anonymous,
	}
	for round := range 2 { // the second round hits the cache
		for i, v := range variants {
			x := base()
			v(x)
			got, want := inputValueCached(x, c), inputValue(x)
			if got.Compare(want) != 0 {
				t.Errorf("round %d variant %d: cached input\n%v\nwant\n%v", round, i, got, want)
			}
		}
	}
	// The cache copies the slices: changing the caller's afterwards must
	// not change what a later equal subject gets.
	x := base()
	_ = inputValueCached(x, c)
	x.Subject.Groups[0] = "zzz"
	if got, want := inputValueCached(base(), c), inputValue(base()); got.Compare(want) != 0 {
		t.Errorf("after mutating the caller's groups: %v, want %v", got, want)
	}
}

// TestInputCachesGiveTheSameInput: a cached request or target term is used
// only for an equal request or target; every variation of a field gives
// what a fresh conversion gives, on a miss and on a hit.
func TestInputCachesGiveTheSameInput(t *testing.T) {
	c := newInputCaches()
	base := func() *authz.Input { return in([]string{"a"}, "predict", "m", version(1)) }
	variants := []func(*authz.Input){
		func(x *authz.Input) {},
		func(x *authz.Input) { x.Request.Method = "GET" },
		func(x *authz.Input) { x.Request.Path = "/v1/models/n:predict" },
		func(x *authz.Input) { x.Request.Host = "other" },
		func(x *authz.Input) { x.Request.Protocol = authz.ProtocolGRPC },
		func(x *authz.Input) { x.Target.API = "classify" },
		func(x *authz.Input) { x.Target.Model = "n" },
		func(x *authz.Input) { x.Target.Version = nil },
		func(x *authz.Input) { v := int64(0); x.Target.Version = &v },
		func(x *authz.Input) { v := int64(2); x.Target.Version = &v },
		func(x *authz.Input) { x.Target.Version = nil; l := "stable"; x.Target.Label = &l },
		func(x *authz.Input) { x.Target.Version = nil; l := ""; x.Target.Label = &l },
		func(x *authz.Input) { x.Target.Signature = "other" },
		func(x *authz.Input) { x.Target.Method = "tensorflow.serving.PredictionService/Predict" },
		func(x *authz.Input) { x.Target.Model = "bad\xff" },
		anonymous,
	}
	for round := range 2 {
		for i, v := range variants {
			x := base()
			v(x)
			if got, want := c.input(x), inputValue(x); got.Compare(want) != 0 {
				t.Errorf("round %d variant %d: cached input\n%v\nwant\n%v", round, i, got, want)
			}
		}
	}
	// The key is a copy: changing the caller's version afterwards must not
	// change what a later equal target gets.
	x := base()
	_ = c.input(x)
	*x.Target.Version = 7
	if got, want := c.input(base()), inputValue(base()); got.Compare(want) != 0 {
		t.Errorf("after mutating the caller's version: %v, want %v", got, want)
	}
}
