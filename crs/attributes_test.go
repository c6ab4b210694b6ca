package crs_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"

	"github.com/crstel/crstel/crs"
)

// specAttributes is every attribute of the specification's tables, written
// out from crs-telemetry-spec-v1.0.md in its order: Resource Attributes,
// Mandatory Span Attributes, Optional Attributes, Specialized Attributes for
// LLM Requests, Specialized Attributes for Fuzzing. The spec's "datetime"
// is an RFC 3339 string and its "array" a string slice.
var specAttributes = []struct {
	key string
	typ attribute.Type
	req crs.Requirement
}{
	{"service.name", attribute.STRING, crs.RequiredResource},
	{"crs.action.category", attribute.STRING, crs.Required},
	{"crs.action.name", attribute.STRING, crs.Required},
	{"crs.action.code.file", attribute.STRING, crs.Optional},
	{"crs.action.code.lines", attribute.STRING, crs.Optional},
	{"crs.action.target.harness", attribute.STRING, crs.Optional},
	{"crs.action.effort.weight", attribute.INT64, crs.Optional},
	{"crs.action.gen_ai.id", attribute.STRING, crs.Optional},
	{"fuzz.corpus.update.method", attribute.STRING, crs.Optional},
	{"fuzz.corpus.update.time", attribute.STRING, crs.Optional},
	{"fuzz.corpus.size", attribute.INT64, crs.Optional},
	{"fuzz.corpus.additions", attribute.STRINGSLICE, crs.Optional},
	{"fuzz.corpus.full_snapshot", attribute.BOOL, crs.Optional},
}

func TestSpecs(t *testing.T) {
	got := crs.Specs()
	if len(got) != len(specAttributes) {
		t.Errorf("len(Specs()): got %d, want %d", len(got), len(specAttributes))
	}
	for i, want := range specAttributes {
		if i >= len(got) {
			t.Errorf("Specs()[%d]: missing, want key %q", i, want.key)
			continue
		}
		s := got[i]
		if string(s.Key) != want.key {
			t.Errorf("Specs()[%d].Key: got %q, want %q", i, s.Key, want.key)
		}
		if s.Type != want.typ {
			t.Errorf("Specs()[%d] (%s).Type: got %v, want %v", i, want.key, s.Type, want.typ)
		}
		if s.Requirement != want.req {
			t.Errorf("Specs()[%d] (%s).Requirement: got %v, want %v", i, want.key, s.Requirement, want.req)
		}
		if s.Description == "" {
			t.Errorf("Specs()[%d] (%s).Description: got empty, want the spec's description", i, want.key)
		}
	}
}

func TestSpecsReturnsCopy(t *testing.T) {
	first := crs.Specs()
	for i := range first {
		first[i].Key = "mutated"
		first[i].Type = attribute.BOOL
	}
	second := crs.Specs()
	for i, want := range specAttributes {
		if string(second[i].Key) != want.key || second[i].Type != want.typ {
			t.Errorf("Specs()[%d] after the caller changed an earlier result: got (%q, %v), want (%q, %v)",
				i, second[i].Key, second[i].Type, want.key, want.typ)
		}
	}
	if _, ok := crs.Lookup("crs.action.name"); !ok {
		t.Error("Lookup(crs.action.name) after the caller changed Specs(): got false, want true")
	}
}

func TestKeyConstants(t *testing.T) {
	tests := []struct {
		got  attribute.Key
		want string
	}{
		{crs.ServiceNameKey, "service.name"},
		{crs.ActionCategoryKey, "crs.action.category"},
		{crs.ActionNameKey, "crs.action.name"},
		{crs.CodeFileKey, "crs.action.code.file"},
		{crs.CodeLinesKey, "crs.action.code.lines"},
		{crs.TargetHarnessKey, "crs.action.target.harness"},
		{crs.EffortWeightKey, "crs.action.effort.weight"},
		{crs.GenAIIDKey, "crs.action.gen_ai.id"},
		{crs.FuzzCorpusUpdateMethodKey, "fuzz.corpus.update.method"},
		{crs.FuzzCorpusUpdateTimeKey, "fuzz.corpus.update.time"},
		{crs.FuzzCorpusSizeKey, "fuzz.corpus.size"},
		{crs.FuzzCorpusAdditionsKey, "fuzz.corpus.additions"},
		{crs.FuzzCorpusFullSnapshotKey, "fuzz.corpus.full_snapshot"},
	}
	for _, tt := range tests {
		if string(tt.got) != tt.want {
			t.Errorf("key constant: got %q, want %q", tt.got, tt.want)
		}
	}
}

