package journal

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// ErrNotRegular is the error [ReadFile] and [Stat] return, wrapped in an
// *fs.PathError, for a path that is not a regular file (nor a symbolic
// link to one): a directory, a named pipe (FIFO), a socket or a device.
// They never open such a file: opening a FIFO blocks until a writer
// comes, and opening a device can act on it.
var ErrNotRegular = errors.New("not a regular file")

// openRegular opens the regular file at path for reading, following
// symbolic links, and returns it with its information. It refuses
// anything else with an error wrapping [ErrNotRegular], without opening
// it; the file is opened without blocking and checked again once open, in
// case it was replaced meanwhile.
func openRegular(path string) (*os.File, fs.FileInfo, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, nil, notRegular(path, fi.Mode())
	}
	f, err := os.OpenFile(path, os.O_RDONLY|openFlags, 0)
	if err != nil {
		return nil, nil, err
	}
	if fi, err = f.Stat(); err != nil {
		f.Close()
		return nil, nil, err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, nil, notRegular(path, fi.Mode())
	}
	return f, fi, nil
}

// notRegular returns the error for path, which is not a regular file but
// has mode m.
func notRegular(path string, m fs.FileMode) error {
	what := "a special file"
	switch {
	case m.IsDir():
		what = "a directory"
	case m&fs.ModeNamedPipe != 0:
		what = "a named pipe (FIFO)"
	case m&fs.ModeSocket != 0:
		what = "a socket"
	case m&fs.ModeCharDevice != 0:
		what = "a character device"
	case m&fs.ModeDevice != 0:
		what = "a device"
	case m&fs.ModeSymlink != 0:
		what = "a symbolic link"
	}
	return &fs.PathError{Op: "open", Path: path, Err: fmt.Errorf("%w: %s", ErrNotRegular, what)}
}
