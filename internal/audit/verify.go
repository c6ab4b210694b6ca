package audit

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
)

// Kind is the kind of a break in a chain.
type Kind string

// Kinds of breaks.
const (
	Changed   Kind = "changed"   // a line's bytes differ from what the next line hashed
	Removed   Kind = "removed"   // records are missing before a line
	Inserted  Kind = "inserted"  // a line is not part of the chain
	Reordered Kind = "reordered" // a line is out of its place
	Missing   Kind = "missing"   // a file of the chain is missing
)

// Problem is the first break of a chain, or its cut last line.
type Problem struct {
	Kind   Kind   `json:"kind,omitempty"`
	File   string `json:"file"`
	Line   int    `json:"line"` // 1-based, in File; 0 for a file
	Detail string `json:"detail"`
}

// Entry is one complete line of a chain.
type Entry struct {
	File   string
	Line   int     // 1-based, in File
	Raw    []byte  // without the newline
	Record *Record // nil if the line is not a record
}

// Chain is what [Chains] found in one chain.
type Chain struct {
	Base    string   `json:"chain"`
	Files   []string `json:"files"`
	Records int      `json:"records"`
	// Closed tells that the chain ends with the record of Writer.Close.
	Closed bool `json:"closed"`
	// Tampered is the first break, nil if none.
	Tampered *Problem `json:"tampered,omitempty"`
	// Truncated is the last line, cut short, of a process that died
	// while writing it; nil if none.
	Truncated *Problem `json:"truncated,omitempty"`
	// Entries are the complete lines, in order.
	Entries []Entry `json:"-"`
}

var fileName = regexp.MustCompile(`^(audit-.+)-(\d{4,})\.jsonl$`)

// Chains returns the chains of path: every chain of the files in a
// directory, each file in order; or one chain of a file alone.
func Chains(path string) ([]Chain, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !fi.IsDir() {
		c, err := verify([]string{path}, isFirst(path))
		return []Chain{c}, err
	}
	ents, err := os.ReadDir(path)
	if err != nil {
		return nil, err
	}
	byBase := map[string][]string{}
	for _, e := range ents {
		if m := fileName.FindStringSubmatch(e.Name()); m != nil && e.Type().IsRegular() {
			byBase[m[1]] = append(byBase[m[1]], filepath.Join(path, e.Name()))
		}
	}
	var out []Chain
	for _, base := range slices.Sorted(mapsKeys(byBase)) {
		files := byBase[base]
		slices.SortFunc(files, func(a, b string) int { return cmp.Compare(number(a), number(b)) })
		c, err := verify(files, true)
		if err != nil {
			return out, err
		}
		c.Base = base
		out = append(out, c)
	}
	return out, nil
}

func mapsKeys(m map[string][]string) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// number returns the number of a chain's file, -1 if its name has none.
func number(path string) int {
	m := fileName.FindStringSubmatch(filepath.Base(path))
	if m == nil {
		return -1
	}
	n, _ := strconv.Atoi(m[2])
	return n
}

func isFirst(path string) bool { return number(path) == 0 }

// hash returns the hex SHA-256 of line.
func hash(line []byte) string {
	s := sha256.Sum256(line)
	return hex.EncodeToString(s[:])
}