func TestLookup(t *testing.T) {
	for _, want := range specAttributes {
		s, ok := crs.Lookup(attribute.Key(want.key))
		if !ok {
			t.Errorf("Lookup(%q): got false, want true", want.key)
			continue
		}
		if string(s.Key) != want.key || s.Type != want.typ || s.Requirement != want.req {
			t.Errorf("Lookup(%q): got (%q, %v, %v), want (%q, %v, %v)",
				want.key, s.Key, s.Type, s.Requirement, want.key, want.typ, want.req)
		}
	}
	for _, key := range []string{
		"", "crs.action.code.files", "crs.code.file", "crs.action", "CRS.ACTION.NAME",
		"service.version", "fuzz.corpus", "round.id", "gen_ai.response.id",
	} {
		if s, ok := crs.Lookup(attribute.Key(key)); ok || s != (crs.Spec{}) {
			t.Errorf("Lookup(%q): got (%v, %v), want (zero Spec, false)", key, s, ok)
		}
	}
}

func TestConstructors(t *testing.T) {
	tests := []struct {
		name    string
		kv      attribute.KeyValue
		wantKey attribute.Key
		want    attribute.Value
	}{
		{"ActionCategory", crs.ActionCategory(crs.PatchGeneration), crs.ActionCategoryKey, attribute.StringValue("patch_generation")},
		{"ActionName", crs.ActionName("generate_patch"), crs.ActionNameKey, attribute.StringValue("generate_patch")},
		{"CodeFile", crs.CodeFile("vuln_module.c"), crs.CodeFileKey, attribute.StringValue("vuln_module.c")},
		{"CodeLines", crs.CodeLines(10, 50), crs.CodeLinesKey, attribute.StringValue("10-50")},
		{"CodeLines one line", crs.CodeLines(10, 10), crs.CodeLinesKey, attribute.StringValue("10-10")},
		{"TargetHarness", crs.TargetHarness("network_harness"), crs.TargetHarnessKey, attribute.StringValue("network_harness")},
		{"EffortWeight", crs.EffortWeight(8), crs.EffortWeightKey, attribute.Int64Value(8)},
		{"GenAIID", crs.GenAIID("chatcmpl-123"), crs.GenAIIDKey, attribute.StringValue("chatcmpl-123")},
		{"FuzzCorpusUpdateMethod", crs.FuzzCorpusUpdateMethod("periodic"), crs.FuzzCorpusUpdateMethodKey, attribute.StringValue("periodic")},
		{"FuzzCorpusUpdateTime", crs.FuzzCorpusUpdateTime(time.Date(2025, 3, 1, 12, 30, 0, 0, time.UTC)), crs.FuzzCorpusUpdateTimeKey, attribute.StringValue("2025-03-01T12:30:00Z")},
		{"FuzzCorpusSize", crs.FuzzCorpusSize(1500), crs.FuzzCorpusSizeKey, attribute.Int64Value(1500)},
		{"FuzzCorpusAdditions", crs.FuzzCorpusAdditions([]string{"inputA", "inputB"}), crs.FuzzCorpusAdditionsKey, attribute.StringSliceValue([]string{"inputA", "inputB"})},
		{"FuzzCorpusAdditions empty", crs.FuzzCorpusAdditions(nil), crs.FuzzCorpusAdditionsKey, attribute.StringSliceValue(nil)},
		{"FuzzCorpusFullSnapshot true", crs.FuzzCorpusFullSnapshot(true), crs.FuzzCorpusFullSnapshotKey, attribute.BoolValue(true)},
		{"FuzzCorpusFullSnapshot false", crs.FuzzCorpusFullSnapshot(false), crs.FuzzCorpusFullSnapshotKey, attribute.BoolValue(false)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.kv.Key != tt.wantKey {
				t.Errorf("key: got %q, want %q", tt.kv.Key, tt.wantKey)
			}
			if got, want := tt.kv.Value.Type(), tt.want.Type(); got != want {
				t.Errorf("type: got %v, want %v", got, want)
			}
			if got, want := tt.kv.Value.String(), tt.want.String(); got != want {
				t.Errorf("value: got %s, want %s", got, want)
			}
			s, ok := crs.Lookup(tt.kv.Key)
			if !ok {
				t.Fatalf("Lookup(%q): got false, want true", tt.kv.Key)
			}
			if s.Type != tt.kv.Value.Type() {
				t.Errorf("type: got %v, want the spec's %v", tt.kv.Value.Type(), s.Type)
			}
			if err := crs.CheckAttribute(tt.kv); err != nil {
				t.Errorf("CheckAttribute: got %v, want nil", err)
			}
		})
	}
}

