package otlpjson

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"time"
	"unicode/utf8"
)

// DefaultMaxValue bounds the size of one JSON value that a [Reader] reads:
// a line, or a document over several lines. The collector's OTLP receiver
// takes requests of 4 MiB by default, which its file exporter writes as a
// line of about three times that.
const DefaultMaxValue = 64 << 20

// Span is a span of the input.
type Span struct {
	// TraceID and SpanID are the span's ids; ParentSpanID is zero for a
	// root span. An id absent from the input is zero.
	TraceID              [16]byte
	SpanID, ParentSpanID [8]byte
	// TraceState is the W3C tracestate.
	TraceState string
	// Name is the span's name.
	Name string
	// Kind is the OTLP span kind: 0 unspecified, 1 internal, 2 server,
	// 3 client, 4 producer, 5 consumer.
	Kind int
	// StartTime and EndTime are zero if absent.
	StartTime, EndTime time.Time
	// Attributes are the span's attributes, in the order of the input.
	Attributes []KeyValue
	// Events are the span's events.
	Events []Event
	// Links are the span's links.
	Links []Link
	// StatusCode is the OTLP status code: 0 unset, 1 ok, 2 error.
	StatusCode int
	// StatusMessage is the status's description.
	StatusMessage string
	// Resource holds the attributes of the span's resource: one slice,
	// shared by the spans of a resource.
	Resource []KeyValue
	// Scope and ScopeVersion are the name and version of the span's
	// instrumentation scope.
	Scope, ScopeVersion string
}

// KeyValue is an attribute. Its Value is a string, bool, int64, float64,
// []byte, []any (an array, of any of these), map[string]any (a key-value
// list), or nil (an empty value).
type KeyValue struct {
	Key   string
	Value any
}

// Event is an event of a [Span].
type Event struct {
	// Name is the event's name.
	Name string
	// Time is when it happened; zero if absent.
	Time time.Time
	// Attributes are its attributes.
	Attributes []KeyValue
}

// Link is a link of a [Span] to another span.
type Link struct {
	// TraceID and SpanID are the linked span's ids.
	TraceID [16]byte
	SpanID  [8]byte
	// TraceState is the linked span's W3C tracestate.
	TraceState string
	// Attributes are the link's attributes.
	Attributes []KeyValue
}

// Error is input a [Reader] cannot decode, and the line where it is: the
// line itself, or, for a value the JSON decoder accepts but that is not
// OTLP (an id that is not one), the first line of that value.
type Error struct {
	Line int
	Err  error
}

// Error returns "line N: " and what is wrong.
func (e *Error) Error() string { return "line " + strconv.Itoa(e.Line) + ": " + e.Err.Error() }

// Unwrap returns the error without its line.
func (e *Error) Unwrap() error { return e.Err }

// Reader reads the spans of OTLP JSON input: JSON values, each an
// ExportTraceServiceRequest or TracesData, one a line (JSON Lines, as the
// collector's file exporter writes) or each over several lines. The first
// value decides which: once a value has ended on the line it began, every
// value must, so that a line cut off is reported as such.
type Reader struct {
	// MaxValue bounds the size of one JSON value, in bytes: a longer line
	// is not read into memory, but reported. 0 means DefaultMaxValue.
	MaxValue int

	in        *bufio.Reader
	line      int    // the lines read
	multiline bool   // the first value took several lines
	decided   bool   // the first value has been read
	buf       []byte // the value being read
	err       error  // the error that ended reading
}

// NewReader returns a Reader of r.
func NewReader(r io.Reader) *Reader {
	return &Reader{in: bufio.NewReaderSize(r, 64<<10)}
}

// Line returns the number of lines read so far.
func (r *Reader) Line() int { return r.line }

// Next returns the spans of the next JSON value of the input, in order;
// nil for a value without spans. It returns io.EOF at the end of the
// input, and an [*Error] for input it cannot read or decode, after which
// it returns that error again. Blank lines are skipped.
func (r *Reader) Next() ([]Span, error) {
	if r.err != nil {
		return nil, r.err
	}
	spans, err := r.next()
	if err != nil {
		r.err = err
	}
	return spans, err
}

// errTooLong is the error of a value longer than MaxValue.
var errTooLong = errors.New("too long")

func (r *Reader) next() ([]Span, error) {
	maxValue := r.MaxValue
	if maxValue <= 0 {
		maxValue = DefaultMaxValue
	}
	r.buf = r.buf[:0]
	first := 0 // the line the value starts on
	var s scanner
	for {
		from := len(r.buf)
		err := r.appendLine(maxValue)
		switch {
		case err == io.EOF && first == 0:
			return nil, io.EOF
		case err == io.EOF:
			return nil, &Error{first, errors.New("the input ends inside the JSON value that starts here: it is cut off")}
		case err == errTooLong:
			return nil, &Error{r.line + 1, fmt.Errorf("a JSON value (a line, or a document over several lines) longer than %s: "+
				"it is read no further", size(maxValue))}
		case err != nil:
			return nil, &Error{r.line + 1, err}
		}
		r.line++
		if r.line == 1 {
			if err := r.checkStart(); err != nil {
				return nil, &Error{1, err}
			}
		}
		if first == 0 {
			if len(bytes.TrimSpace(r.buf)) == 0 {
				r.buf = r.buf[:0]
				continue // a blank line
			}
			first = r.line
		}
		s.scan(r.buf[from:])
		switch {
		case s.inString:
			return nil, &Error{r.line, errors.New("the line ends inside a JSON string: it is cut off (JSON strings hold no raw line breaks)")}
		case s.depth > 0 && r.decided && !r.multiline:
			// A line of JSON Lines that does not end its value: cut off,
			// unless it is invalid before its end.
			var serr *json.SyntaxError
			if err := json.Unmarshal(r.buf, new(struct{})); errors.As(err, &serr) && serr.Offset < int64(len(r.buf)) {
				return r.decode(first)
			}
			return nil, &Error{r.line, errors.New("the JSON value does not end on its line: the line is cut off")}
		case s.depth > 0:
			continue
		}
		if !r.decided {
			r.decided, r.multiline = true, r.line > first
		}
		return r.decode(first)
	}
}

