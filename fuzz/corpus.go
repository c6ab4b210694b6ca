package fuzz

import "slices"

// corpus is the set of input names a Watcher knows, with what changed
// since its last update.
//
// names holds every name in the order the watcher found them, "" for a
// name since removed (a file name is never empty); index maps a name to its
// position. The names at positions from start on were added since the last
// update, so that the additions of an update need no list of their own.
// marks holds, per position, the number of the last listing that saw the
// name, so that a listing of the directory finds removed names without a
// set of its own.
type corpus struct {
	index   map[string]int
	names   []string
	marks   []uint32
	live    int // names that are not ""
	start   int // first position added since the last update
	removed int // names removed since the last update that it had reported

	// A listing in progress.
	epoch uint32
	seen  int      // names known before the listing that it saw
	fresh []string // names it saw that were not known
}

func newCorpus() *corpus { return &corpus{index: make(map[string]int)} }

// ignored reports whether name is not an input: a dotfile, such as an
// in-progress temporary file, AFL++'s .state, or "." and "..".
func ignored[S string | []byte](name S) bool { return len(name) == 0 || name[0] == '.' }

// add adds name unless known, and reports whether it did.
func (c *corpus) add(name string) bool {
	if _, ok := c.index[name]; ok {
		return false
	}
	c.index[name] = len(c.names)
	c.names = append(c.names, name)
	c.marks = append(c.marks, c.epoch)
	c.live++
	return true
}

// remove removes name if known, and reports whether it did.
func (c *corpus) remove(name string) bool {
	i, ok := c.index[name]
	if !ok {
		return false
	}
	c.drop(i)
	return true
}

func (c *corpus) drop(i int) {
	delete(c.index, c.names[i])
	c.names[i] = ""
	c.live--
	if i < c.start {
		c.removed++
	}
}

// beginListing starts a listing of the whole directory: call seenBytes or
// seenString for each entry, then endListing, or nothing if the listing
// failed.
func (c *corpus) beginListing() {
	c.epoch++
	if c.epoch == 0 { // wrapped: marks of 2^32 listings ago would look current
		clear(c.marks)
		c.epoch = 1
	}
	c.seen = 0
	c.fresh = c.fresh[:0]
}

func (c *corpus) mark(i int) {
	if c.marks[i] != c.epoch {
		c.marks[i] = c.epoch
		c.seen++
	}
}

// endListing applies a complete listing: known names it did not see are
// removed, and names it saw for the first time are added, sorted.
func (c *corpus) endListing() {
	if c.seen < c.live {
		for i, n := range c.names {
			if n != "" && c.marks[i] != c.epoch {
				c.drop(i)
			}
		}
	}
	if len(c.fresh) > 0 {
		slices.Sort(c.fresh)
		c.fresh = slices.Compact(c.fresh) // a listing may repeat a name moved during it
		for _, n := range c.fresh {
			c.add(n)
		}
		clear(c.fresh)
		c.fresh = c.fresh[:0]
		if cap(c.fresh) > 4096 { // such as after the first listing of a large corpus
			c.fresh = nil
		}
	}
}

// changed reports whether names were added or removed since the last
// update.
func (c *corpus) changed() bool {
	if c.removed > 0 {
		return true
	}
	for _, n := range c.names[c.start:] {
		if n != "" {
			return true
		}
	}
	return false
}

// additions returns the names added since the last update, sorted.
func (c *corpus) additions() []string {
	var out []string
	for _, n := range c.names[c.start:] {
		if n != "" {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}

// snapshot returns at most limit names of the whole corpus: added (the
// additions since the last update) first, then the others in the order
// they were found, oldest first.
func (c *corpus) snapshot(added []string, limit int) []string {
	out := make([]string, 0, min(limit, c.live))
	out = append(out, added[:min(len(added), limit)]...)
	for _, n := range c.names[:c.start] {
		if len(out) == limit {
			break
		}
		if n != "" {
			out = append(out, n)
		}
	}
	return out
}

// updated starts a new update: what changed so far has been recorded.
// It compacts names when removed ones take much of it.
func (c *corpus) updated() {
	if dead := len(c.names) - c.live; dead > 1024 && dead > c.live/2 {
		j := 0
		for i, n := range c.names {
			if n != "" {
				c.names[j], c.marks[j] = n, c.marks[i]
				c.index[n] = j
				j++
			}
		}
		clear(c.names[j:])
		c.names, c.marks = c.names[:j], c.marks[:j]
	}
	c.start = len(c.names)
	c.removed = 0
}
