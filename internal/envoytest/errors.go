package envoytest

import "errors"

// Sentinel errors.
var (
	// ErrConfig wraps every configuration problem New reports.
	ErrConfig = errors.New("envoytest: invalid config")
)