// appendLine appends the next line of the input, with its line feed, to
// r.buf. It returns io.EOF if no line is left, and errTooLong, having
// read no further, if r.buf would pass maxValue bytes.
func (r *Reader) appendLine(maxValue int) error {
	read := 0
	for {
		chunk, err := r.in.ReadSlice('\n')
		read += len(chunk)
		if len(r.buf)+len(chunk) > maxValue {
			return errTooLong
		}
		r.buf = append(r.buf, chunk...)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, bufio.ErrBufferFull):
		case err == io.EOF && read > 0:
			return nil // the last line, without a line feed
		default:
			return err
		}
	}
}

// checkStart checks the start of the input: it drops a UTF-8 byte order
// mark, and refuses compressed and binary input with a clear error.
func (r *Reader) checkStart() error {
	r.buf = bytes.TrimPrefix(r.buf, []byte("\xef\xbb\xbf"))
	switch {
	case bytes.HasPrefix(r.buf, []byte{0x1f, 0x8b}):
		return errors.New("compressed with gzip, not OTLP JSON: decompress it first")
	case bytes.HasPrefix(r.buf, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		return errors.New("compressed with zstd, not OTLP JSON: decompress it first")
	}
	return nil
}

// scanner follows the nesting of JSON text, line by line, to tell where a
// value ends without decoding it.
type scanner struct {
	depth    int
	inString bool
	escaped  bool
}

func (s *scanner) scan(b []byte) {
	for _, c := range b {
		switch {
		case s.escaped:
			s.escaped = false
		case s.inString && c == '\\':
			s.escaped = true
		case c == '"':
			s.inString = !s.inString
		case s.inString:
		case c == '{', c == '[':
			s.depth++
		case c == '}', c == ']':
			s.depth--
		}
	}
}

// decode decodes r.buf, the value that starts on line first.
func (r *Reader) decode(first int) ([]Span, error) {
	data := r.buf
	if i := bytes.IndexFunc(data, func(c rune) bool { return c != ' ' && c != '\t' && c != '\r' && c != '\n' }); data[i] != '{' {
		if !utf8.Valid(data) || bytes.IndexByte(data, 0) >= 0 {
			return nil, &Error{first, errors.New("binary data, not OTLP JSON (OTLP protobuf, such as the file exporter writes with format: proto?)")}
		}
		return nil, &Error{first, errors.New(`not a JSON object: want an OTLP JSON ExportTraceServiceRequest or TracesData, {"resourceSpans": [...]}`)}
	}
	var td tracesData
	if err := json.Unmarshal(data, &td); err != nil {
		msg, offset := "invalid JSON: "+trimJSON(err.Error()), int64(0)
		var serr *json.SyntaxError
		var terr *json.UnmarshalTypeError
		switch {
		case errors.As(err, &serr):
			offset = serr.Offset
		case errors.As(err, &terr):
			offset = terr.Offset
			msg = fmt.Sprintf("%s is a JSON %s, want %s", terr.Field, terr.Value, kind(terr.Type))
		}
		return nil, &Error{lineAt(data, first, offset), errors.New(msg)}
	}
	spans, err := td.spans()
	if err != nil {
		return nil, &Error{first, err}
	}
	return spans, nil
}

// lineAt returns the line of offset in data, a value that starts on line
// first. An offset just past a line feed is on the line the feed ends.
func lineAt(data []byte, first int, offset int64) int {
	off := int(min(max(offset, 0), int64(len(data))))
	line := first + bytes.Count(data[:off], []byte("\n"))
	if off > 0 && data[off-1] == '\n' {
		line--
	}
	return line
}

// trimJSON removes the "json: " of encoding/json's messages.
func trimJSON(msg string) string {
	if len(msg) > 6 && msg[:6] == "json: " {
		return msg[6:]
	}
	return msg
}

// kind names the JSON a Go type decodes from.
func kind(t reflect.Type) string {
	if t == nil {
		return "another type"
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Struct, reflect.Map, reflect.Pointer:
		return "an object"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Float32, reflect.Float64:
		return "a number"
	}
	return t.String()
}

// size formats a number of bytes in KiB or MiB when it is a whole number
// of them.
func size(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return strconv.Itoa(n>>20) + " MiB"
	case n >= 1<<10 && n%(1<<10) == 0:
		return strconv.Itoa(n>>10) + " KiB"
	}
	return strconv.Itoa(n) + " bytes"
}
