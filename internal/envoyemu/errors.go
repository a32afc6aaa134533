package envoyemu

import "errors"

// Sentinel errors.
var (
	// ErrConfig wraps every configuration problem New reports.
	ErrConfig = errors.New("envoyemu: invalid config")
)
