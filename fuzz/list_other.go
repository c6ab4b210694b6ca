//go:build !linux

package fuzz

import (
	"errors"
	"io"
	"os"
)

// list lists dir into c, by name and type only (no stat per file where the
// system gives the type with the name), in batches so that a large corpus
// is not held twice. Directories are skipped. buf is unused.
func (c *corpus) list(dir string, _ *[]byte) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	c.beginListing()
	for {
		entries, err := f.ReadDir(1024)
		for _, e := range entries {
			if !e.IsDir() {
				c.seenString(e.Name())
			}
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
	}
	c.endListing()
	return nil
}

// seenString notes an entry of the listing.
func (c *corpus) seenString(name string) {
	if ignored(name) {
		return
	}
	if i, ok := c.index[name]; ok {
		c.mark(i)
		return
	}
	c.fresh = append(c.fresh, name)
}
