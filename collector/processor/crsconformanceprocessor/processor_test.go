package crsconformanceprocessor

import (
	"context"
	"maps"
	"slices"
	"strings"
	"testing"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/otel/attribute"

	"github.com/crstel/crstel/crs"
	"github.com/crstel/crstel/crs/conform"
	"github.com/crstel/crstel/crs/conform/conformtest"
)

// task is the task metadata of the tests' actions.
var task = []attribute.KeyValue{
	attribute.String("round.id", "round-1"), attribute.String("task.id", "task-1"), attribute.String("team.id", "team-1"),
}

// action returns the attributes of a conforming patch_generation action,
// with kvs.
func action(kvs ...attribute.KeyValue) []attribute.KeyValue {
	return append(append([]attribute.KeyValue{crs.ActionCategory(crs.PatchGeneration), crs.ActionName("generate_patch")}, task...), kvs...)
}

// llm returns the attributes of an OpenLIT chat span: gen_ai.* only.
func llm() []attribute.KeyValue {
	return []attribute.KeyValue{attribute.String("gen_ai.system", "openai"), attribute.String("gen_ai.request.model", "gpt-4o-mini"),
		attribute.Int("gen_ai.usage.input_tokens", 12)}
}

func span(name string, id, parent byte, kvs []attribute.KeyValue) conformtest.Span {
	return conformtest.Span{Name: name, Trace: 1, ID: id, Parent: parent, Service: "agent", Attributes: kvs}
}

// hexID returns the hex of the span id {id}.
func hexID(id byte) string { return pcommon.SpanID{id}.String() }

// llmMarks are the rules an LLM span breaks in the trace of an action
// when it inherits nothing.
var llmMarks = []string{"missing_attribute", "missing_attribute", "missing_metadata", "missing_metadata", "missing_metadata"}

var inheritedAll = []string{"crs.action.category", "crs.action.name", "round.id", "task.id", "team.id"}

func TestInheritance(t *testing.T) {
	tests := []struct {
		name  string
		cfg   func(*Config)
		spans []conformtest.Span
		// want: by span name, the keys inherited and from which span
		// (0: none), and the rules marked.
		want map[string]outcome
	}{
		{
			name:  "an OpenLIT child of an action",
			spans: []conformtest.Span{span("generate_patch", 1, 0, action()), span("chat gpt-4o-mini", 2, 1, llm())},
			want: map[string]outcome{
				"generate_patch":   {},
				"chat gpt-4o-mini": {inherited: inheritedAll, from: 1},
			},
		},
		{
			name: "through a span that is not an action",
			spans: []conformtest.Span{span("generate_patch", 1, 0, action()),
				span("POST", 2, 1, []attribute.KeyValue{attribute.String("http.request.method", "POST")}),
				span("chat gpt-4o-mini", 3, 2, llm())},
			want: map[string]outcome{
				"generate_patch":   {},
				"POST":             {inherited: inheritedAll, from: 1},
				"chat gpt-4o-mini": {inherited: inheritedAll, from: 1},
			},
		},
		{
			name: "child before parent in the batch",
			spans: []conformtest.Span{span("chat gpt-4o-mini", 3, 2, llm()),
				span("patch_test", 2, 1, []attribute.KeyValue{crs.ActionCategory(crs.Testing), crs.ActionName("patch_test")}),
				span("generate_patch", 1, 0, action())},
			want: map[string]outcome{
				"generate_patch":   {},
				"patch_test":       {inherited: []string{"round.id", "task.id", "team.id"}, from: 1},
				"chat gpt-4o-mini": {inherited: []string{"crs.action.category", "crs.action.name", "round.id", "task.id", "team.id"}, from: 2},
			},
		},
		{
			name:  "parent not in the batch",
			spans: []conformtest.Span{span("generate_patch", 1, 0, action()), span("chat gpt-4o-mini", 3, 2, llm())},
			want: map[string]outcome{
				"generate_patch":   {},
				"chat gpt-4o-mini": {marked: llmMarks},
			},
		},
		{
			name: "a span with a category of its own inherits no name",
			spans: []conformtest.Span{span("generate_patch", 1, 0, action()),
				span("child", 2, 1, []attribute.KeyValue{crs.ActionCategory(crs.Testing)})},
			want: map[string]outcome{
				"generate_patch": {},
				"child":          {inherited: []string{"round.id", "task.id", "team.id"}, from: 1, marked: []string{"missing_attribute"}},
			},
		},
		{
			name:  "inherit off",
			cfg:   func(c *Config) { c.Inherit = false },
			spans: []conformtest.Span{span("generate_patch", 1, 0, action()), span("chat", 2, 1, llm())},
			want: map[string]outcome{
				"generate_patch": {},
				"chat":           {marked: llmMarks},
			},
		},
		{
			name:  "missing_attribute observed: the metadata only",
			cfg:   func(c *Config) { c.Rules = map[string]Mode{"missing_attribute": ModeObserve} },
			spans: []conformtest.Span{span("generate_patch", 1, 0, action()), span("chat", 2, 1, llm())},
			want: map[string]outcome{
				"generate_patch": {},
				"chat":           {inherited: []string{"round.id", "task.id", "team.id"}, from: 1},
			},
		},
		{
			name: "required metadata is inherited too",
			cfg:  func(c *Config) { c.RequiredMetadata = []string{"challenge.id"} },
			spans: []conformtest.Span{span("generate_patch", 1, 0, action(attribute.String("challenge.id", "c-7"))),
				span("chat", 2, 1, llm())},
			want: map[string]outcome{
				"generate_patch": {},
				"chat":           {inherited: []string{"crs.action.category", "crs.action.name", "challenge.id", "round.id", "task.id", "team.id"}, from: 1},
			},
		},
		{
			name: "a cycle of parents",
			spans: []conformtest.Span{span("a", 1, 2, llm()), span("b", 2, 1, llm()),
				span("generate_patch", 3, 0, action())},
			want: map[string]outcome{
				"a":              {marked: llmMarks},
				"b":              {marked: llmMarks},
				"generate_patch": {},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := createDefaultConfig().(*Config)
			if tt.cfg != nil {
				tt.cfg(cfg)
			}
			got := newPipeline(t, cfg).run(t, tt.spans...)
			checkOutcomes(t, got, tt.want)
		})
	}
}

