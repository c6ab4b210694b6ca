// Package conformtest holds the cases every checker of the rulebook
// (package conform) is tested with: each adapter (the SDK's spans in
// crsteltest, pdata in the collector's crs_conformance processor, OTLP JSON
// in "crstel lint") turns a case's spans into its own representation, runs
// its checker, and must find exactly the case's findings. One table, so
// that the rules cannot drift between them.
package conformtest

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/attribute"

	"github.com/crstel/crstel/crs"
	"github.com/crstel/crstel/crs/conform"
)

// Span is a span of a case, in no particular representation.
type Span struct {
	Name string
	// Trace numbers the span's trace: spans with the same number are in
	// one trace.
	Trace byte
	// ID numbers the span in its trace; Parent the span it is a child of
	// (0: a root).
	ID, Parent byte
	// Service is the resource's service.name; "" for none. ServiceInt puts
	// it there as an int instead, which is not a string.
	Service    string
	ServiceInt bool
	Attributes []attribute.KeyValue
}

// Want is a finding a case expects: its rule, and the key concerned.
type Want struct {
	Span int // the index of the span in the case
	Rule conform.Rule
	Key  attribute.Key
}

// Case is a batch of spans checked together, with a configuration, and the
// findings expected: no more, no less.
type Case struct {
	Name   string
	Config conform.Config
	Spans  []Span
	Want   []Want
}

// conforming returns the attributes of a conforming action.
func conforming(kvs ...attribute.KeyValue) []attribute.KeyValue {
	return append([]attribute.KeyValue{
		crs.ActionCategory(crs.PatchGeneration), crs.ActionName("generate_patch"),
		attribute.String("round.id", "round-1"), attribute.String("task.id", "task-1"), attribute.String("team.id", "team-1"),
	}, kvs...)
}

// without returns kvs without key.
func without(kvs []attribute.KeyValue, key attribute.Key) []attribute.KeyValue {
	var out []attribute.KeyValue
	for _, kv := range kvs {
		if kv.Key != key {
			out = append(out, kv)
		}
	}
	return out
}

func one(name string, kvs []attribute.KeyValue, want ...Want) Case {
	return Case{Name: name, Spans: []Span{{Name: "generate_patch", Trace: 1, ID: 1, Service: "patcher", Attributes: kvs}}, Want: want}
}

