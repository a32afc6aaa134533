//go:build race

package envoy_test

// raceEnabled: under the race detector sync.Pool drops a quarter of what
// is put back, on purpose, so allocation counts are not the program's.
const raceEnabled = true