// outcome is what became of a span.
type outcome struct {
	inherited []string
	from      byte
	marked    []string // rules, sorted
	repaired  []string // rules
}

func checkOutcomes(t *testing.T, got map[string]ptrace.Span, want map[string]outcome) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("got %d spans, want %d", len(got), len(want))
	}
	for name, w := range want {
		s, ok := got[name]
		if !ok {
			t.Errorf("span %q: missing", name)
			continue
		}
		attrs := s.Attributes()
		if inh := strs(attrs, InheritedKeysKey); !slices.Equal(inh, w.inherited) {
			t.Errorf("span %q: inherited %v, want %v", name, inh, w.inherited)
		}
		from, _ := attrs.Get(InheritedFromKey)
		if wantFrom := ""; w.from != 0 || from.Str() != wantFrom {
			if w.from != 0 {
				wantFrom = hexID(w.from)
			}
			if from.Str() != wantFrom {
				t.Errorf("span %q: inherited from %q, want %q", name, from.Str(), wantFrom)
			}
		}
		marked := rulesOf(attrs, InvalidKey)
		slices.Sort(marked)
		if !slices.Equal(marked, w.marked) {
			t.Errorf("span %q: marked %q, want rules %v", name, strs(attrs, InvalidKey), w.marked)
		}
		if rep := rulesOf(attrs, RepairedKey); !slices.Equal(rep, w.repaired) {
			t.Errorf("span %q: repaired %q, want rules %v", name, strs(attrs, RepairedKey), w.repaired)
		}
	}
}