func TestConstructorTypes(t *testing.T) {
	tests := []struct {
		name string
		kv   attribute.KeyValue
		want attribute.Type
	}{
		{"EffortWeight", crs.EffortWeight(8), attribute.INT64},
		{"FuzzCorpusSize", crs.FuzzCorpusSize(1500), attribute.INT64},
		{"FuzzCorpusAdditions", crs.FuzzCorpusAdditions([]string{"inputA"}), attribute.STRINGSLICE},
		{"FuzzCorpusFullSnapshot", crs.FuzzCorpusFullSnapshot(true), attribute.BOOL},
		{"FuzzCorpusUpdateTime", crs.FuzzCorpusUpdateTime(time.Unix(0, 0)), attribute.STRING},
		{"CodeLines", crs.CodeLines(1, 2), attribute.STRING},
	}
	for _, tt := range tests {
		if got := tt.kv.Value.Type(); got != tt.want {
			t.Errorf("%s: got type %v, want %v", tt.name, got, tt.want)
		}
	}
	if got := crs.EffortWeight(8).Value.AsInt64(); got != 8 {
		t.Errorf("EffortWeight(8): got %d, want 8", got)
	}
	if got := crs.FuzzCorpusSize(1500).Value.AsInt64(); got != 1500 {
		t.Errorf("FuzzCorpusSize(1500): got %d, want 1500", got)
	}
	if got := crs.CodeLines(10, 50).Value.AsString(); got != "10-50" {
		t.Errorf("CodeLines(10, 50): got %q, want %q", got, "10-50")
	}
}

func TestFuzzCorpusAdditionsCopies(t *testing.T) {
	in := []string{"inputA", "inputB"}
	kv := crs.FuzzCorpusAdditions(in)
	in[0] = "changed"
	if got := kv.Value.AsStringSlice(); got[0] != "inputA" {
		t.Errorf("FuzzCorpusAdditions after the caller changed its slice: got %q, want %q", got, []string{"inputA", "inputB"})
	}
}

func TestFuzzCorpusUpdateTime(t *testing.T) {
	tests := []struct {
		name string
		in   time.Time
		want string
	}{
		{"UTC", time.Date(2025, 3, 1, 12, 30, 0, 0, time.UTC), "2025-03-01T12:30:00Z"},
		{"nanoseconds", time.Date(2025, 3, 1, 12, 30, 0, 123456789, time.UTC), "2025-03-01T12:30:00.123456789Z"},
		{"east of UTC", time.Date(2025, 3, 1, 14, 30, 0, 0, time.FixedZone("CEST", 2*3600)), "2025-03-01T12:30:00Z"},
		{"west of UTC", time.Date(2025, 3, 1, 7, 0, 0, 5e6, time.FixedZone("EST", -5*3600)), "2025-03-01T12:00:00.005Z"},
		{"zero", time.Time{}, "0001-01-01T00:00:00Z"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kv := crs.FuzzCorpusUpdateTime(tt.in)
			got := kv.Value.AsString()
			if got != tt.want {
				t.Errorf("FuzzCorpusUpdateTime(%v): got %q, want %q", tt.in, got, tt.want)
			}
			parsed, err := time.Parse(time.RFC3339Nano, got)
			if err != nil {
				t.Fatalf("time.Parse(RFC3339Nano, %q): got %v, want nil", got, err)
			}
			if !parsed.Equal(tt.in) {
				t.Errorf("parsed %q: got %v, want %v", got, parsed, tt.in)
			}
			if _, off := parsed.Zone(); off != 0 || !strings.HasSuffix(got, "Z") {
				t.Errorf("FuzzCorpusUpdateTime(%v): got %q with offset %d, want UTC (suffix Z)", tt.in, got, off)
			}
			if err := crs.CheckAttribute(kv); err != nil {
				t.Errorf("CheckAttribute: got %v, want nil", err)
			}
		})
	}
	// time.Now has a monotonic reading and the local zone.
	now := time.Now()
	got := crs.FuzzCorpusUpdateTime(now).Value.AsString()
	parsed, err := time.Parse(time.RFC3339, got)
	if err != nil || !parsed.Equal(now) || parsed.Location() != time.UTC {
		t.Errorf("FuzzCorpusUpdateTime(time.Now()) = %q: parsed (%v, %v), want (%v in UTC, nil)", got, parsed, err, now)
	}
}

