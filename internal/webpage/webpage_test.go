package webpage

import (
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"testing"
)

// TestCSPAllowsExactlyTheCSS: the policy names the stylesheet's hash, so
// a browser applies it; any edit to CSS changes the policy with it.
func TestCSPAllowsExactlyTheCSS(t *testing.T) {
	sum := sha256.Sum256([]byte(CSS))
	if !strings.Contains(CSP, "'sha256-"+base64.StdEncoding.EncodeToString(sum[:])+"'") || !strings.Contains(CSP, "default-src 'none'") {
		t.Errorf("CSP %q", CSP)
	}
}
