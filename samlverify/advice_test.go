package samlverify

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// TestEveryReasonHasAdvice: each reason an administrator can see comes
// with a cause and a fix, and Advice prefers a check's own advice.
func TestEveryReasonHasAdvice(t *testing.T) {
	for r := range messages {
		a := reasonAdvice[r]
		if len(a) < 40 || !strings.HasSuffix(a, ".") {
			t.Errorf("reason %s: advice %q is missing or too short to name a cause and a fix", r, a)
		}
		if got := Advice(fmt.Errorf("wrapped: %w", failf(r, "x"))); got != a {
			t.Errorf("reason %s: Advice through a wrapper = %q, want the reason's", r, got)
		}
	}
	for r := range reasonAdvice {
		if _, ok := messages[r]; !ok {
			t.Errorf("advice for %s, which is no reason", r)
		}
	}
	if got := Advice(failAdvice(ReasonSignatureMissing, "x", adviceCBCUnsigned)); got != adviceCBCUnsigned {
		t.Errorf("a check's own advice is not preferred: %q", got)
	}
	if got := Advice(errors.New("other")); got != "" {
		t.Errorf("Advice of a non-samlverify error = %q", got)
	}
}
