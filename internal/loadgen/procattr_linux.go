package loadgen

import "syscall"

// sysProcAttr asks the kernel to kill redis-server if the benchmark dies
// without running Close (a panic, SIGKILL). Linux ties this to the thread
// that forked, which the Go runtime keeps for the life of the process.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
