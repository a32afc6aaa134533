package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tfgate/tfgate/authz"
	"github.com/tfgate/tfgate/rego"
)

// policyParts is the policy in force, where it comes from, and the shadow
// candidate, wired from PolicyConfig.
type policyParts struct {
	*rego.Evaluator
	cfg    PolicyConfig
	bundle *rego.BundleSource // nil unless policy.bundle.url is set
	shadow *authz.Shadow      // nil unless policy.shadow.policy is set
	// candidate is the shadow policy's own bundle source, if it has one.
	candidate *rego.BundleSource
}

func newPolicy(ctx context.Context, cfg PolicyConfig, log *slog.Logger) (*policyParts, error) {
	p := &policyParts{cfg: cfg}
	ecfg := rego.Config{Dir: cfg.Dir, PollInterval: cfg.ReloadInterval, DecisionCacheEntries: cacheEntries(cfg.DecisionCacheEntries), Engine: cfg.Engine}
	var err error
	if cfg.Bundle.URL != "" {
		bcfg, verr := bundleConfig(cfg.Bundle, cfg.Bundle.URL)
		if verr != nil {
			return nil, verr
		}
		p.Evaluator, p.bundle, err = rego.NewBundle(ctx, ecfg, bcfg)
	} else {
		p.Evaluator, err = rego.New(ctx, ecfg)
	}
	if err != nil {
		return nil, fmt.Errorf("loading policy: %w", err)
	}
	if cfg.Shadow.Policy != "" {
		var cand *rego.Evaluator
		if strings.Contains(cfg.Shadow.Policy, "://") {
			bcfg, verr := bundleConfig(cfg.Bundle, cfg.Shadow.Policy)
			if verr != nil {
				return nil, verr
			}
			cand, p.candidate, err = rego.NewBundle(ctx, rego.Config{DecisionCacheEntries: ecfg.DecisionCacheEntries, Engine: ecfg.Engine}, bcfg)
		} else {
			var v rego.Verification
			if v, err = verification(cfg.Bundle.Verification); err == nil {
				cand, err = rego.Load(ctx, cfg.Shadow.Policy, v, ecfg.DecisionCacheEntries)
			}
		}
		if err != nil {
			return nil, fmt.Errorf("loading the shadow policy: %w", err)
		}
		p.shadow = authz.NewShadow(authz.ShadowConfig{Candidate: cand, QueueSize: cfg.Shadow.QueueSize, Log: log.With("shadow_policy", cfg.Shadow.Policy)})
	}
	return p, nil
}

// observer is the Shadow for envoy.Config, or a nil interface.
func (p *policyParts) observer() interface{ Observe(authz.DecisionRecord) } {
	if p.shadow == nil {
		return nil
	}
	return p.shadow
}

// run keeps the policy current (directory watch or bundle polling) and
// runs the shadow candidate, until ctx is done.
func (p *policyParts) run(ctx context.Context, log *slog.Logger) error {
	done := make(chan error, 3)
	n := 0
	start := func(f func() error) { n++; go func() { done <- f() }() }
	switch {
	case p.bundle != nil:
		start(func() error { return p.bundle.Run(ctx, log) })
	case p.cfg.Dir != "" && p.cfg.ReloadInterval > 0:
		start(func() error { return p.Watch(ctx, log) })
	}
	if p.shadow != nil {
		start(func() error { return p.shadow.Run(ctx) })
	}
	if p.candidate != nil {
		start(func() error { return p.candidate.Run(ctx, log.With("shadow", true)) })
	}
	var first error
	for range n {
		if err := <-done; err != nil && first == nil {
			first = err
		}
	}
	<-ctx.Done()
	return first
}

// BundleStatus is the bundle source's state for /statusz (ok false when
// the policy does not come from a bundle).
func (p *policyParts) BundleStatus() (rego.BundleStatus, bool) {
	if p.bundle == nil {
		return rego.BundleStatus{}, false
	}
	return p.bundle.Status(), true
}