func TestCheckAttributeAccepts(t *testing.T) {
	tests := []struct {
		name string
		kv   attribute.KeyValue
	}{
		{"service.name", attribute.String("service.name", "patcher")},
		{"ActionName", crs.ActionName("generate_patch")},
		{"CodeFile", crs.CodeFile("vuln_module.c")},
		{"CodeFile empty", crs.CodeFile("")},
		{"CodeLines", crs.CodeLines(10, 50)},
		{"CodeLines one line", crs.CodeLines(7, 7)},
		{"code lines single number", attribute.String("crs.action.code.lines", "42")},
		{"TargetHarness", crs.TargetHarness("test_harness_1")},
		{"EffortWeight", crs.EffortWeight(8)},
		{"EffortWeight zero", crs.EffortWeight(0)},
		{"GenAIID", crs.GenAIID("chatcmpl-abc")},
		{"FuzzCorpusUpdateMethod", crs.FuzzCorpusUpdateMethod("on_change")},
		{"FuzzCorpusUpdateTime", crs.FuzzCorpusUpdateTime(time.Date(2025, 1, 2, 3, 4, 5, 6, time.UTC))},
		{"update time with offset", attribute.String("fuzz.corpus.update.time", "2025-01-02T03:04:05+02:00")},
		{"FuzzCorpusSize", crs.FuzzCorpusSize(1500)},
		{"FuzzCorpusAdditions", crs.FuzzCorpusAdditions([]string{"inputA", "inputB"})},
		{"FuzzCorpusAdditions nil", crs.FuzzCorpusAdditions(nil)},
		{"FuzzCorpusFullSnapshot", crs.FuzzCorpusFullSnapshot(true)},
		{"task metadata", attribute.String("round.id", "round-1")},
		{"gen_ai", attribute.String("gen_ai.request.model", "gpt-4o-mini")},
		{"http", attribute.Int("http.response.status_code", 200)},
		{"other fuzz namespace", attribute.String("fuzz.engine", "libfuzzer")},
	}
	for _, c := range crs.Categories() {
		tests = append(tests, struct {
			name string
			kv   attribute.KeyValue
		}{"ActionCategory " + c.String(), crs.ActionCategory(c)})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := crs.CheckAttribute(tt.kv); err != nil {
				t.Errorf("CheckAttribute(%s=%s): got %v, want nil", tt.kv.Key, tt.kv.Value.String(), err)
			}
		})
	}
}

