package authz

import "strings"

// Queries hold secrets (?access_token=...), and TF Serving reads a REST
// query as part of the model name or label, so a target's model or label
// can carry one. What tfgate shows or logs (the reason, the 403 body, the
// decision log) drops everything from the "?" on; the policy still sees
// the name as TF Serving will, so that it decides on the real target.

// queryMark replaces a dropped query.
const queryMark = "?…"

// redactQuery returns s without anything from its first "?" on.
func redactQuery(s string) string {
	if i := strings.IndexByte(s, '?'); i >= 0 {
		return s[:i] + queryMark
	}
	return s
}

// redactReason removes from reason every query the request carries: its
// path's, and those inside its targets' models and labels (percent-decoded
// by the parser, so they differ from the path's).
func redactReason(reason, path string, targets []InputTarget) string {
	if !strings.Contains(reason, "?") && !strings.Contains(path, "?") {
		return reason
	}
	cut := func(s string) {
		if i := strings.IndexByte(s, '?'); i >= 0 && i+1 < len(s) {
			reason = strings.ReplaceAll(reason, s[i+1:], "…")
		}
	}
	cut(path)
	for _, t := range targets {
		cut(t.Model)
		if t.Label != nil {
			cut(*t.Label)
		}
	}
	return reason
}

// redactTarget returns t with its model and label cut at "?".
func redactTarget(t InputTarget) InputTarget {
	t.Model = redactQuery(t.Model)
	if t.Label != nil {
		l := redactQuery(*t.Label)
		t.Label = &l
	}
	return t
}
