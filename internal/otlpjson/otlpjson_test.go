package otlpjson

import (
	"errors"
	"io"
	"math"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
)

// readAll reads every span of input, or returns the first error.
func readAll(input string, maxValue int) ([]Span, error) {
	r := NewReader(strings.NewReader(input))
	r.MaxValue = maxValue
	var spans []Span
	for {
		batch, err := r.Next()
		if err == io.EOF {
			return spans, nil
		}
		if err != nil {
			return spans, err
		}
		spans = append(spans, batch...)
	}
}

// line is a line of the collector's file exporter: hex ids, integers as
// strings, enums as numbers.
const line = `{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"patcher"}}]},` +
	`"scopeSpans":[{"scope":{"name":"crstel","version":"1.0"},"spans":[{"traceId":"5B8EFFF798038103D269B633813FC60C",` +
	`"spanId":"eee19b7ec3c1b174","parentSpanId":"","name":"generate_patch","kind":1,` +
	`"startTimeUnixNano":"1700000000000000000","endTimeUnixNano":"1700000001000000000",` +
	`"attributes":[{"key":"crs.action.category","value":{"stringValue":"patch_generation"}},` +
	`{"key":"crs.action.effort.weight","value":{"intValue":"8"}}],` +
	`"events":[{"timeUnixNano":"1700000000500000000","name":"e","attributes":[{"key":"n","value":{"intValue":-7}}]}],` +
	`"links":[{"traceId":"00000000000000000000000000000001","spanId":"0000000000000002"}],` +
	`"status":{"code":2,"message":"boom"}}]}]}]}`

// document is the same span in one indented document, as protobuf's JSON
// mapping writes it: ids in base64, integers as numbers, enums by name.
const document = `{
  "resourceSpans": [
    {
      "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "patcher"}}]},
      "scopeSpans": [
        {
          "scope": {"name": "crstel", "version": "1.0"},
          "spans": [
            {
              "traceId": "W47/95gDgQPSabYzgT/GDA==",
              "spanId": "7uGbfsPBsXQ=",
              "name": "generate_patch",
              "kind": "SPAN_KIND_INTERNAL",
              "startTimeUnixNano": 1700000000000000000,
              "endTimeUnixNano": 1700000001000000000,
              "attributes": [
                {"key": "crs.action.category", "value": {"stringValue": "patch_generation"}},
                {"key": "crs.action.effort.weight", "value": {"intValue": 8}}
              ],
              "events": [{"timeUnixNano": "1700000000500000000", "name": "e", "attributes": [{"key": "n", "value": {"intValue": "-7"}}]}],
              "links": [{"traceId": "AAAAAAAAAAAAAAAAAAAAAQ", "spanId": "AAAAAAAAAAI"}],
              "status": {"code": "STATUS_CODE_ERROR", "message": "boom"}
            }
          ]
        }
      ]
    }
  ]
}
`

func TestReaderForms(t *testing.T) {
	want := Span{
		TraceID:    [16]byte{0x5b, 0x8e, 0xff, 0xf7, 0x98, 0x03, 0x81, 0x03, 0xd2, 0x69, 0xb6, 0x33, 0x81, 0x3f, 0xc6, 0x0c},
		SpanID:     [8]byte{0xee, 0xe1, 0x9b, 0x7e, 0xc3, 0xc1, 0xb1, 0x74},
		Name:       "generate_patch",
		Kind:       1,
		StartTime:  time.Unix(1700000000, 0),
		EndTime:    time.Unix(1700000001, 0),
		Attributes: []KeyValue{{"crs.action.category", "patch_generation"}, {"crs.action.effort.weight", int64(8)}},
		Events:     []Event{{Name: "e", Time: time.Unix(1700000000, 5e8), Attributes: []KeyValue{{"n", int64(-7)}}}},
		Links:      []Link{{TraceID: [16]byte{15: 1}, SpanID: [8]byte{7: 2}}},
		StatusCode: 2, StatusMessage: "boom",
		Resource: []KeyValue{{"service.name", "patcher"}},
		Scope:    "crstel", ScopeVersion: "1.0",
	}
	for _, tt := range []struct {
		name, input string
		spans       int
	}{
		{"JSON Lines", line + "\n" + line + "\n", 2},
		{"blank lines, CRLF, no final line feed", "\r\n" + line + "\r\n\n" + line, 2},
		{"byte order mark", "\xef\xbb\xbf" + line + "\n", 1},
		{"one document", document, 1},
		{"two documents", document + "\n" + document, 2},
		{"empty", "", 0},
		{"no spans", `{"resourceSpans":[]}` + "\n" + `{}` + "\n" + `{"resourceMetrics":[{}]}`, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			spans, err := readAll(tt.input, 0)
			if err != nil {
				t.Fatal(err)
			}
			if len(spans) != tt.spans {
				t.Fatalf("got %d spans, want %d", len(spans), tt.spans)
			}
			for _, s := range spans {
				if !reflect.DeepEqual(s, want) {
					t.Errorf("got\n%+v\nwant\n%+v", s, want)
				}
			}
		})
	}
}

