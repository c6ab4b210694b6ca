//go:build unix

package envconfig_test

import "syscall"

func mkfifoAt(path string) error { return syscall.Mkfifo(path, 0o600) }
