//go:build !unix

package journal

// openFlags are added to O_RDONLY to open a journal.
const openFlags = 0
