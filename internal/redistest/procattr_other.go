//go:build !linux

package redistest

import "syscall"

// sysProcAttr has no parent-death signal outside Linux; t.Cleanup still
// stops every server when a test ends normally.
func sysProcAttr() *syscall.SysProcAttr { return nil }
