package fuzz

import (
	"bytes"
	"encoding/binary"
	"os"

	"golang.org/x/sys/unix"
)

// listBufSize is the size of the buffer getdents64 fills: about 2,000
// entries of a libFuzzer corpus (40-byte SHA-1 names) per system call.
const listBufSize = 128 << 10

// Offsets in struct linux_dirent64: d_ino (8 bytes), d_off (8), d_reclen
// (2), d_type (1), d_name.
const (
	direntReclen = 16
	direntType   = 18
	direntName   = 19
)

// list lists dir into c with getdents64 into buf (allocated on first use),
// reading each entry's name and type only: no stat per file, and no
// allocation for a name c already knows. Directories are skipped.
func (c *corpus) list(dir string, buf *[]byte) error {
	fd, err := openDir(dir)
	if err != nil {
		return &os.PathError{Op: "open", Path: dir, Err: err}
	}
	defer unix.Close(fd)
	if *buf == nil {
		*buf = make([]byte, listBufSize)
	}
	b := *buf
	c.beginListing()
	for {
		n, err := unix.Getdents(fd, b)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return &os.PathError{Op: "getdents", Path: dir, Err: err}
		}
		if n <= 0 {
			break
		}
		for off := 0; off+direntName <= n; {
			reclen := int(binary.NativeEndian.Uint16(b[off+direntReclen:]))
			if reclen <= direntName || off+reclen > n {
				break // malformed; cannot happen
			}
			if b[off+direntType] != unix.DT_DIR {
				name := b[off+direntName : off+reclen]
				if i := bytes.IndexByte(name, 0); i >= 0 {
					name = name[:i]
				}
				c.seenBytes(name)
			}
			off += reclen
		}
	}
	c.endListing()
	return nil
}

func openDir(dir string) (int, error) {
	for {
		fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != unix.EINTR {
			return fd, err
		}
	}
}

// seenBytes notes an entry of the listing. It allocates only for a name
// not known before.
func (c *corpus) seenBytes(name []byte) {
	if ignored(name) {
		return
	}
	if i, ok := c.index[string(name)]; ok { // no allocation for the lookup
		c.mark(i)
		return
	}
	c.fresh = append(c.fresh, string(name))
}
