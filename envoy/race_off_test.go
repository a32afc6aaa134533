//go:build !race

package envoy_test

// raceEnabled: see race_on_test.go.
const raceEnabled = false