// Cases returns the table: every rule broken in the ways teams broke it,
// and conforming spans that must pass.
func Cases() []Case {
	return []Case{
		one("conforming", conforming()),
		one("every optional attribute", conforming(crs.CodeFile("a.c"), crs.CodeLines(10, 50), crs.TargetHarness("h"),
			crs.EffortWeight(8), crs.GenAIID("chatcmpl-1"), crs.FuzzCorpusUpdateMethod("periodic"),
			attribute.String("fuzz.corpus.update.time", "2025-03-01T12:00:00Z"), crs.FuzzCorpusSize(1500),
			crs.FuzzCorpusAdditions([]string{"inputA", "inputB"}), crs.FuzzCorpusFullSnapshot(true))),
		one("other namespaces are not the specification's", conforming(attribute.Int("http.response.status_code", 200),
			attribute.String("gen_ai.request.model", "gpt-4o-mini"), attribute.Int("task.attempt", 3))),
		{Name: "no service.name", Spans: []Span{{Name: "x", Trace: 1, ID: 1, Attributes: conforming()}},
			Want: []Want{{0, conform.MissingServiceName, crs.ServiceNameKey}}},
		{Name: "service.name not a string", Spans: []Span{{Name: "x", Trace: 1, ID: 1, Service: "7", ServiceInt: true, Attributes: conforming()}},
			Want: []Want{{0, conform.MissingServiceName, crs.ServiceNameKey}}},
		one("no category", without(conforming(), crs.ActionCategoryKey), Want{0, conform.MissingAttribute, crs.ActionCategoryKey}),
		one("no name", without(conforming(), crs.ActionNameKey), Want{0, conform.MissingAttribute, crs.ActionNameKey}),
		one("unknown category", append(without(conforming(), crs.ActionCategoryKey), attribute.String("crs.action.category", "telemetry_init")),
			Want{0, conform.UnknownCategory, crs.ActionCategoryKey}),
		one("category in capitals", append(without(conforming(), crs.ActionCategoryKey), attribute.String("crs.action.category", "Fuzzing")),
			Want{0, conform.UnknownCategory, crs.ActionCategoryKey}),
		one("name with spaces", append(without(conforming(), crs.ActionNameKey), attribute.String("crs.action.name", "generate patch")),
			Want{0, conform.InvalidName, crs.ActionNameKey}),
		one("name with a task id", append(without(conforming(), crs.ActionNameKey), attribute.String("crs.action.name", "patch task-42")),
			Want{0, conform.InvalidName, crs.ActionNameKey}),
		one("effort weight as a string", conforming(attribute.String("crs.action.effort.weight", "8")),
			Want{0, conform.TypeMismatch, crs.EffortWeightKey}),
		one("corpus size as a string", conforming(attribute.String("fuzz.corpus.size", "1500")),
			Want{0, conform.TypeMismatch, crs.FuzzCorpusSizeKey}),
		one("full snapshot as a string", conforming(attribute.String("fuzz.corpus.full_snapshot", "true")),
			Want{0, conform.TypeMismatch, crs.FuzzCorpusFullSnapshotKey}),
		one("additions as a string", conforming(attribute.String("fuzz.corpus.additions", "inputA,inputB")),
			Want{0, conform.TypeMismatch, crs.FuzzCorpusAdditionsKey}),
		one("category as an int", append(without(conforming(), crs.ActionCategoryKey), attribute.Int("crs.action.category", 3)),
			Want{0, conform.TypeMismatch, crs.ActionCategoryKey}),
		one("LLM cost as a string", conforming(attribute.String("gen_ai.usage.cost.amount", "0.0123"), attribute.String("gen_ai.usage.cost.currency", "USD")),
			Want{0, conform.TypeMismatch, "gen_ai.usage.cost.amount"}),
		one("LLM cost as an int", conforming(attribute.Int("gen_ai.usage.cost.amount", 2)),
			Want{0, conform.TypeMismatch, "gen_ai.usage.cost.amount"}),
		one("currency as an int", conforming(attribute.Float64("gen_ai.usage.cost.amount", 0.5), attribute.Int("gen_ai.usage.cost.currency", 840)),
			Want{0, conform.TypeMismatch, "gen_ai.usage.cost.currency"}),
		one("input tokens as a string", conforming(attribute.String("gen_ai.usage.input_tokens", "1000")),
			Want{0, conform.TypeMismatch, "gen_ai.usage.input_tokens"}),
		one("unpriced as a string", conforming(attribute.String("crstel.cost.unpriced", "true")),
			Want{0, conform.TypeMismatch, "crstel.cost.unpriced"}),
		one("max RSS as a double", conforming(attribute.Float64("crstel.process.memory.max_rss", 1.5e9)),
			Want{0, conform.TypeMismatch, "crstel.process.memory.max_rss"}),
		one("roll-up of the right types", conforming(
			attribute.Float64("crstel.cost.llm.amount", 2.04), attribute.String("crstel.cost.llm.currency", "USD"),
			attribute.Int("crstel.cost.llm.calls", 7), attribute.Int("crstel.cost.llm.input_tokens", 12000),
			attribute.Float64("crstel.cost.cpu.seconds", 12), attribute.Int("crstel.cost.memory.byte_seconds", 64e9),
			attribute.Int("crstel.cost.subprocesses", 1))),
		one("roll-up of the wrong types", conforming(
			attribute.String("crstel.cost.llm.amount", "2.04"), attribute.Float64("crstel.cost.llm.calls", 7),
			attribute.Int("crstel.cost.cpu.seconds", 12), attribute.String("crstel.cost.memory.byte_seconds", "64e9")),
			Want{0, conform.TypeMismatch, "crstel.cost.llm.amount"}, Want{0, conform.TypeMismatch, "crstel.cost.llm.calls"},
			Want{0, conform.TypeMismatch, "crstel.cost.cpu.seconds"}, Want{0, conform.TypeMismatch, "crstel.cost.memory.byte_seconds"}),
		one("update time not RFC 3339", conforming(attribute.String("fuzz.corpus.update.time", "yesterday")),
			Want{0, conform.InvalidValue, crs.FuzzCorpusUpdateTimeKey}),
		one("code lines not a range", conforming(attribute.String("crs.action.code.lines", "ten to fifty")),
			Want{0, conform.InvalidValue, crs.CodeLinesKey}),
		one("negative corpus size", conforming(crs.FuzzCorpusSize(-1)), Want{0, conform.InvalidValue, crs.FuzzCorpusSizeKey}),
		one("crs.action.code.files, the specification's own typo", conforming(attribute.String("crs.action.code.files", "vuln_module.c")),
			Want{0, conform.MisspelledKey, "crs.action.code.files"}),
		one("crs.code.file", conforming(attribute.String("crs.code.file", "a.c")), Want{0, conform.MisspelledKey, "crs.code.file"}),
		one("fuzz.corpus.sizes", conforming(crs.FuzzCorpusSize(1), attribute.Int("fuzz.corpus.sizes", 1)),
			Want{0, conform.MisspelledKey, "fuzz.corpus.sizes"}),
		one("marked invalid by crstel", conforming(attribute.StringSlice("crstel.invalid", []string{`crs: unknown action category "x"`})),
			Want{0, conform.MarkedInvalid, "crstel.invalid"}),
		{Name: "required metadata missing", Config: conform.Config{RequiredMetadata: []string{"task.id", "round.id"}},
			Spans: []Span{{Name: "x", Trace: 1, ID: 1, Service: "patcher", Attributes: without(conforming(), "task.id")}},
			Want:  []Want{{0, conform.MissingMetadata, "task.id"}}},
		{Name: "metadata of the trace missing from a child",
			Spans: []Span{
				{Name: "generate_patch", Trace: 1, ID: 1, Service: "patcher", Attributes: conforming()},
				{Name: "chat gpt-4o", Trace: 1, ID: 2, Parent: 1, Service: "patcher", Attributes: []attribute.KeyValue{
					crs.ActionCategory(crs.PatchGeneration), crs.ActionName("generate_patch"), attribute.String("round.id", "round-1")}},
				{Name: "other_trace", Trace: 2, ID: 1, Service: "patcher", Attributes: []attribute.KeyValue{
					crs.ActionCategory(crs.Testing), crs.ActionName("run_tests")}},
			},
			Want: []Want{{1, conform.MissingMetadata, "task.id"}, {1, conform.MissingMetadata, "team.id"}}},
		{Name: "no trace metadata checked when configured off", Config: conform.Config{TraceMetadata: []string{}},
			Spans: []Span{
				{Name: "a", Trace: 1, ID: 1, Service: "patcher", Attributes: conforming()},
				{Name: "b", Trace: 1, ID: 2, Parent: 1, Service: "patcher", Attributes: []attribute.KeyValue{
					crs.ActionCategory(crs.PatchGeneration), crs.ActionName("generate_patch")}},
			}},
		{Name: "an OpenLIT LLM span without CRS attributes",
			Spans: []Span{
				{Name: "generate_patch", Trace: 1, ID: 1, Service: "agent", Attributes: conforming()},
				{Name: "chat gpt-4o-mini", Trace: 1, ID: 2, Parent: 1, Service: "agent", Attributes: []attribute.KeyValue{
					attribute.String("gen_ai.request.model", "gpt-4o-mini"), attribute.Int("gen_ai.usage.input_tokens", 12)}},
			},
			Want: []Want{{1, conform.MissingAttribute, crs.ActionCategoryKey}, {1, conform.MissingAttribute, crs.ActionNameKey},
				{1, conform.MissingMetadata, "round.id"}, {1, conform.MissingMetadata, "task.id"}, {1, conform.MissingMetadata, "team.id"}}},
	}
}

// Got is a finding an adapter's checker reported, with the index of its
// span in the case.
type Got struct {
	Span int
	Rule conform.Rule
	Key  attribute.Key
}

// Test runs every case through check, which returns what its checker
// found, and fails t where that is not exactly the case's findings.
func Test(t *testing.T, check func(c Case) []Got) {
	t.Helper()
	for _, c := range Cases() {
		t.Run(c.Name, func(t *testing.T) {
			got := check(c)
			want := make([]Got, 0, len(c.Want))
			for _, w := range c.Want {
				want = append(want, Got(w))
			}
			key := func(g Got) string { return fmt.Sprintf("span %d %s %s", g.Span, g.Rule, g.Key) }
			slices.SortFunc(got, func(a, b Got) int { return strings.Compare(key(a), key(b)) })
			slices.SortFunc(want, func(a, b Got) int { return strings.Compare(key(a), key(b)) })
			if !slices.Equal(got, want) {
				t.Errorf("found %v, want %v", got, want)
			}
		})
	}
}
