package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/tfgate/tfgate/authz"
	"github.com/tfgate/tfgate/rego"
)

type policyBuildOptions struct {
	dir, out, revision, signingKey, signingAlg, keyID string
}

// policyBuildCmd writes a policy directory as an OPA bundle, for teams
// without the opa CLI.
func policyBuildCmd(ctx context.Context, o policyBuildOptions, stdout io.Writer) error {
	opts := rego.BuildOptions{Revision: o.revision, SigningAlgorithm: o.signingAlg, SigningKeyID: o.keyID}
	if o.signingKey != "" {
		pem, err := os.ReadFile(o.signingKey)
		if err != nil {
			return fmt.Errorf("reading the signing key: %w", err)
		}
		opts.SigningKey = string(pem)
	}
	var buf bytes.Buffer
	revision, err := rego.BuildBundle(ctx, o.dir, &buf, opts)
	if err != nil {
		return err
	}
	if err := os.WriteFile(o.out, buf.Bytes(), 0o644); err != nil {
		return err
	}
	signed := "unsigned"
	if o.signingKey != "" {
		signed = "signed"
	}
	fmt.Fprintf(stdout, "%s: revision %s, %s, %d bytes\n", o.out, revision, signed, buf.Len())
	return nil
}

type policyTestOptions struct {
	dir, run, format  string
	verbose, coverage bool
	threshold         float64
}

func policyTestCmd(ctx context.Context, o policyTestOptions, stdout, stderr io.Writer) error {
	if o.format != "text" && o.format != "json" {
		return usagef("--format must be text or json")
	}
	if o.threshold > 0 {
		o.coverage = true
	}
	sum, err := rego.RunTestsWith(ctx, o.dir, stdout, rego.TestOptions{
		Verbose: o.verbose, Run: o.run, Coverage: o.coverage, JSON: o.format == "json",
	})
	if err != nil {
		return fmt.Errorf("running policy tests: %w", err)
	}
	if sum.Failed > 0 || sum.Passed == 0 {
		if sum.Passed == 0 && sum.Failed == 0 {
			fmt.Fprintln(stderr, "no policy tests found (files named *_test.rego), or none matches --run")
		}
		return errFailed
	}
	if c := sum.Coverage; c != nil && c.Percent < o.threshold {
		fmt.Fprintf(stderr, "coverage %.1f%% is below the threshold %.1f%%\n", c.Percent, o.threshold)
		return errFailed
	}
	return nil
}

type policyEvalOptions struct {
	input, policy string
	fail          bool
}