func TestReaderValues(t *testing.T) {
	input := `{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"5b8efff798038103d269b633813fc60c","attributes":[` +
		`{"key":"s","value":{"stringValue":"a\u001b[2J"}},` +
		`{"key":"b","value":{"boolValue":true}},` +
		`{"key":"big","value":{"intValue":"9007199254740993"}},` +
		`{"key":"d","value":{"doubleValue":1.5}},` +
		`{"key":"ds","value":{"doubleValue":"2.5"}},` +
		`{"key":"inf","value":{"doubleValue":"-Infinity"}},` +
		`{"key":"bytes","value":{"bytesValue":"AQI="}},` +
		`{"key":"bytes raw url","value":{"bytesValue":"-_8"}},` +
		`{"key":"strings","value":{"arrayValue":{"values":[{"stringValue":"inputA"},{"stringValue":"inputB"}]}}},` +
		`{"key":"mixed","value":{"arrayValue":{"values":[{"intValue":"1"},{"arrayValue":{}}]}}},` +
		`{"key":"kv","value":{"kvlistValue":{"values":[{"key":"a","value":{"boolValue":false}}]}}},` +
		`{"key":"empty","value":{}},` +
		`{"key":"null","value":{"intValue":null}}]}]}]}]}`
	spans, err := readAll(input, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := []KeyValue{
		{"s", "a\x1b[2J"}, {"b", true}, {"big", int64(9007199254740993)}, {"d", 1.5}, {"ds", 2.5}, {"inf", math.Inf(-1)},
		{"bytes", []byte{1, 2}}, {"bytes raw url", []byte{0xfb, 0xff}}, {"strings", []any{"inputA", "inputB"}},
		{"mixed", []any{int64(1), []any{}}}, {"kv", map[string]any{"a": false}}, {"empty", nil}, {"null", nil},
	}
	if got := spans[0].Attributes; !reflect.DeepEqual(got, want) {
		t.Errorf("got\n%#v\nwant\n%#v", got, want)
	}
	if spans[0].Resource != nil || spans[0].SpanID != [8]byte{} {
		t.Errorf("resource %v, span id %x; want none, zero", spans[0].Resource, spans[0].SpanID)
	}
}

func TestReaderErrors(t *testing.T) {
	cut := line[:len(line)/2]
	for _, tt := range []struct {
		name, input string
		line        int
		want        string
	}{
		{"a line cut in a string", line + "\n" + `{"resourceSpans":[{"res` + "\n" + line, 2, "the line ends inside a JSON string: it is cut off"},
		{"a line cut between values", line + "\n" + cut[:strings.LastIndex(cut, ",")+1] + "\n" + line, 2, "does not end on its line"},
		{"a line cut at the end of the input", line + "\n\n" + `{"resourceSpans":[`, 3, "does not end on its line: the line is cut off"},
		{"a line, then a document", line + "\n" + document, 2, "does not end on its line"},
		{"a document cut", document + document[:strings.Index(document, `"spans"`)], 1 + lineOf(document, "}\n$"), "the input ends inside the JSON value that starts here"},
		{"a document cut in a string", document + document[:strings.Index(document, `"spans"`)+3], lineOf(document, "}\n$") + lineOf(document, `"spans"`),
			"the line ends inside a JSON string"},
		{"invalid JSON", line + "\n" + `{"resourceSpans":[}` + "\n", 2, "invalid JSON: invalid character '}'"},
		{"invalid JSON deep in a document", strings.Replace(document, `"name": "e"`, `"name": e`, 1), lineOf(document, `"name": "e"`), "invalid JSON: invalid character 'e'"},
		{"two values on a line", `{} {}`, 1, "invalid JSON: invalid character '{' after top-level value"},
		{"not an object", line + "\n" + `[1]`, 2, "not a JSON object"},
		{"text", "hello\n", 1, "not a JSON object"},
		{"a wrong type", `{"resourceSpans":[{"scopeSpans":[{"spans":[{"name":5}]}]}]}`, 1,
			"resourceSpans.scopeSpans.spans.name is a JSON number, want a string"},
		{"a wrong type in a document", strings.Replace(document, `"version": "1.0"`, `"version": 1`, 1), lineOf(document, `"version"`), "resourceSpans.scopeSpans.scope.version is a JSON number"},
		{"a bad trace id", strings.Replace(line, "5B8EFFF7", "5B8EFFFZ", 1), 1,
			`resourceSpans[0].scopeSpans[0].spans[0] (name "generate_patch"): traceId "5B8EFFFZ98038103D269B633813FC60C" is not an id: want 32 hex digits, or 16 bytes in base64`},
		{"a short span id", strings.Replace(line, `"eee19b7ec3c1b174"`, `"eee1"`, 1), 1, `spanId "eee1" is not an id`},
		{"a bad parent id", strings.Replace(line, `"parentSpanId":""`, `"parentSpanId":"x"`, 1), 1, `parentSpanId "x" is not an id`},
		{"a bad link id", strings.Replace(line, `"spanId":"0000000000000002"`, `"spanId":"2"`, 1), 1, `links[0].spanId "2" is not an id`},
		{"a bad int", strings.Replace(line, `{"intValue":"8"}`, `{"intValue":"8.5"}`, 1), 1,
			`attribute "crs.action.effort.weight": intValue "8.5" is not a 64-bit integer`},
		{"an int out of range", strings.Replace(line, `{"intValue":"8"}`, `{"intValue":"9223372036854775808"}`, 1), 1, "is not a 64-bit integer"},
		{"a bad double", strings.Replace(line, `{"intValue":"8"}`, `{"doubleValue":"lots"}`, 1), 1, `doubleValue "lots" is not a number`},
		{"bad bytes", strings.Replace(line, `{"intValue":"8"}`, `{"bytesValue":"!!"}`, 1), 1, `bytesValue "!!" is not base64`},
		{"a bad array element", strings.Replace(line, `{"intValue":"8"}`, `{"arrayValue":{"values":[{},{"intValue":"x"}]}}`, 1), 1, `arrayValue[1]: intValue "x"`},
		{"a bad kvlist value", strings.Replace(line, `{"intValue":"8"}`, `{"kvlistValue":{"values":[{"key":"k","value":{"intValue":true}}]}}`, 1), 1, `kvlistValue "k": intValue "true"`},
		{"a bad kind", strings.Replace(line, `"kind":1`, `"kind":"SPAN_KIND_SOMETIMES"`, 1), 1, `kind "SPAN_KIND_SOMETIMES" is neither a number nor a name`},
		{"a bad status", strings.Replace(line, `"code":2`, `"code":1e40`, 1), 1, `status.code "1e40" is neither`},
		{"a bad time", strings.Replace(line, `"startTimeUnixNano":"1700000000000000000"`, `"startTimeUnixNano":"-1"`, 1), 1, `startTimeUnixNano "-1" is not a time`},
		{"a bad event time", strings.Replace(line, `"timeUnixNano":"1700000000500000000"`, `"timeUnixNano":"x"`, 1), 1, `events[0].timeUnixNano "x"`},
		{"a bad event attribute", strings.Replace(line, `{"intValue":-7}`, `{"intValue":-7.5}`, 1), 1, `events[0].attributes: attribute "n"`},
		{"a bad resource", strings.Replace(line, `{"stringValue":"patcher"}`, `{"bytesValue":"*"}`, 1), 1, `resourceSpans[0].resource: attribute "service.name"`},
		{"a huge name, cut", strings.Replace(line, `"spanId":"eee19b7ec3c1b174","parentSpanId":"","name":"generate_patch"`,
			`"spanId":"x","name":"`+strings.Repeat("n", 1000)+`"`, 1), 1, `(name "` + strings.Repeat("n", 64) + `"... (1000 bytes)): spanId "x"`},
		{"gzip", "\x1f\x8b\x08\x00", 1, "compressed with gzip"},
		{"zstd", "\x28\xb5\x2f\xfd", 1, "compressed with zstd"},
		{"protobuf", "\n\x8a\x01\x00\x12", 2, "binary data, not OTLP JSON"},
		{"invalid UTF-8", "\x8a\x01\n", 1, "binary data, not OTLP JSON"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := readAll(tt.input, 0)
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("got %v, want an *Error", err)
			}
			if e.Line != tt.line || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %q (line %d), want line %d and %q", err, e.Line, tt.line, tt.want)
			}
			if !strings.HasPrefix(err.Error(), "line ") {
				t.Errorf("%q does not start with its line", err)
			}
		})
	}
}

