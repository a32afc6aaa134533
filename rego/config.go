package rego

import (
	"fmt"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
)

// DefaultQuery is the decision tfgate asks every policy for.
const DefaultQuery = "data.tfgate.authz.decision"

// DefaultPollInterval is how often Watch looks for changed policy files.
const DefaultPollInterval = time.Second

// Config configures an Evaluator. The zero value is valid: the embedded
// default policy and the default query.
type Config struct {
	// Dir is the policy directory. Its top-level *.rego files (except
	// *_test.rego) are the policy (rego.v1 syntax), and data.json, data.yaml
	// and data.yml are merged at the root of the data document, where
	// `opa eval -d DIR` puts them too. Subdirectories, hidden files and any
	// other file are ignored.
	// default: "" (the policies embedded in the binary; Watch then has
	// nothing to do)
	Dir string
	// Query is the Rego query whose single value is the decision.
	// default: DefaultQuery ("data.tfgate.authz.decision")
	Query string
	// PollInterval is how often Watch hashes the policy files to find edits.
	// default: DefaultPollInterval (1s)
	PollInterval time.Duration
	// DecisionCacheEntries bounds the cache of verdicts by input (per
	// policy revision; never used for policies calling non-deterministic
	// built-ins such as time.now_ns or http.send); negative disables it.
	// default: DefaultDecisionCacheEntries (10000)
	DecisionCacheEntries int
	// Engine is what evaluates the policy: "auto" runs it compiled (OPA's
	// plan of the policy, run by tfgate's engine: several times faster)
	// when every statement and built-in in the plan is supported and the
	// plan agrees with OPA's evaluator on a load-time sample of inputs, and
	// on OPA's evaluator (topdown) otherwise; "topdown" always uses OPA's
	// evaluator. Status().Engine says which one runs and why.
	// default: "auto"
	Engine string
}

// EngineAuto is the default Config.Engine.
const EngineAuto = "auto"

// DefaultDecisionCacheEntries is the default size of the decision cache.
const DefaultDecisionCacheEntries = 10000

// withDefaults returns c with every unset field defaulted, or an error
// wrapping ErrConfig.
func (c Config) withDefaults() (Config, error) {
	if c.Query == "" {
		c.Query = DefaultQuery
	}
	if _, err := ast.ParseBody(c.Query); err != nil {
		return c, fmt.Errorf("%w: query %q: %w", ErrConfig, c.Query, err)
	}
	switch {
	case c.PollInterval == 0:
		c.PollInterval = DefaultPollInterval
	case c.PollInterval < 0:
		return c, fmt.Errorf("%w: negative poll interval %v", ErrConfig, c.PollInterval)
	}
	switch c.Engine {
	case "":
		c.Engine = EngineAuto
	case EngineAuto, EngineTopdown:
	default:
		return c, fmt.Errorf("%w: engine %q (want %q or %q)", ErrConfig, c.Engine, EngineAuto, EngineTopdown)
	}
	if c.DecisionCacheEntries == 0 {
		c.DecisionCacheEntries = DefaultDecisionCacheEntries
	}
	return c, nil
}