func policyEvalCmd(ctx context.Context, o policyEvalOptions, stdin io.Reader, stdout io.Writer) error {
	var data []byte
	var err error
	if o.input == "-" {
		data, err = io.ReadAll(stdin)
	} else {
		data, err = os.ReadFile(o.input)
	}
	if err != nil {
		return fmt.Errorf("reading input: %w", err)
	}
	policy, err := rego.Load(ctx, o.policy, rego.Verification{}, -1)
	if err != nil {
		return err
	}
	out := map[string]any{}
	var v authz.Verdict
	if rec, ok, err := decisionLogLine(data); err != nil {
		return err
	} else if ok {
		if v, err = rec.Decide(ctx, policy); err != nil {
			return err
		}
		out["decision_id"] = rec.DecisionID
		out["logged"] = map[string]any{"allow": rec.Allow, "reason": rec.Reason, "policy_revision": rec.PolicyRevision}
	} else {
		in, err := rego.DecodeInput(data)
		if err != nil {
			return err
		}
		if v, err = policy.Evaluate(ctx, in); err != nil {
			return err
		}
	}
	out["allow"], out["reason"], out["policy_revision"] = v.Allow, v.Reason, policy.Revision()
	if v.Status != 0 {
		out["status"] = v.Status
	}
	if len(v.Headers) > 0 {
		out["headers"] = v.Headers
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(out); err != nil {
		return err
	}
	if o.fail && !v.Allow {
		return errFailed
	}
	return nil
}

// decisionLogLine recognises a decision-log line (it has "decision_id") and
// decodes it. A line the policy could not decide on is an input error.
func decisionLogLine(data []byte) (*authz.DecisionRecord, bool, error) {
	var keys map[string]json.RawMessage
	if json.Unmarshal(data, &keys) != nil {
		return nil, false, nil // DecodeInput reports it
	}
	if _, ok := keys["decision_id"]; !ok {
		return nil, false, nil
	}
	var rec authz.DecisionRecord
	if err := json.Unmarshal(data, &rec); err != nil {
		return nil, true, fmt.Errorf("%w: decision-log line: %w", rego.ErrInvalidInput, err)
	}
	switch {
	case rec.Error != "":
		return nil, true, fmt.Errorf("%w: the logged request was not decided (%s)", rego.ErrInvalidInput, rec.Error)
	case len(rec.Targets) == 0:
		return nil, true, fmt.Errorf("%w: the decision-log line has no targets: the request was refused before the policy (%s)", rego.ErrInvalidInput, rec.Reason)
	}
	return &rec, true, nil
}

type policyReplayOptions struct {
	log, policy, format string
	examples            int
	allowLoosening      bool
}

// policyReplayCmd re-decides a recorded decision log with a changed
// policy and says what would change.
func policyReplayCmd(ctx context.Context, o policyReplayOptions, stdin io.Reader, stdout, stderr io.Writer) error {
	if o.format != "text" && o.format != "json" {
		return usagef("--format must be text or json")
	}
	policy, err := rego.Load(ctx, o.policy, rego.Verification{}, 0)
	if err != nil {
		return err
	}
	r := stdin
	if o.log != "-" {
		f, err := os.Open(o.log)
		if err != nil {
			return err
		}
		defer f.Close()
		r = f
	}
	start := time.Now()
	rep, err := authz.Replay(ctx, r, policy, authz.ReplayOptions{Examples: o.examples})
	if err != nil {
		return err
	}
	elapsed := time.Since(start)
	if o.format == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(struct {
			authz.ReplayReport
			PolicyRevision string  `json:"policy_revision"`
			Seconds        float64 `json:"seconds"`
		}{rep, policy.Revision(), elapsed.Seconds()}); err != nil {
			return err
		}
	} else {
		writeReplayText(stdout, rep, policy.Revision(), elapsed)
	}
	switch {
	case rep.Errors > 0 || rep.Malformed > 0:
		fmt.Fprintf(stderr, "%d lines could not be re-decided (%d errors, %d malformed)\n", rep.Errors+rep.Malformed, rep.Errors, rep.Malformed)
		return errFailed
	case rep.DenyToAllow > 0 && !o.allowLoosening:
		fmt.Fprintf(stderr, "%d denied requests would be allowed; pass --allow-loosening if that is intended\n", rep.DenyToAllow)
		return errFailed
	}
	return nil
}

func writeReplayText(w io.Writer, rep authz.ReplayReport, revision string, elapsed time.Duration) {
	rate := float64(rep.Lines) / max(elapsed.Seconds(), 1e-9)
	fmt.Fprintf(w, "replayed %d lines against policy revision %s in %s (%.0f lines/s)\n", rep.Lines, revision, elapsed.Round(time.Millisecond), rate)
	fmt.Fprintf(w, "  re-decided %d, unchanged %d (reason changed %d), skipped %d (not decided by the policy), checkpoints %d\n",
		rep.Replayed, rep.Unchanged, rep.ReasonChanged, rep.Skipped, rep.Checkpoints)
	fmt.Fprintf(w, "  allow -> deny: %d\n  deny -> allow: %d\n", rep.AllowToDeny, rep.DenyToAllow)
	if rep.Errors > 0 || rep.Malformed > 0 {
		fmt.Fprintf(w, "  errors: %d, malformed lines: %d\n", rep.Errors, rep.Malformed)
	}
	for _, p := range rep.Problems {
		fmt.Fprintf(w, "  %s\n", p)
	}
	if len(rep.Examples) > 0 {
		fmt.Fprintln(w, "examples (the first per groups, model, api):")
	}
	for _, f := range rep.Examples {
		dir := "allow -> deny"
		if f.Direction == authz.DenyToAllow {
			dir = "deny -> allow"
		}
		fmt.Fprintf(w, "  %s  groups=%s model=%s api=%s  line %d decision %s\n      was: %s\n      now: %s\n",
			dir, f.Groups, f.Model, f.API, f.Line, f.DecisionID, f.OldReason, f.NewReason)
	}
	if rep.ExampleKeysDropped > 0 {
		fmt.Fprintf(w, "  (%d flips of further (groups, model, api) keys not shown)\n", rep.ExampleKeysDropped)
	}
}
