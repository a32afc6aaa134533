package main

import (
	"net"
	"strings"
	"testing"
)

// TestDevValidatesFlagsBeforeBinding holds every port the dev stack would
// bind, then passes one bad address: the answer must name the bad flag,
// never "address already in use", whichever address is looked at first
// (the addresses sit in a map, so the old bind-while-checking loop failed
// most runs of this test).
func TestDevValidatesFlagsBeforeBinding(t *testing.T) {
	held := func() string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		return ln.Addr().String()
	}
	busy := []string{"--grpc", held(), "--idp", held(), "--check-grpc", held(), "--check-http", held()}
	tests := map[string]struct {
		args []string
		want string
	}{
		"off loopback":  {[]string{"--rest", "0.0.0.0:0"}, "loopback addresses only"},
		"not host:port": {[]string{"--rest", "8501"}, "missing port"},
		"bad port":      {[]string{"--rest", "127.0.0.1:http"}, "is not a port number"},
		"port too big":  {[]string{"--rest", "127.0.0.1:70000"}, "is not a port number"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			for range 10 {
				var out, errOut strings.Builder
				args := append(append([]string{"dev"}, busy...), tc.args...)
				code := run(t.Context(), args, &out, &errOut)
				if code != 1 || !strings.Contains(errOut.String(), tc.want) {
					t.Fatalf("run(%v) = %d, stderr %q; want 1 and %q", args, code, errOut.String(), tc.want)
				}
			}
		})
	}
}
