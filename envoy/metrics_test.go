package envoy

import (
	"context"
	"errors"
	"testing"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tfgate/tfgate/authz"
)

// scripted answers each Check with the next decision or error.
type scripted struct {
	answers []func() (*authz.Decision, error)
}

func (s *scripted) Check(context.Context, *authz.Request) (*authz.Decision, error) {
	a := s.answers[0]
	s.answers = s.answers[1:]
	return a()
}

func TestMetricsCountEveryOutcome(t *testing.T) {
	reg := prometheus.NewRegistry()
	deny := func(d authz.Denial) func() (*authz.Decision, error) {
		return func() (*authz.Decision, error) { return &authz.Decision{ID: "x", Denial: d}, nil }
	}
	checker := &scripted{answers: []func() (*authz.Decision, error){
		func() (*authz.Decision, error) { return &authz.Decision{ID: "x", Allow: true}, nil },
		func() (*authz.Decision, error) { return &authz.Decision{ID: "x", Allow: true}, nil },
		deny(authz.DenyUnauthenticated),
		deny(authz.DenyForbidden),
		deny(authz.DenyBadRequest),
		func() (*authz.Decision, error) { return nil, errors.New("redis down") },
	}}
	s, err := NewServer(Config{Checker: checker, Metrics: NewMetrics(reg)})
	if err != nil {
		t.Fatal(err)
	}
	for range len(checker.answers) {
		_, _ = s.Check(context.Background(), &authv3.CheckRequest{})
	}
	got := map[string]float64{}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			key := f.GetName()
			for _, l := range m.GetLabel() {
				key += " " + l.GetName() + "=" + l.GetValue()
			}
			switch {
			case m.GetCounter() != nil:
				got[key] = m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				got[key] = m.GetGauge().GetValue()
			case m.GetHistogram() != nil:
				got[key] = float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	want := map[string]float64{
		"tfgate_checks_total kind= result=allow":               2,
		"tfgate_checks_total kind= result=error":               1,
		"tfgate_checks_total kind=unauthenticated result=deny": 1,
		"tfgate_checks_total kind=forbidden result=deny":       1,
		"tfgate_checks_total kind=bad_request result=deny":     1,
		"tfgate_check_duration_seconds result=allow":           2,
		"tfgate_check_duration_seconds result=deny":            3,
		"tfgate_check_duration_seconds result=error":           1,
		"tfgate_checks_in_flight":                              0,
		"tfgate_decision_log_skipped_total":                    0,
		"tfgate_checks_shed_total reason=queue_full":           0,
		"tfgate_checks_shed_total reason=queue_timeout":        0,
		"tfgate_checks_shed_total reason=memory":               0,
	}
	if len(got) != len(want) {
		t.Errorf("series %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
}
