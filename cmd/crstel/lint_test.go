package main

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/attribute"

	"github.com/crstel/crstel/crs"
	"github.com/crstel/crstel/crs/conform"
	"github.com/crstel/crstel/crs/conform/conformtest"
)

// form is how a test writes OTLP JSON: as the specification says (hex ids,
// 64-bit integers as strings, one TracesData a line), or as the protobuf
// JSON mapping may (ids in base64, integers as numbers), in one indented
// document.
type form struct {
	base64, numbers, document bool
}

var (
	jsonLines   = form{}
	oneDocument = form{base64: true, numbers: true, document: true}
)

// otlpJSON returns the spans as OTLP JSON in form f, built with
// encoding/json from the spans' fields: one resourceSpans a span.
func otlpJSON(t testing.TB, f form, spans ...conformtest.Span) []byte {
	t.Helper()
	id := func(b []byte) string {
		if f.base64 {
			return base64.StdEncoding.EncodeToString(b)
		}
		return hex.EncodeToString(b)
	}
	var resourceSpans []any
	for _, s := range spans {
		var res []any
		switch {
		case s.ServiceInt:
			n, _ := strconv.Atoi(s.Service)
			res = append(res, keyValueJSON(f, attribute.Int("service.name", n)))
		case s.Service != "":
			res = append(res, keyValueJSON(f, attribute.String("service.name", s.Service)))
		}
		attrs := []any{}
		for _, kv := range s.Attributes {
			attrs = append(attrs, keyValueJSON(f, kv))
		}
		span := map[string]any{
			"traceId":           id(bytes.Repeat([]byte{s.Trace}, 16)),
			"spanId":            id(bytes.Repeat([]byte{s.ID}, 8)),
			"name":              s.Name,
			"kind":              1,
			"startTimeUnixNano": "1700000000000000000",
			"endTimeUnixNano":   "1700000001000000000",
			"attributes":        attrs,
			"status":            map[string]any{},
		}
		if s.Parent != 0 {
			span["parentSpanId"] = id(bytes.Repeat([]byte{s.Parent}, 8))
		}
		resourceSpans = append(resourceSpans, map[string]any{
			"resource":   map[string]any{"attributes": res},
			"scopeSpans": []any{map[string]any{"scope": map[string]any{"name": "lint_test"}, "spans": []any{span}}},
		})
	}
	if f.document {
		b, err := json.MarshalIndent(map[string]any{"resourceSpans": resourceSpans}, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		return append(b, '\n')
	}
	var out []byte
	for _, rs := range resourceSpans {
		b, err := json.Marshal(map[string]any{"resourceSpans": []any{rs}})
		if err != nil {
			t.Fatal(err)
		}
		out = append(append(out, b...), '\n')
	}
	return out
}

// keyValueJSON returns kv as an OTLP JSON KeyValue.
func keyValueJSON(f form, kv attribute.KeyValue) map[string]any {
	return map[string]any{"key": string(kv.Key), "value": anyValueJSON(f, kv.Value)}
}

// anyValueJSON returns v as an OTLP JSON AnyValue.
func anyValueJSON(f form, v attribute.Value) map[string]any {
	array := func(n int, e func(i int) attribute.Value) map[string]any {
		values := []any{}
		for i := range n {
			values = append(values, anyValueJSON(f, e(i)))
		}
		return map[string]any{"arrayValue": map[string]any{"values": values}}
	}
	switch v.Type() {
	case attribute.STRING:
		return map[string]any{"stringValue": v.AsString()}
	case attribute.BOOL:
		return map[string]any{"boolValue": v.AsBool()}
	case attribute.INT64:
		if f.numbers {
			return map[string]any{"intValue": v.AsInt64()}
		}
		return map[string]any{"intValue": strconv.FormatInt(v.AsInt64(), 10)}
	case attribute.FLOAT64:
		return map[string]any{"doubleValue": v.AsFloat64()}
	case attribute.STRINGSLICE:
		s := v.AsStringSlice()
		return array(len(s), func(i int) attribute.Value { return attribute.StringValue(s[i]) })
	case attribute.INT64SLICE:
		n := v.AsInt64Slice()
		return array(len(n), func(i int) attribute.Value { return attribute.Int64Value(n[i]) })
	case attribute.BOOLSLICE:
		b := v.AsBoolSlice()
		return array(len(b), func(i int) attribute.Value { return attribute.BoolValue(b[i]) })
	case attribute.FLOAT64SLICE:
		d := v.AsFloat64Slice()
		return array(len(d), func(i int) attribute.Value { return attribute.Float64Value(d[i]) })
	case attribute.BYTESLICE:
		return map[string]any{"bytesValue": base64.StdEncoding.EncodeToString(v.AsByteSlice())}
	case attribute.SLICE:
		s := v.AsSlice()
		return array(len(s), func(i int) attribute.Value { return s[i] })
	case attribute.MAP:
		values := []any{}
		for _, kv := range v.AsMap() {
			values = append(values, keyValueJSON(f, kv))
		}
		return map[string]any{"kvlistValue": map[string]any{"values": values}}
	}
	return map[string]any{}
}

// TestLintCases: the rulebook's cases through OTLP JSON, as "crstel lint"
// reads it, in both forms.
func TestLintCases(t *testing.T) {
	for name, f := range map[string]form{"JSON Lines": jsonLines, "one document": oneDocument} {
		t.Run(name, func(t *testing.T) {
			conformtest.Test(t, func(c conformtest.Case) []conformtest.Got {
				l := newLinter(c.Config)
				if err := l.read("case", bytes.NewReader(otlpJSON(t, f, c.Spans...))); err != nil {
					t.Fatalf("read: %v", err)
				}
				if len(l.spans) != len(c.Spans) {
					t.Fatalf("read %d spans, want %d", len(l.spans), len(c.Spans))
				}
				var got []conformtest.Got
				l.check(func(i int, f conform.Finding) {
					got = append(got, conformtest.Got{Span: i, Rule: f.Rule, Key: f.Key})
				})
				return got
			})
		})
	}
}

// TestLintValues: values of every OTLP type reach the rules with their
// types: the rules compare types.
func TestLintValues(t *testing.T) {
	for _, tt := range []struct {
		json string
		want attribute.Value
	}{
		{`{"stringValue":"s"}`, attribute.StringValue("s")},
		{`{"boolValue":true}`, attribute.BoolValue(true)},
		{`{"intValue":"8"}`, attribute.Int64Value(8)},
		{`{"intValue":8}`, attribute.Int64Value(8)},
		{`{"doubleValue":1.5}`, attribute.Float64Value(1.5)},
		{`{"bytesValue":"AQI="}`, attribute.ByteSliceValue([]byte{1, 2})},
		{`{"arrayValue":{"values":[{"stringValue":"a"},{"stringValue":"b"}]}}`, attribute.StringSliceValue([]string{"a", "b"})},
		{`{"arrayValue":{}}`, attribute.StringSliceValue(nil)},
		{`{"arrayValue":{"values":[{"intValue":"1"},{"intValue":2}]}}`, attribute.Int64SliceValue([]int64{1, 2})},
		{`{"arrayValue":{"values":[{"boolValue":true}]}}`, attribute.BoolSliceValue([]bool{true})},
		{`{"arrayValue":{"values":[{"doubleValue":0.5}]}}`, attribute.Float64SliceValue([]float64{0.5})},
		{`{"arrayValue":{"values":[{"intValue":"1"},{"stringValue":"s"}]}}`, attribute.SliceValue(attribute.Int64Value(1), attribute.StringValue("s"))},
		{`{"kvlistValue":{"values":[{"key":"b","value":{"intValue":"1"}},{"key":"a","value":{}}]}}`,
			attribute.MapValue(attribute.KeyValue{Key: "a"}, attribute.Int("b", 1))},
		{`{}`, attribute.Value{}},
	} {
		doc := `{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"01010101010101010101010101010101","spanId":"0101010101010101",` +
			`"attributes":[{"key":"k","value":` + tt.json + `}]}]}]}]}`
		l := newLinter(conform.Config{})
		if err := l.read("values", strings.NewReader(doc)); err != nil {
			t.Fatalf("%s: %v", tt.json, err)
		}
		got, _ := l.spans[0].Attr("k")
		if got.Type() != tt.want.Type() || got.String() != tt.want.String() {
			t.Errorf("%s: got %s %s, want %s %s", tt.json, got.Type(), got.String(), tt.want.Type(), tt.want.String())
		}
	}
}

// metadata are the attributes of the task of the tests' recordings.
var metadata = []attribute.KeyValue{
	attribute.String("round.id", "round-1"), attribute.String("task.id", "task-1"), attribute.String("team.id", "team-1"),
}

// actionAttrs returns the attributes of an action with the task's metadata.
func actionAttrs(c crs.Category, name string, kvs ...attribute.KeyValue) []attribute.KeyValue {
	return append(append([]attribute.KeyValue{crs.ActionCategory(c), crs.ActionName(name)}, metadata...), kvs...)
}

// writeFile writes data to the file name of dir and returns its path.
func writeFile(t testing.TB, dir, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// recording is a recording of three services and spans without a service,
// with the faults teams made: a string where an int goes, an id in an
// action's name, the specification's own typo, LLM spans without the CRS
// attributes and the task metadata.
func recording() []conformtest.Span {
	return []conformtest.Span{
		{Name: "generate_patch", Trace: 1, ID: 1, Service: "patcher",
			Attributes: actionAttrs(crs.PatchGeneration, "generate_patch", attribute.String("crs.action.effort.weight", "8"))},
		{Name: "chat gpt-4o", Trace: 1, ID: 2, Parent: 1, Service: "patcher", Attributes: []attribute.KeyValue{attribute.String("gen_ai.request.model", "gpt-4o")}},
		{Name: "chat gpt-4o", Trace: 1, ID: 3, Parent: 1, Service: "patcher", Attributes: []attribute.KeyValue{attribute.String("gen_ai.request.model", "gpt-4o")}},
		{Name: "patch task-42", Trace: 1, ID: 4, Parent: 1, Service: "patcher",
			Attributes: actionAttrs(crs.PatchGeneration, "patch task-42", attribute.String("crs.action.code.files", "vuln.c"))},
		{Name: "fuzz", Trace: 2, ID: 1, Service: "fuzzer", Attributes: actionAttrs(crs.Fuzzing, "run_fuzzer", attribute.String("fuzz.corpus.size", "1500"))},
		{Name: "fuzz", Trace: 2, ID: 2, Service: "fuzzer", Attributes: actionAttrs(crs.Fuzzing, "run_fuzzer", crs.FuzzCorpusSize(3))},
		{Name: "GET", Trace: 3, ID: 1, Attributes: actionAttrs(crs.Testing, "run_tests")},
		{Name: "build", Trace: 4, ID: 1, Service: "builder", Attributes: actionAttrs(crs.Building, "compile")},
	}
}

const wantRecording = `service "builder": 1 span, all conform

service "fuzzer": 2 spans, 1 violates the specification
  type_mismatch: 1 finding
    fuzz.corpus.size on 1 span:
      "fuzz": fuzz.corpus.size is a string "1500", want an int
      fix: send it as an int, not a string: crs.EffortWeight and
        crs.FuzzCorpusSize do in Go

service "patcher": 4 spans, 4 violate the specification
  missing_attribute: 4 findings
    crs.action.category on 2 spans:
      "chat gpt-4o" (2 spans): mandatory attribute crs.action.category missing
      fix: start spans with crstel.Action, or set crs.action.category on every
        span; the crs_conformance processor copies it from the enclosing action
    crs.action.name on 2 spans:
      "chat gpt-4o" (2 spans): mandatory attribute crs.action.name missing
      fix: start spans with crstel.Action, or set crs.action.name on every span;
        the crs_conformance processor copies it from the enclosing action
  type_mismatch: 1 finding
    crs.action.effort.weight on 1 span:
      "generate_patch": crs.action.effort.weight is a string "8", want an int
      fix: send it as an int, not a string: crs.EffortWeight and
        crs.FuzzCorpusSize do in Go
  invalid_name: 1 finding
    crs.action.name on 1 span:
      "patch task-42": crs.action.name "patch task-42" is not a valid action
        name: invalid action name "patch task-42": contains whitespace U+0020
      fix: use a low-cardinality lower_snake_case name, such as "patch_task-42";
        put ids in attributes
  misspelled_key: 1 finding
    crs.action.code.files on 1 span:
      "patch task-42": unknown key "crs.action.code.files" in the
        specification's namespace, a misspelling of crs.action.code.file
      fix: use crs.action.code.file
  missing_metadata: 6 findings
    round.id on 2 spans:
      "chat gpt-4o" (2 spans): task metadata round.id="round-1" of its trace
        missing
      fix: put the TaskDetail's metadata on every span of the task, not only on
        some
    task.id on 2 spans:
      "chat gpt-4o" (2 spans): task metadata task.id="task-1" of its trace
        missing
      fix: put the TaskDetail's metadata on every span of the task, not only on
        some
    team.id on 2 spans:
      "chat gpt-4o" (2 spans): task metadata team.id="team-1" of its trace
        missing
      fix: put the TaskDetail's metadata on every span of the task, not only on
        some

spans without a service.name: 1 span, 1 violates the specification
  missing_service_name: 1 finding
    service.name on 1 span:
      "GET": the resource has no string service.name
      fix: set OTEL_SERVICE_NAME, or service.name in the SDK's resource

Checked 8 spans (4 traces, 4 services): 6 spans of 3 services violate the CRS
Telemetry Specification v1.0, 15 violations in all.
`

// lintCmd runs "crstel lint" with args.
func lintCmd(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	return cmd(t, t.TempDir(), append([]string{"lint"}, args...)...)
}

func TestLintText(t *testing.T) {
	path := writeFile(t, t.TempDir(), "spans.jsonl", otlpJSON(t, jsonLines, recording()...))
	out, errOut, code := lintCmd(t, path)
	t.Logf("crstel lint spans.jsonl:\n%s", out)
	if code != 1 || errOut != "" {
		t.Errorf("exit %d, stderr %q; want 1 and nothing", code, errOut)
	}
	if out != wantRecording {
		t.Errorf("got\n%s\nwant\n%s", out, wantRecording)
	}
	checkWidth(t, out)
}

func TestLintClean(t *testing.T) {
	spans := []conformtest.Span{
		{Name: "generate_patch", Trace: 1, ID: 1, Service: "patcher", Attributes: actionAttrs(crs.PatchGeneration, "generate_patch", crs.EffortWeight(8))},
		{Name: "chat gpt-4o", Trace: 1, ID: 2, Parent: 1, Service: "patcher", Attributes: actionAttrs(crs.PatchGeneration, "generate_patch",
			attribute.String("gen_ai.request.model", "gpt-4o"), crs.FuzzCorpusAdditions(nil))},
	}
	for name, f := range map[string]form{"JSON Lines": jsonLines, "one document": oneDocument} {
		path := writeFile(t, t.TempDir(), "spans.json", otlpJSON(t, f, spans...))
		out, errOut, code := lintCmd(t, path)
		want := "service \"patcher\": 2 spans, all conform\n\nChecked 2 spans (1 trace, 1 service): all conform to the CRS Telemetry\nSpecification v1.0.\n"
		if code != 0 || errOut != "" || out != want {
			t.Errorf("%s: exit %d, stderr %q, stdout\n%s\nwant 0, nothing, and\n%s", name, code, errOut, out, want)
		}
	}
}

func TestLintJSON(t *testing.T) {
	path := writeFile(t, t.TempDir(), "spans.jsonl", otlpJSON(t, jsonLines, recording()...))
	out, errOut, code := lintCmd(t, "--json", path)
	if code != 1 || errOut != "" {
		t.Errorf("exit %d, stderr %q; want 1 and nothing", code, errOut)
	}
	// The field names, which scripts depend on.
	var doc map[string]any
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	fields := func(what string, m any, keys ...string) {
		t.Helper()
		obj, ok := m.(map[string]any)
		if !ok || len(obj) != len(keys) {
			t.Errorf("%s is %v, want an object with %q", what, m, keys)
			return
		}
		for _, k := range keys {
			if _, ok := obj[k]; !ok {
				t.Errorf("%s lacks %q: %v", what, k, m)
			}
		}
	}
	fields("the report", doc, "files", "require", "trace_metadata", "spans", "traces", "duplicates", "spans_with_violations",
		"violations", "improvements", "services")
	service := doc["services"].([]any)[2]
	fields("a service", service, "service", "spans", "spans_with_violations", "violations", "improvements", "rules")
	rule := service.(map[string]any)["rules"].([]any)[0]
	fields("a rule", rule, "rule", "level", "findings", "keys")
	key := rule.(map[string]any)["keys"].([]any)[0]
	fields("a key", key, "key", "spans", "findings", "examples", "more")
	fields("an example", key.(map[string]any)["examples"].([]any)[0], "span", "value", "message", "fix", "count")

	// The values.
	var rep lintReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Spans != 8 || rep.Traces != 4 || rep.Violations != 15 || rep.SpansWithViolations != 6 || rep.Duplicates != 0 ||
		strings.Join(rep.Files, " ") != path || len(rep.Require) != 0 || strings.Join(rep.TraceMetadata, " ") != "round.id task.id team.id" {
		t.Errorf("report %+v", rep)
	}
	var services, rules []string
	for _, s := range rep.Services {
		services = append(services, s.Service)
	}
	for _, r := range rep.Services[2].Rules {
		rules = append(rules, string(r.Rule)+" "+string(r.Level)+" "+strconv.Itoa(r.Findings))
	}
	if got, want := strings.Join(services, ","), "builder,fuzzer,patcher,"; got != want {
		t.Errorf("services %q, want %q (the one without a name last)", got, want)
	}
	if got, want := strings.Join(rules, ", "), "missing_attribute violation 4, type_mismatch violation 1, invalid_name violation 1, "+
		"misspelled_key violation 1, missing_metadata violation 6"; got != want {
		t.Errorf("patcher's rules: %s, want %s (in the order of conform.Rules)", got, want)
	}
	weight := rep.Services[2].Rules[1].Keys[0]
	wantWeight := keyReport{Key: crs.EffortWeightKey, Spans: 1, Findings: 1, Examples: []*example{{Span: `"generate_patch"`, Value: `"8"`,
		Message: `crs.action.effort.weight is a string "8", want an int`, Fix: "send it as an int, not a string: crs.EffortWeight and crs.FuzzCorpusSize do in Go", Count: 1}}}
	if got, _ := json.Marshal(weight); string(got) != string(must(json.Marshal(wantWeight))) {
		t.Errorf("the effort weight's finding: %s, want %s", got, must(json.Marshal(wantWeight)))
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// TestLintForms: both forms of OTLP JSON, read from files or the standard
// input, give the same report.
func TestLintForms(t *testing.T) {
	dir := t.TempDir()
	lines := otlpJSON(t, jsonLines, recording()...)
	linesPath := writeFile(t, dir, "spans.jsonl", lines)
	docPath := writeFile(t, dir, "spans.json", otlpJSON(t, oneDocument, recording()...))
	want, _, _ := lintCmd(t, "--json", linesPath)
	want = strings.Replace(want, linesPath, "FILE", 1)
	for _, tt := range []struct {
		name  string
		stdin []byte
		args  []string
	}{
		{"one document", nil, []string{docPath}},
		{"JSON Lines on the standard input", lines, []string{"-"}},
		{"one document on the standard input", otlpJSON(t, oneDocument, recording()...), []string{"-"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut string
			var code int
			if tt.stdin != nil {
				out, errOut, code = cmdChildInput(t, dir, bytes.NewReader(tt.stdin), append([]string{"lint", "--json"}, tt.args...)...)
				out = strings.Replace(out, `"-"`, `"FILE"`, 1)
			} else {
				out, errOut, code = lintCmd(t, append([]string{"--json"}, tt.args...)...)
				out = strings.Replace(out, tt.args[0], "FILE", 1)
			}
			if code != 1 || errOut != "" || out != want {
				t.Errorf("exit %d, stderr %q, stdout\n%s\nwant 1, nothing, and\n%s", code, errOut, out, want)
			}
		})
	}
	// The text report is the same from the standard input.
	out, errOut, code := cmdChildInput(t, dir, bytes.NewReader(lines), "lint", "-")
	if code != 1 || errOut != "" || out != wantRecording {
		t.Errorf("lint -: exit %d, stderr %q, stdout\n%s\nwant 1, nothing, and\n%s", code, errOut, out, wantRecording)
	}
}

func TestLintInputErrors(t *testing.T) {
	dir := t.TempDir()
	good := otlpJSON(t, jsonLines, recording()[:3]...)
	line := bytes.SplitAfter(good, []byte("\n"))[0]
	goodPath := writeFile(t, dir, "good.jsonl", good)
	badID := bytes.Replace(line, []byte(`"traceId":"01010101010101010101010101010101"`), []byte(`"traceId":"0101"`), 1)
	write := func(name string, data ...[]byte) string { return writeFile(t, dir, name, bytes.Join(data, nil)) }
	huge, err := os.Create(filepath.Join(dir, "huge.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	huge.Write(line)
	huge.WriteString(`{"resourceSpans":[`)
	huge.Write(bytes.Repeat([]byte{' '}, 65<<20))
	huge.WriteString("]}\n")
	huge.Close()

	const usageErr, input, violations = 0, 2, 1
	for _, tt := range []struct {
		name string
		args []string
		code int // usageErr: a usage error, exit code 2 with the usage
		want string
	}{
		{"bad JSON", []string{write("bad.jsonl", line, []byte("{\"resourceSpans\": [}\n"), line)}, input,
			"bad.jsonl:2: invalid JSON: invalid character '}' looking for beginning of value"},
		{"a line cut off", []string{write("cut.jsonl", line, line, line[:len(line)/2])}, input,
			"cut.jsonl:3: the line ends inside a JSON string: it is cut off"},
		{"a line cut off between values", []string{write("cut2.jsonl", line, line[:bytes.Index(line, []byte(`"attributes"`))])}, input,
			"cut2.jsonl:2: the JSON value does not end on its line: the line is cut off"},
		{"not JSON", []string{write("text.txt", []byte("hello\n"))}, input, "text.txt:1: not a JSON object"},
		{"a bad id", []string{write("id.jsonl", line, badID)}, input,
			`id.jsonl:2: resourceSpans[0].scopeSpans[0].spans[0] (name "generate_patch"): traceId "0101" is not an id: want 32 hex digits`},
		{"a bad file after a good one", []string{goodPath, write("bad2.jsonl", []byte("\n\n[]\n"))}, input, "bad2.jsonl:3: not a JSON object"},
		{"a line too long", []string{huge.Name()}, input, "huge.jsonl:2: a JSON value (a line, or a document over several lines) longer than 64 MiB"},
		{"gzip", []string{write("spans.jsonl.gz", []byte{0x1f, 0x8b, 8, 0})}, input, "spans.jsonl.gz:1: compressed with gzip, not OTLP JSON"},
		{"no such file", []string{filepath.Join(dir, "missing.jsonl")}, input, "missing.jsonl: no such file or directory"},
		{"a folder", []string{dir}, input, "is a folder, not a file of OTLP JSON"},
		{"a hostile name", []string{filepath.Join(dir, "\x1b[2J.jsonl")}, input, `\x1b[2J.jsonl: no such file`},
		{"empty", []string{write("empty.jsonl")}, violations, "lint: no spans in " + filepath.Join(dir, "empty.jsonl") + ": nothing was checked"},
		{"no spans", []string{write("metrics.jsonl", []byte(`{"resourceMetrics":[]}`+"\n"))}, violations, "no spans in"},
		{"no FILE", nil, usageErr, "lint: no FILE (- reads the standard input)"},
		{"an empty FILE", []string{""}, usageErr, "lint: empty FILE"},
		{"an empty key", []string{"--require", "task.id,,team.id", goodPath}, usageErr, `invalid value "task.id,,team.id" for flag -require: empty key`},
		{"an empty trace key", []string{"--trace-metadata", "task.id,", goodPath}, usageErr, "lint: --trace-metadata: empty key"},
		{"an unknown flag", []string{"--strict", goodPath}, usageErr, "flag provided but not defined: -strict"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, code := lintCmd(t, tt.args...)
			wantCode := max(tt.code, 2*btoi(tt.code == usageErr))
			if code != wantCode || out != "" || !strings.HasPrefix(errOut, "crstel: ") || !strings.Contains(errOut, tt.want) {
				t.Errorf("exit %d, stdout %q, stderr %q; want %d, nothing, and an error with %q", code, out, errOut, wantCode, tt.want)
			}
			if (tt.code == usageErr) != strings.Contains(errOut, "usage: ") {
				t.Errorf("stderr %q: want the usage with a usage error only", errOut)
			}
			if tt.code != usageErr && strings.Count(errOut, "\n") != 1 {
				t.Errorf("stderr %q: want one line", errOut)
			}
			checkWidth(t, strings.ReplaceAll(errOut, dir, "DIR"))
		})
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestLintStdinError: an error in the standard input names it.
func TestLintStdinError(t *testing.T) {
	dir := t.TempDir()
	path := writeFile(t, dir, "spans.jsonl", otlpJSON(t, jsonLines, recording()...))
	out, errOut, code := cmdChildInput(t, dir, strings.NewReader("\n{oops}\n"), "lint", path, "-")
	if code != 2 || out != "" || errOut != "crstel: <stdin>:2: invalid JSON: invalid character 'o' looking for beginning of object key string\n" {
		t.Errorf("exit %d, stdout %q, stderr %q; want 2, nothing, and the error at <stdin>:2", code, out, errOut)
	}
}

// TestLintHostile: values from the input reach the terminal escaped and
// cut, in lines of 80 columns, whatever they hold and however long they
// are.
func TestLintHostile(t *testing.T) {
	huge := strings.Repeat("\x1b[2J\u202e", 1<<18) // 1.75 MB
	spans := []conformtest.Span{
		{Name: "\x1b]0;pwned\x07" + huge, Trace: 1, ID: 1, Service: "svc\x1b[31m\n\u202eevil", Attributes: actionAttrs(crs.Testing, "run_tests",
			attribute.String("crs.action.effort.weight", huge), attribute.String("crs."+huge, "x"))},
		{Name: "\u200b", Trace: 1, ID: 2, Service: huge, Attributes: append(actionAttrs(crs.Testing, "run_tests\x1b[0m\r\n"),
			attribute.String("crs.action.category", "\x00\x7f\u0085\xff"))},
	}
	path := writeFile(t, t.TempDir(), "hostile.jsonl", otlpJSON(t, jsonLines, spans...))
	out, errOut, code := lintCmd(t, path)
	t.Logf("crstel lint hostile.jsonl:\n%s", out)
	if code != 1 || errOut != "" {
		t.Errorf("exit %d, stderr %q; want 1 and nothing", code, errOut)
	}
	checkWidth(t, "\n"+out)
	if len(out) > 8<<10 {
		t.Errorf("the report is %d bytes, want at most 8 KiB: values are cut", len(out))
	}
	for _, want := range []string{`service "svc\x1b[31m\n\u202eevil"`, `"\x1b]0;pwned\a\x1b[2J\u202e\x1b[2J`, "bytes)", `crs.action.category "\x00\x7f\u0085`, `"crs.\x1b[2J\u202e`} {
		if !strings.Contains(strings.ReplaceAll(out, "\n        ", " "), want) {
			t.Errorf("the report lacks %q", want)
		}
	}

	out, _, code = lintCmd(t, "--json", path)
	if code != 1 || hasRawControls(out) || !json.Valid([]byte(out)) {
		t.Errorf("--json: exit %d, valid %v, raw controls %v; want 1, valid JSON without them", code, json.Valid([]byte(out)), hasRawControls(out))
	}
	var rep lintReport
	json.Unmarshal([]byte(out), &rep)
	for _, s := range rep.Services {
		for _, r := range s.Rules {
			for _, k := range r.Keys {
				for _, e := range k.Examples {
					if len(e.Span) > 200 || len(e.Value) > 200 || len(e.Message) > 400 || len(e.Fix) > 400 {
						t.Errorf("--json: an example of %s is not cut: %d, %d, %d, %d bytes", r.Rule, len(e.Span), len(e.Value), len(e.Message), len(e.Fix))
					}
				}
			}
		}
	}
	if rep.Services[0].Service != huge {
		t.Errorf("--json: the service name is cut or changed, want it whole (%d bytes)", len(huge))
	}
}

// TestLintFiles: the spans of a trace are checked together, across files;
// spans read twice are checked once.
func TestLintFiles(t *testing.T) {
	dir := t.TempDir()
	root := conformtest.Span{Name: "generate_patch", Trace: 1, ID: 1, Service: "patcher", Attributes: actionAttrs(crs.PatchGeneration, "generate_patch")}
	child := conformtest.Span{Name: "chat gpt-4o", Trace: 1, ID: 2, Parent: 1, Service: "llm-proxy",
		Attributes: []attribute.KeyValue{crs.ActionCategory(crs.PatchGeneration), crs.ActionName("generate_patch"), metadata[1]}}
	a := writeFile(t, dir, "a.jsonl", otlpJSON(t, jsonLines, root))
	b := writeFile(t, dir, "b.json", otlpJSON(t, oneDocument, child))
	for _, tt := range []struct {
		args []string
		code int
		want []string
	}{
		{[]string{a}, 0, []string{"Checked 1 span (1 trace, 1 service): all conform"}},
		{[]string{b}, 0, []string{"Checked 1 span (1 trace, 1 service): all conform"}},
		{[]string{a, b}, 1, []string{`service "llm-proxy": 1 span, 1 violates`, `task metadata round.id="round-1" of its trace`,
			`task metadata team.id="team-1" of its trace`, `service "patcher": 1 span, all conform`, "Checked 2 spans (1 trace, 2 services)"}},
		{[]string{b, a, a}, 1, []string{"Checked 2 spans (1 trace, 2 services; 1 duplicate read again, checked once): 1 span of 1 service violates"}},
		{[]string{"--trace-metadata", "none", a, b}, 0, []string{"all conform"}},
		{[]string{"--trace-metadata", "", a, b}, 0, []string{"all conform"}},
		{[]string{"--trace-metadata", "team.id", a, b}, 1, []string{"team.id on 1 span", "1 violation in all"}},
		{[]string{"--require", "task.id", a, b}, 1, []string{"round.id on 1 span", "team.id on 1 span", "2 violations in all"}},
		{[]string{"--require", "run.id", "--require", "task.id,round.id", a, b}, 1, []string{
			`"generate_patch": task metadata run.id missing`, `"chat gpt-4o": task metadata run.id missing`, "task metadata round.id missing",
			"2 spans of 2 services violate", "4 violations in all"}},
	} {
		t.Run(strings.ReplaceAll(strings.Join(tt.args, " "), dir+"/", ""), func(t *testing.T) {
			out, errOut, code := lintCmd(t, tt.args...)
			if code != tt.code || errOut != "" {
				t.Errorf("exit %d, stderr %q; want %d and nothing", code, errOut, tt.code)
			}
			flat := strings.Join(strings.Fields(out), " ")
			for _, want := range tt.want {
				if !strings.Contains(flat, want) {
					t.Errorf("the report lacks %q:\n%s", want, out)
				}
			}
		})
	}
}

func TestLintHelp(t *testing.T) {
	for _, args := range [][]string{{"lint", "-h"}, {"lint", "--help"}, {"help"}} {
		out, errOut, code := cmd(t, t.TempDir(), args...)
		if code != 0 || errOut != "" || !strings.Contains(out, "crstel lint [--json] [--require KEYS] [--trace-metadata KEYS] FILE...") ||
			!strings.Contains(out, "lint exits with 1 when a span violates") {
			t.Errorf("%q: exit %d, stderr %q, stdout\n%s", args, code, errOut, out)
		}
	}
}

// FuzzLint: whatever the input, lint never panics, and its reports are
// valid JSON and text in lines of 80 columns without raw control
// characters.
func FuzzLint(f *testing.F) {
	f.Add(otlpJSON(f, jsonLines, recording()...))
	f.Add(otlpJSON(f, oneDocument, recording()[:2]...))
	f.Add([]byte(`{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"\u001b"}}]},"scopeSpans":[{"spans":[{"name":"\u202e","attributes":[{"key":"crs.action.category","value":{"kvlistValue":{}}}]}]}]}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		l := newLinter(conform.Config{RequiredMetadata: []string{"task.id"}})
		if err := l.read("fuzz", bytes.NewReader(data)); err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz:") {
				t.Fatalf("error %q does not name the input", err)
			}
			return
		}
		rep := l.report()
		var text, js bytes.Buffer
		if err := printLint(&text, rep); err != nil {
			t.Fatal(err)
		}
		for i, line := range strings.Split(text.String(), "\n") {
			if textWidth(line) > width || hasRawControls(line) {
				t.Fatalf("line %d: %q: wider than %d columns, or raw control characters", i+1, line, width)
			}
		}
		if err := writeJSON(&js, rep); err != nil || !json.Valid(js.Bytes()) || hasRawControls(js.String()) {
			t.Fatalf("--json: %v; valid %v: %s", err, json.Valid(js.Bytes()), js.Bytes())
		}
	})
}

// TestLintMore: a rule and key show the three most frequent examples, then
// count the others, however many.
func TestLintMore(t *testing.T) {
	var spans []conformtest.Span
	for i := range 150 {
		name := "GET /v1/task/" + strconv.Itoa(i)
		if i >= 140 {
			name = "chat gpt-4o" // 10 spans: the most frequent
		}
		spans = append(spans, conformtest.Span{Name: name, Trace: 1, ID: byte(i + 1), Service: "api",
			Attributes: append([]attribute.KeyValue{crs.ActionName("serve")}, metadata...)})
	}
	spans[1].Name = spans[0].Name // 2 spans: the second most frequent
	path := writeFile(t, t.TempDir(), "spans.jsonl", otlpJSON(t, jsonLines, spans...))
	out, _, code := lintCmd(t, path)
	want := `service "api": 150 spans, 150 violate the specification
  missing_attribute: 150 findings
    crs.action.category on 150 spans:
      "chat gpt-4o" (10 spans): mandatory attribute crs.action.category missing
      "GET /v1/task/0" (2 spans): mandatory attribute crs.action.category
        missing
      "GET /v1/task/2": mandatory attribute crs.action.category missing
      and 137 more spans
      fix: start spans with crstel.Action, or set crs.action.category on every
        span; the crs_conformance processor copies it from the enclosing action
`
	if code != 1 || !strings.HasPrefix(out, want) {
		t.Errorf("exit %d, report\n%s\nwant 1 and\n%s", code, out, want)
	}
	out, _, _ = lintCmd(t, "--json", path)
	var rep lintReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	k := rep.Services[0].Rules[0].Keys[0]
	if len(k.Examples) != 3 || k.More != 137 || k.Spans != 150 || k.Findings != 150 {
		t.Errorf("--json: %d examples, %d more, %d spans, %d findings; want 3, 137, 150, 150", len(k.Examples), k.More, k.Spans, k.Findings)
	}
}