func TestRepair(t *testing.T) {
	tests := []struct {
		name     string
		kvs      []attribute.KeyValue
		wantKey  string
		want     any // the value after
		marked   []string
		repaired []string
	}{
		{name: "int as a decimal string", kvs: action(attribute.String("crs.action.effort.weight", "8")),
			wantKey: "crs.action.effort.weight", want: int64(8), repaired: []string{"type_mismatch"}},
		{name: "int as a double", kvs: action(attribute.Float64("fuzz.corpus.size", 1500)),
			wantKey: "fuzz.corpus.size", want: int64(1500), repaired: []string{"type_mismatch"}},
		{name: "bool as a string", kvs: action(attribute.String("fuzz.corpus.full_snapshot", "TRUE")),
			wantKey: "fuzz.corpus.full_snapshot", want: true, repaired: []string{"type_mismatch"}},
		{name: "not a decimal", kvs: action(attribute.String("crs.action.effort.weight", "8 cores")),
			wantKey: "crs.action.effort.weight", want: "8 cores", marked: []string{"type_mismatch"}},
		{name: "a double with a fraction", kvs: action(attribute.Float64("fuzz.corpus.size", 1.5)),
			wantKey: "fuzz.corpus.size", want: 1.5, marked: []string{"type_mismatch"}},
		{name: "a list as one string", kvs: action(attribute.String("fuzz.corpus.additions", "a,b")),
			wantKey: "fuzz.corpus.additions", want: "a,b", marked: []string{"type_mismatch"}},
		{name: "the specification's own typo", kvs: action(attribute.String("crs.action.code.files", "vuln_module.c")),
			wantKey: "crs.action.code.file", want: "vuln_module.c", repaired: []string{"misspelled_key"}},
		{name: "misspelled, the key taken", kvs: action(crs.CodeFile("a.c"), attribute.String("crs.action.code.files", "b.c")),
			wantKey: "crs.action.code.files", want: "b.c", marked: []string{"misspelled_key"}},
		{name: "misspelled, then the wrong type", kvs: action(attribute.String("crs.action.effort.weigth", "8")),
			wantKey: "crs.action.effort.weight", want: int64(8), repaired: []string{"misspelled_key", "type_mismatch"}},
		{name: "category in capitals", kvs: append(action()[1:], attribute.String("crs.action.category", "Fuzzing")),
			wantKey: "crs.action.category", want: "fuzzing", repaired: []string{"unknown_category"}},
		{name: "category with a hyphen", kvs: append(action()[1:], attribute.String("crs.action.category", "static-analysis")),
			wantKey: "crs.action.category", want: "static_analysis", repaired: []string{"unknown_category"}},
		{name: "unknown category", kvs: append(action()[1:], attribute.String("crs.action.category", "telemetry_init")),
			wantKey: "crs.action.category", want: "telemetry_init", marked: []string{"unknown_category"}},
		{name: "name with an id", kvs: append(slices.Delete(action(), 1, 2), attribute.String("crs.action.name", "patch task-42")),
			wantKey: "crs.action.name", want: "patch task-42", marked: []string{"invalid_name"}},
		{name: "bad form", kvs: action(attribute.String("crs.action.code.lines", "ten to fifty")),
			wantKey: "crs.action.code.lines", want: "ten to fifty", marked: []string{"invalid_value"}},
	}
	p := newPipeline(t, &Config{Mode: ModeRepair, Inherit: true, MaxServiceNames: 10})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := p.run(t, span("generate_patch", 1, 0, tt.kvs))
			attrs := got["generate_patch"].Attributes()
			v, ok := attrs.Get(tt.wantKey)
			if !ok || v.AsRaw() != tt.want {
				t.Errorf("%s = %v (%v), want %v (%T)", tt.wantKey, v.AsRaw(), v.Type(), tt.want, tt.want)
			}
			checkOutcomes(t, got, map[string]outcome{"generate_patch": {marked: tt.marked, repaired: tt.repaired}})
		})
	}
}

func TestRepairMessages(t *testing.T) {
	p := newPipeline(t, &Config{Mode: ModeRepair, Inherit: true, MaxServiceNames: 10})
	got := p.run(t, span("generate_patch", 1, 0, action(attribute.String("crs.action.effort.weight", "8"),
		attribute.String("crs.action.code.files", "a.c"))))
	want := []string{
		`type_mismatch: crs.action.effort.weight "8" (a string) set to 8 (an int)`,
		`misspelled_key: crs.action.code.files renamed to crs.action.code.file`,
	}
	if rep := strs(got["generate_patch"].Attributes(), RepairedKey); !slices.Equal(rep, want) {
		t.Errorf("%s = %q, want %q", RepairedKey, rep, want)
	}
}

