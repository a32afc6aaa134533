package main

import (
	"errors"
	"strings"
	"testing"

	"github.com/tfgate/tfgate/internal/devidp"
)

// TestDevIdPOffLoopbackPrintsNothing (issue 8 item 4): dev-idp refuses a
// non-loopback --listen before it binds or prints a URL. (Before, it
// printed "development IdP at http://0.0.0.0:..." and then refused.)
func TestDevIdPOffLoopbackPrintsNothing(t *testing.T) {
	t.Parallel()
	for _, addr := range []string{"0.0.0.0:0", ":0", "[::]:0", "example.com:0"} {
		var out, errOut strings.Builder
		err := devIdPCmd(t.Context(), devIdPOptions{listen: addr}, &out, &errOut)
		if !errors.Is(err, devidp.ErrNotLoopback) {
			t.Errorf("--listen %s: %v, want ErrNotLoopback", addr, err)
		}
		if out.Len() != 0 || strings.Contains(errOut.String(), "http://") {
			t.Errorf("--listen %s printed a URL:\nstdout: %s\nstderr: %s", addr, out.String(), errOut.String())
		}
	}
}