func TestCheckAttributeRejects(t *testing.T) {
	tests := []struct {
		name string
		kv   attribute.KeyValue
		// want is a part of the message naming the value, beside the key.
		want string
	}{
		{"misspelled crs.code.file", attribute.String("crs.code.file", "x.c"), ""},
		{"spec typo crs.action.code.files", attribute.String("crs.action.code.files", "vuln_module.c"), ""},
		{"unknown crs key", attribute.String("crs.action.category.extra", "x"), ""},
		{"unknown fuzz.corpus key", attribute.Int("fuzz.corpus.sizes", 3), ""},
		{"effort weight as string", attribute.String("crs.action.effort.weight", "8"), `"8"`},
		{"effort weight as float", attribute.Float64("crs.action.effort.weight", 8), "8"},
		{"effort weight negative", crs.EffortWeight(-1), "-1"},
		{"corpus size as string", attribute.String("fuzz.corpus.size", "1500"), `"1500"`},
		{"corpus size negative", crs.FuzzCorpusSize(-5), "-5"},
		{"additions as string", attribute.String("fuzz.corpus.additions", "inputA"), `"inputA"`},
		{"additions as int slice", attribute.IntSlice("fuzz.corpus.additions", []int{1, 2}), "1"},
		{"full snapshot as string", attribute.String("fuzz.corpus.full_snapshot", "true"), `"true"`},
		{"category as int", attribute.Int("crs.action.category", 2), "2"},
		{"code lines as int", attribute.Int("crs.action.code.lines", 10), "10"},
		{"update time as int", attribute.Int64("fuzz.corpus.update.time", 1700000000), "1700000000"},
		{"code lines reversed", attribute.String("crs.action.code.lines", "50-10"), `"50-10"`},
		{"code lines letters", attribute.String("crs.action.code.lines", "a-b"), `"a-b"`},
		{"code lines empty", attribute.String("crs.action.code.lines", ""), `""`},
		{"code lines open end", attribute.String("crs.action.code.lines", "10-"), `"10-"`},
		{"code lines open start", attribute.String("crs.action.code.lines", "-10"), `"-10"`},
		{"code lines three parts", attribute.String("crs.action.code.lines", "1-2-3"), `"1-2-3"`},
		{"code lines spaces", attribute.String("crs.action.code.lines", "10 - 50"), `"10 - 50"`},
		{"code lines comma", attribute.String("crs.action.code.lines", "10,50"), `"10,50"`},
		{"code lines negative", crs.CodeLines(-5, 3), `"-5-3"`},
		{"CodeLines reversed", crs.CodeLines(50, 10), `"50-10"`},
		{"bad time", attribute.String("fuzz.corpus.update.time", "yesterday"), `"yesterday"`},
		{"time without zone", attribute.String("fuzz.corpus.update.time", "2025-03-01T12:30:00"), `"2025-03-01T12:30:00"`},
		{"time month 13", attribute.String("fuzz.corpus.update.time", "2025-13-01T12:30:00Z"), `"2025-13-01T12:30:00Z"`},
		{"unix time string", attribute.String("fuzz.corpus.update.time", "1700000000"), `"1700000000"`},
		{"empty time", attribute.String("fuzz.corpus.update.time", ""), `""`},
		{"unknown category Fuzzing", attribute.String("crs.action.category", "Fuzzing"), `"Fuzzing"`},
		{"old category telemetry_init", attribute.String("crs.action.category", "telemetry_init"), `"telemetry_init"`},
		{"empty category", crs.ActionCategory(""), `""`},
		{"invalid name", crs.ActionName("generate patch"), `"generate patch"`},
		{"empty name", crs.ActionName(""), "empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := crs.CheckAttribute(tt.kv)
			if err == nil {
				t.Fatalf("CheckAttribute(%s=%s): got nil, want error", tt.kv.Key, tt.kv.Value.String())
			}
			if !errors.Is(err, crs.ErrInvalidAttribute) {
				t.Errorf("CheckAttribute(%s=%s): got %v, want error wrapping ErrInvalidAttribute", tt.kv.Key, tt.kv.Value.String(), err)
			}
			msg := err.Error()
			if !strings.Contains(msg, string(tt.kv.Key)) {
				t.Errorf("CheckAttribute(%s=%s): got message %q, want it to name the key", tt.kv.Key, tt.kv.Value.String(), msg)
			}
			if !strings.Contains(msg, tt.want) {
				t.Errorf("CheckAttribute(%s=%s): got message %q, want it to name the value (%s)", tt.kv.Key, tt.kv.Value.String(), msg, tt.want)
			}
		})
	}
}

func TestCheckAttributeWrapsCauses(t *testing.T) {
	err := crs.CheckAttribute(attribute.String("crs.action.category", "fuzz"))
	if !errors.Is(err, crs.ErrInvalidAttribute) || !errors.Is(err, crs.ErrUnknownCategory) {
		t.Errorf("CheckAttribute(category fuzz): got %v, want error wrapping ErrInvalidAttribute and ErrUnknownCategory", err)
	}
	err = crs.CheckAttribute(attribute.String("crs.action.name", "a b"))
	if !errors.Is(err, crs.ErrInvalidAttribute) || !errors.Is(err, crs.ErrInvalidName) {
		t.Errorf("CheckAttribute(name \"a b\"): got %v, want error wrapping ErrInvalidAttribute and ErrInvalidName", err)
	}
}

func TestCheckAttributeLongValueIsCut(t *testing.T) {
	long := strings.Repeat("x", 1<<20)
	for _, kv := range []attribute.KeyValue{
		attribute.String("crs.action.category", long),
		attribute.String("crs.action.name", long),
		attribute.String("crs.action.code.lines", long),
		attribute.String("fuzz.corpus.update.time", long),
		attribute.String("crs.action.effort.weight", long),
		attribute.String("crs."+long, "x"),
	} {
		err := crs.CheckAttribute(kv)
		if !errors.Is(err, crs.ErrInvalidAttribute) {
			t.Errorf("CheckAttribute(%.40s...): got %v, want error wrapping ErrInvalidAttribute", kv.Key, err)
			continue
		}
		if n := len(err.Error()); n > 1024 {
			t.Errorf("CheckAttribute(%.40s...): got %d-byte message, want at most 1024", kv.Key, n)
		}
	}
}
