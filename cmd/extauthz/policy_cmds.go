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

// policyBuildCmd writes a policy directory as an OPA bundle, for teams
// without the opa CLI.
func policyBuildCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("policy build", stderr)
	out := fs.String("o", "bundle.tar.gz", "bundle file to write")
	rev := fs.String("revision", "", "the bundle's revision (default: a hash of the policy and data files)")
	key := fs.String("signing-key", "", "PEM private key (RSA or EC) to sign the bundle with (.signatures.json)")
	alg := fs.String("signing-alg", "RS256", "JWS algorithm of the signing key: RS256, PS256, ES256, ...")
	kid := fs.String("key-id", "", "key id (kid) to put in the signature, matched against the servers' verification keys")
	if err := parseInterspersed(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 1 {
		return fmt.Errorf("%w: extauthz policy build [DIR] -o FILE", errUsage)
	}
	opts := rego.BuildOptions{Revision: *rev, SigningAlgorithm: *alg, SigningKeyID: *kid}
	if *key != "" {
		pem, err := os.ReadFile(*key)
		if err != nil {
			return fmt.Errorf("reading the signing key: %w", err)
		}
		opts.SigningKey = string(pem)
	}
	var buf bytes.Buffer
	revision, err := rego.BuildBundle(ctx, fs.Arg(0), &buf, opts)
	if err != nil {
		return err
	}
	if err := os.WriteFile(*out, buf.Bytes(), 0o644); err != nil {
		return err
	}
	signed := "unsigned"
	if *key != "" {
		signed = "signed"
	}
	fmt.Fprintf(stdout, "%s: revision %s, %s, %d bytes\n", *out, revision, signed, buf.Len())
	return nil
}

func policyTestCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("policy test", stderr)
	verbose := fs.Bool("v", false, "print every test, not only failures")
	run := fs.String("run", "", "run only tests whose name matches this regular expression")
	coverage := fs.Bool("coverage", false, "report line coverage of the policy files (per file, lines not covered, total)")
	threshold := fs.Float64("threshold", 0, "with --coverage: fail when total coverage is below this percentage")
	format := fs.String("format", "text", "text or json")
	if err := parseInterspersed(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 1 {
		return fmt.Errorf("%w: extauthz policy test [DIR] [flags]", errUsage)
	}
	if *format != "text" && *format != "json" {
		return fmt.Errorf("%w: --format must be text or json", errUsage)
	}
	if *threshold > 0 {
		*coverage = true
	}
	sum, err := rego.RunTestsWith(ctx, fs.Arg(0), stdout, rego.TestOptions{
		Verbose: *verbose, Run: *run, Coverage: *coverage, JSON: *format == "json",
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
	if c := sum.Coverage; c != nil && c.Percent < *threshold {
		fmt.Fprintf(stderr, "coverage %.1f%% is below the threshold %.1f%%\n", c.Percent, *threshold)
		return errFailed
	}
	return nil
}

func policyEvalCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("policy eval", stderr)
	input := fs.String("input", "", "JSON input document, or one decision-log line (- for stdin); see the README for its shape")
	dir := fs.String("policy", "", "policy directory or bundle file (default: the embedded policy)")
	fail := fs.Bool("fail", false, "exit 1 when the decision is a deny (for CI)")
	if err := parseInterspersed(fs, args); err != nil {
		return err
	}
	if *input == "" {
		return fmt.Errorf("%w: --input FILE is required", errUsage)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	var data []byte
	var err error
	if *input == "-" {
		data, err = io.ReadAll(os.Stdin)
	} else {
		data, err = os.ReadFile(*input)
	}
	if err != nil {
		return fmt.Errorf("reading input: %w", err)
	}
	policy, err := rego.Load(ctx, *dir, rego.Verification{}, -1)
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
	if *fail && !v.Allow {
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

// policyReplayCmd re-decides a recorded decision log with a changed
// policy and says what would change.
func policyReplayCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("policy replay", stderr)
	logPath := fs.String("log", "", "decision log (JSON lines, - for stdin); rotated files may be given one after another with several --log")
	policyPath := fs.String("policy", "", "the changed policy: a directory or a bundle file (default: the embedded policy)")
	examples := fs.Int("examples", 3, "flips to show per (groups, model, api)")
	loosening := fs.Bool("allow-loosening", false, "exit 0 even when a denied request would be allowed")
	format := fs.String("format", "text", "text or json")
	if err := parseInterspersed(fs, args); err != nil {
		return err
	}
	if *logPath == "" || fs.NArg() > 0 {
		return fmt.Errorf("%w: extauthz policy replay --log FILE --policy DIR|BUNDLE", errUsage)
	}
	if *format != "text" && *format != "json" {
		return fmt.Errorf("%w: --format must be text or json", errUsage)
	}
	policy, err := rego.Load(ctx, *policyPath, rego.Verification{}, 0)
	if err != nil {
		return err
	}
	var r io.Reader = os.Stdin
	if *logPath != "-" {
		f, err := os.Open(*logPath)
		if err != nil {
			return err
		}
		defer f.Close()
		r = f
	}
	start := time.Now()
	rep, err := authz.Replay(ctx, r, policy, authz.ReplayOptions{Examples: *examples})
	if err != nil {
		return err
	}
	elapsed := time.Since(start)
	if *format == "json" {
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
	case rep.DenyToAllow > 0 && !*loosening:
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