// lineOf returns the line of s where the regular expression re first
// matches.
func lineOf(s, re string) int {
	return strings.Count(s[:regexp.MustCompile(re).FindStringIndex(s)[0]], "\n") + 1
}

// countingReader counts the bytes read from it.
type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

// endless is an endless line of spaces.
type endless struct{}

func (endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = ' '
	}
	return len(p), nil
}

func TestReaderMaxValue(t *testing.T) {
	const maxValue = 1 << 20
	for _, tt := range []struct {
		name  string
		input io.Reader
		line  int
	}{
		{"an endless line", io.MultiReader(strings.NewReader(line+"\n"+line+"\n{"), endless{}), 3},
		{"an endless document", io.MultiReader(strings.NewReader(document+document+"{\n"), strings.NewReader(strings.Repeat(`"a": 1,`+"\n", maxValue))),
			2*strings.Count(document, "\n") + 1 + maxValue/8},
	} {
		t.Run(tt.name, func(t *testing.T) {
			in := &countingReader{r: tt.input}
			r := NewReader(in)
			r.MaxValue = maxValue
			for range 2 {
				if spans, err := r.Next(); len(spans) != 1 || err != nil {
					t.Fatalf("got %d spans, %v; want 1", len(spans), err)
				}
			}
			_, err := r.Next()
			var e *Error
			if !errors.As(err, &e) || e.Line != tt.line || !strings.Contains(err.Error(), "longer than 1 MiB: it is read no further") {
				t.Fatalf("got %v, want an error at line %d about a value longer than 1 MiB", err, tt.line)
			}
			if in.n > 2*maxValue {
				t.Errorf("read %d bytes, want at most about 1 MiB", in.n)
			}
			if _, again := r.Next(); again != err {
				t.Errorf("Next after an error: %v, want the error again", again)
			}
		})
	}
	// A value of the size allowed passes.
	spans, err := readAll(line+"\n", len(line)+1)
	if err != nil || len(spans) != 1 {
		t.Errorf("a line of the size allowed: %d spans, %v", len(spans), err)
	}
}