func verification(v BundleVerification) (rego.Verification, error) {
	out := rego.Verification{KeyID: v.KeyID, Scope: v.Scope}
	for id, k := range v.Keys {
		key := k.Key
		if k.KeyFile != "" {
			b, err := os.ReadFile(k.KeyFile)
			if err != nil {
				return out, fmt.Errorf("policy.bundle.verification.keys.%s: %w", id, err)
			}
			key = string(b)
		}
		if out.Keys == nil {
			out.Keys = map[string]rego.VerificationKey{}
		}
		out.Keys[id] = rego.VerificationKey{Key: key, Algorithm: k.Algorithm}
	}
	return out, nil
}

func bundleConfig(c BundleConfig, url string) (rego.BundleConfig, error) {
	v, err := verification(c.Verification)
	if err != nil {
		return rego.BundleConfig{}, err
	}
	h := http.Header{}
	for k, val := range c.Headers {
		h.Set(k, val)
	}
	return rego.BundleConfig{URL: url, PollInterval: c.PollInterval, Verification: v, Header: h}, nil
}

// bundleCollector exports the bundle source's health and the shadow
// policy's counters (observe.go's policyCollector the revision in force).
type bundleCollector struct{ p *policyParts }

// source names where the policy in force comes from: bundle, dir or
// embedded.
func (p *policyParts) source() string {
	switch {
	case p.bundle != nil:
		return "bundle"
	case p.cfg.Dir != "":
		return "dir"
	}
	return "embedded"
}

var (
	descBundleFailures = prometheus.NewDesc("tfgate_policy_bundle_failures_total", "Bundle checks that failed to download, verify or compile (the last good bundle stayed).", nil, nil)
	descBundleInstalls = prometheus.NewDesc("tfgate_policy_bundle_installs_total", "Bundle revisions installed, the first included.", nil, nil)
	descBundleSuccess  = prometheus.NewDesc("tfgate_policy_bundle_last_success_timestamp_seconds", "When the bundle was last found current or installed.", nil, nil)
	descShadowFlips    = prometheus.NewDesc("tfgate_policy_shadow_disagreements_total", "Decisions the shadow policy would answer differently, by direction.", []string{"direction"}, nil)
	descShadowDone     = prometheus.NewDesc("tfgate_policy_shadow_evaluated_total", "Decisions the shadow policy evaluated.", nil, nil)
	descShadowDropped  = prometheus.NewDesc("tfgate_policy_shadow_dropped_total", "Decisions not evaluated by the shadow policy because its queue was full.", nil, nil)
	descShadowErrors   = prometheus.NewDesc("tfgate_policy_shadow_errors_total", "Decisions the shadow policy could not decide.", nil, nil)
)

func (c bundleCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descBundleFailures, descBundleInstalls, descBundleSuccess, descShadowFlips, descShadowDone, descShadowDropped, descShadowErrors} {
		ch <- d
	}
}

func (c bundleCollector) Collect(ch chan<- prometheus.Metric) {
	p := c.p
	if p.bundle != nil {
		st := p.bundle.Status()
		ch <- prometheus.MustNewConstMetric(descBundleFailures, prometheus.CounterValue, float64(st.Failures))
		ch <- prometheus.MustNewConstMetric(descBundleInstalls, prometheus.CounterValue, float64(st.Installs))
		ch <- prometheus.MustNewConstMetric(descBundleSuccess, prometheus.GaugeValue, float64(st.LastSuccess.UnixNano())/1e9)
	}
	if p.shadow != nil {
		st := p.shadow.Stats()
		ch <- prometheus.MustNewConstMetric(descShadowFlips, prometheus.CounterValue, float64(st.AllowToDeny), authz.AllowToDeny)
		ch <- prometheus.MustNewConstMetric(descShadowFlips, prometheus.CounterValue, float64(st.DenyToAllow), authz.DenyToAllow)
		ch <- prometheus.MustNewConstMetric(descShadowDone, prometheus.CounterValue, float64(st.Evaluated))
		ch <- prometheus.MustNewConstMetric(descShadowDropped, prometheus.CounterValue, float64(st.Dropped))
		ch <- prometheus.MustNewConstMetric(descShadowErrors, prometheus.CounterValue, float64(st.Errors))
	}
}