func TestMark(t *testing.T) {
	p := newPipeline(t, nil)
	got := p.run(t, span("generate_patch", 1, 0, action(attribute.String("crs.action.effort.weight", "8"),
		attribute.StringSlice("crstel.invalid", []string{`crs: unknown action category "x"`}))))
	attrs := got["generate_patch"].Attributes()
	want := []string{
		`crs: unknown action category "x"`,
		`type_mismatch: crs.action.effort.weight is a string "8", want an int; fix: send it as an int, not a string: crs.EffortWeight and crs.FuzzCorpusSize do in Go`,
	}
	if marks := strs(attrs, InvalidKey); !slices.Equal(marks, want) {
		t.Errorf("%s = %q, want %q", InvalidKey, marks, want)
	}
	// Through a second processor, as in an agent and a gateway: the marks
	// stay as they are.
	td := ptrace.NewTraces()
	p.sink.AllTraces()[0].CopyTo(td)
	p.sink.Reset()
	if err := p.traces.ConsumeTraces(context.Background(), td); err != nil {
		t.Fatal(err)
	}
	if marks := strs(spansByName(p.sink.AllTraces())["generate_patch"].Attributes(), InvalidKey); !slices.Equal(marks, want) {
		t.Errorf("marked again: %s = %q, want %q", InvalidKey, marks, want)
	}
}

func TestDrop(t *testing.T) {
	p := newPipeline(t, &Config{Mode: ModeMark, Rules: map[string]Mode{"type_mismatch": ModeDrop}, Inherit: true, MaxServiceNames: 10})
	got := p.run(t, span("generate_patch", 1, 0, action()),
		span("bad", 2, 1, action(attribute.String("fuzz.corpus.size", "1"))),
		span("misspelled", 3, 1, action(attribute.String("crs.code.file", "a.c"))))
	checkOutcomes(t, got, map[string]outcome{"generate_patch": {}, "misspelled": {marked: []string{"misspelled_key"}}})

	// All dropped: nothing goes on.
	p.sink.Reset()
	if err := p.traces.ConsumeTraces(context.Background(), tracesOf([]conformtest.Span{
		span("bad", 2, 1, action(attribute.String("fuzz.corpus.size", "1")))})); err != nil {
		t.Fatal(err)
	}
	if n := p.sink.SpanCount(); n != 0 {
		t.Errorf("got %d spans, want none", n)
	}
}

func TestObserve(t *testing.T) {
	p := newPipeline(t, &Config{Mode: ModeObserve, Inherit: true, MaxServiceNames: 10})
	in := tracesOf([]conformtest.Span{span("generate_patch", 1, 0, action(attribute.String("fuzz.corpus.size", "1"))),
		span("chat", 2, 1, llm())})
	want := ptrace.NewTraces()
	in.CopyTo(want)
	if err := p.traces.ConsumeTraces(context.Background(), in); err != nil {
		t.Fatal(err)
	}
	m := ptrace.JSONMarshaler{}
	gotJSON, _ := m.MarshalTraces(p.sink.AllTraces()[0])
	wantJSON, _ := m.MarshalTraces(want)
	if string(gotJSON) != string(wantJSON) {
		t.Errorf("observe changed the spans:\ngot  %s\nwant %s", gotJSON, wantJSON)
	}
}

func TestLogs(t *testing.T) {
	p := newPipeline(t, nil)
	ld := logsOf("agent", []byte{1, 1, 0, 2, 1},
		action(),
		[]attribute.KeyValue{attribute.String("log.source", "python")},
		[]attribute.KeyValue{attribute.String("note", "outside any span")},
		[]attribute.KeyValue{attribute.String("note", "in a span of no action")},
		action(attribute.String("fuzz.corpus.size", "12")),
	)
	if err := p.logs.ConsumeLogs(context.Background(), ld); err != nil {
		t.Fatal(err)
	}
	recs := p.lsink.AllLogs()[0].ResourceLogs().At(0).ScopeLogs().At(0).LogRecords()
	type want struct {
		inherited []string
		marked    []string
	}
	wants := []want{
		{},
		{inherited: inheritedAll},
		{},
		{marked: llmMarks},
		{marked: []string{"type_mismatch"}},
	}
	if recs.Len() != len(wants) {
		t.Fatalf("got %d records, want %d", recs.Len(), len(wants))
	}
	for i, w := range wants {
		attrs := recs.At(i).Attributes()
		if got := strs(attrs, InheritedKeysKey); !slices.Equal(got, w.inherited) {
			t.Errorf("record %d: inherited %v, want %v", i, got, w.inherited)
		}
		if got := rulesOf(attrs, InvalidKey); !slices.Equal(got, w.marked) {
			t.Errorf("record %d: marked %q, want %v", i, strs(attrs, InvalidKey), w.marked)
		}
	}
}

