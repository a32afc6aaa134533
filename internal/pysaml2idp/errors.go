package pysaml2idp

import "errors"

var (
	// ErrUnavailable: python3 with pysaml2, or xmlsec1, is not installed.
	ErrUnavailable = errors.New("pysaml2idp: pysaml2 is not available; install it with `apt-get install -y python3-pysaml2 xmlsec1`")
	// ErrRefused: pysaml2 refused the request (unknown SP, ACS not in the
	// SP's metadata, bad signature, ...); the wrapping error has its words.
	ErrRefused = errors.New("pysaml2idp: pysaml2 refused the request")
	// ErrProcess: the Python process failed, hung or exited.
	ErrProcess = errors.New("pysaml2idp: python process failed")
)
