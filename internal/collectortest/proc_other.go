//go:build !linux

package collectortest

import "syscall"

// sysProcAttr returns nil: only Linux can kill the collector when the test
// binary dies.
func sysProcAttr() *syscall.SysProcAttr {
	return nil
}