// FuzzOTLPJSON: whatever the input, the Reader never panics, ends, and
// every error names a line of the input.
func FuzzOTLPJSON(f *testing.F) {
	for _, s := range []string{line, document, line + "\n" + line, "", "{\n", `{"resourceSpans":[{"scopeSpans":[{"spans":[{}]}]}]}`,
		`{"resourceSpans":[{"scopeSpans":[{"spans":[{"attributes":[{"key":"k","value":{"arrayValue":{"values":[{"kvlistValue":{}}]}}}]}]}]}]}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r := NewReader(strings.NewReader(string(data)))
		r.MaxValue = 4 << 10
		lines := strings.Count(string(data), "\n") + 1
		for range lines + 1 {
			_, err := r.Next()
			if err == io.EOF {
				return
			}
			if err != nil {
				var e *Error
				if !errors.As(err, &e) || e.Line < 1 || e.Line > lines {
					t.Fatalf("error %q: want one at a line from 1 to %d", err, lines)
				}
				return
			}
		}
		t.Fatalf("Next did not end after %d lines", lines)
	})
}

func TestValue(t *testing.T) {
	for _, tt := range []struct {
		in   any
		want attribute.Value
	}{
		{nil, attribute.Value{}},
		{[]any{}, attribute.StringSliceValue(nil)},
		{[]any{"a", "b"}, attribute.StringSliceValue([]string{"a", "b"})},
		{[]any{int64(1), "b"}, attribute.SliceValue(attribute.Int64Value(1), attribute.StringValue("b"))},
		{map[string]any{"b": []any{true}, "a": 1.5}, attribute.MapValue(attribute.Float64("a", 1.5), attribute.BoolSlice("b", []bool{true}))},
		{7, attribute.StringValue("7")},
	} {
		if got := Value(tt.in); got.Type() != tt.want.Type() || got.String() != tt.want.String() {
			t.Errorf("Value(%#v) = %s %s, want %s %s", tt.in, got.Type(), got, tt.want.Type(), tt.want)
		}
	}
}
