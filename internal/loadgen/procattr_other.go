//go:build !linux

package loadgen

import "syscall"

// sysProcAttr has no parent-death signal to ask for outside Linux; Close
// (and the signal handling of cmd/tfgate-bench) stop redis-server there.
func sysProcAttr() *syscall.SysProcAttr { return nil }