// TestLogsLifecycle: span lifecycle records, which carry their span's
// ids and the span in their body, not its attributes, are neither checked
// nor counted, in every mode; a record whose span.state is something else
// is an ordinary record, and checked.
func TestLogsLifecycle(t *testing.T) {
	for _, mode := range []Mode{ModeMark, ModeDrop} {
		t.Run(string(mode), func(t *testing.T) {
			p := newPipeline(t, &Config{Mode: mode, Inherit: true, MaxServiceNames: 10})
			ld := logsOf("agent", []byte{1, 1, 1, 1},
				[]attribute.KeyValue{attribute.String("span.state", "heartbeat"), attribute.String("log.body.type", "json/v1")},
				[]attribute.KeyValue{attribute.String("span.state", "ended"), attribute.String("log.body.type", "json/v1")},
				[]attribute.KeyValue{attribute.String("span.state", "paused")},
				[]attribute.KeyValue{attribute.Int("span.state", 1)},
			)
			if err := p.logs.ConsumeLogs(context.Background(), ld); err != nil {
				t.Fatal(err)
			}
			got := map[string][]string{}
			for _, ld := range p.lsink.AllLogs() {
				recs := ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords()
				for i := range recs.Len() {
					got[recs.At(i).Body().Str()] = rulesOf(recs.At(i).Attributes(), InvalidKey)
				}
			}
			want := map[string][]string{"record a": nil, "record b": nil}
			if mode == ModeMark {
				marks := []string{"missing_attribute", "missing_attribute"}
				want["record c"], want["record d"] = marks, marks
			}
			if !maps.EqualFunc(got, want, slices.Equal) {
				t.Errorf("records and their marks: got %v, want %v", got, want)
			}
		})
	}
}

func TestLogsDrop(t *testing.T) {
	p := newPipeline(t, &Config{Mode: ModeDrop, Inherit: true, MaxServiceNames: 10})
	ld := logsOf("agent", []byte{1, 0, 1}, action(), nil, action(attribute.String("crs.code.file", "a.c")))
	if err := p.logs.ConsumeLogs(context.Background(), ld); err != nil {
		t.Fatal(err)
	}
	recs := p.lsink.AllLogs()[0].ResourceLogs().At(0).ScopeLogs().At(0).LogRecords()
	var bodies []string
	for i := range recs.Len() {
		bodies = append(bodies, recs.At(i).Body().Str())
	}
	if want := []string{"record a", "record b"}; !slices.Equal(bodies, want) {
		t.Errorf("records %v, want %v", bodies, want)
	}
}

// TestFindingsNameTheRule: every entry of crstel.invalid starts with a
// rule id, so that a query can count them.
func TestFindingsNameTheRule(t *testing.T) {
	p := newPipeline(t, nil)
	var spans []conformtest.Span
	for i, c := range conformtest.Cases() {
		for _, s := range c.Spans {
			s.Trace = byte(i + 1)
			spans = append(spans, s)
		}
	}
	if err := p.traces.ConsumeTraces(context.Background(), tracesOf(spans)); err != nil {
		t.Fatal(err)
	}
	for _, s := range spansByName(p.sink.AllTraces()) {
		for _, mark := range strs(s.Attributes(), InvalidKey) {
			rule, _, _ := strings.Cut(mark, ":")
			if rule != "crs" && !slices.Contains(conform.Rules(), conform.Rule(rule)) {
				t.Errorf("span %q: mark %q names no rule", s.Name(), mark)
			}
		}
	}
}
