//go:build unix

package journal

import "syscall"

// openFlags are added to O_RDONLY to open a journal: a FIFO put in a
// journal's place must not block the open, and a terminal must not become
// the controlling one.
const openFlags = syscall.O_NONBLOCK | syscall.O_NOCTTY