// verify reads files, a chain's in order, and checks it; genesis tells
// that the first file starts the chain. The error is for a file that
// cannot be read.
func verify(files []string, genesis bool) (Chain, error) {
	c := Chain{Files: files}
	if m := fileName.FindStringSubmatch(filepath.Base(files[0])); m != nil {
		c.Base = m[1]
	} else {
		c.Base = filepath.Base(files[0])
	}
	for i, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return c, err
		}
		if genesis && c.Tampered == nil && number(f) != i {
			c.Tampered = &Problem{Kind: Missing, File: f, Detail: fmt.Sprintf("file number %d of the chain is missing before it", i)}
		}
		lines := bytes.Split(data, []byte("\n"))
		for j, l := range lines {
			if j == len(lines)-1 {
				if len(l) == 0 {
					break
				}
				p := &Problem{File: f, Line: j + 1, Detail: fmt.Sprintf("the last line is cut short after %d bytes", len(l))}
				if i == len(files)-1 {
					c.Truncated = p
				} else if c.Tampered == nil {
					p.Kind = Changed
					c.Tampered = p
				}
				break
			}
			e := Entry{File: f, Line: j + 1, Raw: l}
			var r Record
			if json.Unmarshal(l, &r) == nil {
				e.Record = &r
			}
			c.Entries = append(c.Entries, e)
		}
	}
	c.Records = len(c.Entries)
	if n := len(c.Entries); n > 0 && c.Entries[n-1].Record != nil && c.Entries[n-1].Record.Event == ClosedEvent {
		c.Closed = c.Truncated == nil
	}
	if p := check(c.Entries, genesis); p != nil && (c.Tampered == nil || before(p, c.Tampered, files)) {
		c.Tampered = p
	}
	return c, nil
}

// before reports whether p is before q in the chain of files.
func before(p, q *Problem, files []string) bool {
	pi, qi := slices.Index(files, p.File), slices.Index(files, q.File)
	return pi < qi || pi == qi && p.Line < q.Line
}

// check returns the first break of the chain es, nil if none.
func check(es []Entry, genesis bool) *Problem {
	expPrev, lastExpPrev := "", ""
	var expSeq uint64
	at := func(e Entry, k Kind, format string, args ...any) *Problem {
		return &Problem{Kind: k, File: e.File, Line: e.Line, Detail: fmt.Sprintf(format, args...)}
	}
	for i, e := range es {
		r := e.Record
		if r == nil {
			return at(e, Changed, "the line is not a record")
		}
		if i == 0 && !genesis {
			expPrev, expSeq = r.Prev, r.Seq
		}
		if r.Prev == expPrev && r.Seq == expSeq {
			lastExpPrev, expPrev, expSeq = expPrev, hash(e.Raw), r.Seq+1
			continue
		}
		var next *Record
		if i+1 < len(es) {
			next = es[i+1].Record
		}
		switch {
		case r.Seq > expSeq && linked(es[i+1:], hash(e.Raw)) && slices.ContainsFunc(es[i+1:], func(l Entry) bool { return l.Record != nil && l.Record.Seq == expSeq }):
			return at(e, Reordered, "seq %d comes before seq %d", r.Seq, expSeq)
		case next != nil && next.Prev == expPrev && next.Seq == expSeq:
			return at(e, Inserted, "the next line follows the line before this one")
		case i > 0 && r.Prev == lastExpPrev:
			return at(es[i-1], Inserted, "the next line follows the line before this one")
		case r.Prev == expPrev:
			return at(e, Changed, "seq %d, want %d", r.Seq, expSeq)
		case r.Seq == expSeq:
			if i == 0 || next != nil && next.Prev != hash(e.Raw) {
				return at(e, Changed, "its link to the line before does not match")
			}
			return at(es[i-1], Changed, "the next line's hash of it does not match")
		case r.Seq > expSeq:
			for _, l := range es[i+1:] {
				if l.Record != nil && l.Record.Seq == expSeq {
					return at(e, Reordered, "seq %d comes before seq %d", r.Seq, expSeq)
				}
			}
			if r.Seq == expSeq+1 {
				return at(e, Removed, "the record with seq %d before it is missing", expSeq)
			}
			return at(e, Removed, "the records with seq %d to %d before it are missing", expSeq, r.Seq-1)
		default:
			for _, l := range es[:i] {
				if hash(l.Raw) == r.Prev {
					return at(e, Reordered, "seq %d comes after seq %d", r.Seq, expSeq-1)
				}
			}
			return at(e, Inserted, "seq %d, want %d", r.Seq, expSeq)
		}
	}
	return nil
}

// linked reports whether a line of es links to the line whose hash is h.
func linked(es []Entry, h string) bool {
	return slices.ContainsFunc(es, func(l Entry) bool { return l.Record != nil && l.Record.Prev == h })
}
