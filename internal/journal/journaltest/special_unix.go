//go:build unix

package journaltest

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// Kinds of files that are not regular journals, for [Make].
const (
	FIFO            = "FIFO"
	Socket          = "socket"
	Directory       = "directory"
	LinkToNull      = "link to /dev/null"
	LinkToZero      = "link to /dev/zero"
	LinkToFIFO      = "link to a FIFO"
	LinkToDirectory = "link to a directory"
	DanglingLink    = "dangling link"
	LinkLoop        = "link loop"
	Unreadable      = "no read permission"
)

// Kinds lists the kinds of files that are not regular journals.
var Kinds = []string{FIFO, Socket, Directory, LinkToNull, LinkToZero, LinkToFIFO, LinkToDirectory, DanglingLink, LinkLoop, Unreadable}

// Make makes a file of kind at path, and reports whether it did: it makes
// no Unreadable file for root, which reads any file. The FIFO a
// LinkToFIFO points to is in a temporary directory of tb's own; opening
// path opens it.
func Make(tb testing.TB, kind, path string) bool {
	tb.Helper()
	var err error
	switch kind {
	case FIFO:
		err = unix.Mkfifo(path, 0o600)
	case Socket:
		// The file stays when the socket is closed.
		var fd int
		if fd, err = unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM, 0); err == nil {
			err = unix.Bind(fd, &unix.SockaddrUnix{Name: path})
			unix.Close(fd)
		}
	case Directory:
		err = os.Mkdir(path, 0o700)
	case LinkToNull:
		err = os.Symlink("/dev/null", path)
	case LinkToZero:
		err = os.Symlink("/dev/zero", path)
	case LinkToFIFO:
		target := filepath.Join(tb.TempDir(), "fifo")
		if err = unix.Mkfifo(target, 0o600); err == nil {
			err = os.Symlink(target, path)
		}
	case LinkToDirectory:
		err = os.Symlink("/", path)
	case DanglingLink:
		err = os.Symlink(filepath.Join(tb.TempDir(), "nothing"), path)
	case LinkLoop:
		err = os.Symlink(filepath.Base(path), path)
	case Unreadable:
		if os.Geteuid() == 0 {
			return false
		}
		err = os.WriteFile(path, []byte("{}\n"), 0o200)
	default:
		tb.Fatalf("journaltest: no kind %q", kind)
	}
	if err != nil {
		tb.Fatalf("journaltest: making a %s: %v", kind, err)
	}
	return true
}
