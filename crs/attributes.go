package crs

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
)

// Attribute keys of the specification. The canonical code-file key is
// crs.action.code.file (singular); the specification's one example that
// spells it crs.action.code.files is a typo.
const (
	// ServiceNameKey is the resource attribute naming the CRS component
	// that produced the span.
	ServiceNameKey = attribute.Key("service.name")

	// ActionCategoryKey is the mandatory category of the action; its value
	// is a [Category].
	ActionCategoryKey = attribute.Key("crs.action.category")
	// ActionNameKey is the mandatory, user-defined name of the action.
	ActionNameKey = attribute.Key("crs.action.name")

	// CodeFileKey is the code file involved in the action (string).
	CodeFileKey = attribute.Key("crs.action.code.file")
	// CodeLinesKey is the line range involved, such as "10-50" (string).
	CodeLinesKey = attribute.Key("crs.action.code.lines")
	// TargetHarnessKey identifies the target harness (string).
	TargetHarnessKey = attribute.Key("crs.action.target.harness")
	// EffortWeightKey measures effort, such as the number of processes or
	// cores used (int).
	EffortWeightKey = attribute.Key("crs.action.effort.weight")

	// GenAIIDKey is the GenAI response id tied to the action (string).
	GenAIIDKey = attribute.Key("crs.action.gen_ai.id")

	// FuzzCorpusUpdateMethodKey is how the corpus was updated, such as
	// "periodic" or "on_change" (string).
	FuzzCorpusUpdateMethodKey = attribute.Key("fuzz.corpus.update.method")
	// FuzzCorpusUpdateTimeKey is when the corpus was updated (RFC 3339
	// string).
	FuzzCorpusUpdateTimeKey = attribute.Key("fuzz.corpus.update.time")
	// FuzzCorpusSizeKey is the number of inputs in the corpus (int).
	FuzzCorpusSizeKey = attribute.Key("fuzz.corpus.size")
	// FuzzCorpusAdditionsKey lists the inputs added (string slice).
	FuzzCorpusAdditionsKey = attribute.Key("fuzz.corpus.additions")
	// FuzzCorpusFullSnapshotKey tells whether the update is a full snapshot
	// of the corpus (bool).
	FuzzCorpusFullSnapshotKey = attribute.Key("fuzz.corpus.full_snapshot")
)

// ActionCategory returns the crs.action.category attribute for c.
func ActionCategory(c Category) attribute.KeyValue { return ActionCategoryKey.String(string(c)) }

// ActionName returns the crs.action.name attribute for name.
func ActionName(name string) attribute.KeyValue { return ActionNameKey.String(name) }

// CodeFile returns the crs.action.code.file attribute, such as
// CodeFile("vuln_module.c").
func CodeFile(path string) attribute.KeyValue { return CodeFileKey.String(path) }

// CodeLines returns the crs.action.code.lines attribute for the lines from
// through to, rendered "from-to" as in the specification: CodeLines(10, 50)
// is "10-50". A single line (from == to) is rendered "10-10".
func CodeLines(from, to int) attribute.KeyValue {
	return CodeLinesKey.String(strconv.Itoa(from) + "-" + strconv.Itoa(to))
}

// TargetHarness returns the crs.action.target.harness attribute.
func TargetHarness(id string) attribute.KeyValue { return TargetHarnessKey.String(id) }

// EffortWeight returns the crs.action.effort.weight attribute, an int.
func EffortWeight(w int) attribute.KeyValue { return EffortWeightKey.Int(w) }

// GenAIID returns the crs.action.gen_ai.id attribute: the id of the GenAI
// response (gen_ai.response.id) that the action used.
func GenAIID(responseID string) attribute.KeyValue { return GenAIIDKey.String(responseID) }

// FuzzCorpusUpdateMethod returns the fuzz.corpus.update.method attribute.
func FuzzCorpusUpdateMethod(method string) attribute.KeyValue {
	return FuzzCorpusUpdateMethodKey.String(method)
}

// FuzzCorpusUpdateTime returns the fuzz.corpus.update.time attribute: t in
// UTC as an RFC 3339 string with nanoseconds.
func FuzzCorpusUpdateTime(t time.Time) attribute.KeyValue {
	return FuzzCorpusUpdateTimeKey.String(t.UTC().Format(time.RFC3339Nano))
}

// FuzzCorpusSize returns the fuzz.corpus.size attribute, an int.
func FuzzCorpusSize(n int) attribute.KeyValue { return FuzzCorpusSizeKey.Int(n) }

// FuzzCorpusAdditions returns the fuzz.corpus.additions attribute, a string
// slice.
func FuzzCorpusAdditions(inputs []string) attribute.KeyValue {
	return FuzzCorpusAdditionsKey.StringSlice(inputs)
}

// FuzzCorpusFullSnapshot returns the fuzz.corpus.full_snapshot attribute.
func FuzzCorpusFullSnapshot(full bool) attribute.KeyValue {
	return FuzzCorpusFullSnapshotKey.Bool(full)
}

// Requirement says where the specification requires an attribute.
type Requirement int

// Requirements of the specification's attributes.
const (
	// Optional attributes may be on any span.
	Optional Requirement = iota
	// Required span attributes must be on every span.
	Required
	// RequiredResource attributes must be on every span's resource.
	RequiredResource
)

// Spec describes one attribute of the specification.
type Spec struct {
	Key         attribute.Key
	Type        attribute.Type
	Requirement Requirement
	// Description is the specification's description.
	Description string
}

var specs = [...]Spec{
	{ServiceNameKey, attribute.STRING, RequiredResource, "Name of CRS component generating the span"},
	{ActionCategoryKey, attribute.STRING, Required, "Category of the work a CRS is performing"},
	{ActionNameKey, attribute.STRING, Required, "Descriptive name of a CRS action"},
	{CodeFileKey, attribute.STRING, Optional, "Code file involved in the task"},
	{CodeLinesKey, attribute.STRING, Optional, "Line numbers involved in the task"},
	{TargetHarnessKey, attribute.STRING, Optional, "Identifier for the target harness involved"},
	{EffortWeightKey, attribute.INT64, Optional, "Measure of effort, e.g., number of processes or cores used"},
	{GenAIIDKey, attribute.STRING, Optional, "GenAI Response ID tied to the CRS action"},
	{FuzzCorpusUpdateMethodKey, attribute.STRING, Optional, "Update method for the input corpus"},
	{FuzzCorpusUpdateTimeKey, attribute.STRING, Optional, "Timestamp of the corpus update (RFC 3339)"},
	{FuzzCorpusSizeKey, attribute.INT64, Optional, "Size of the input corpus at the time of logging"},
	{FuzzCorpusAdditionsKey, attribute.STRINGSLICE, Optional, "List of new inputs added to the corpus"},
	{FuzzCorpusFullSnapshotKey, attribute.BOOL, Optional, "Whether this is a full snapshot of the corpus"},
}

// Specs returns the specification's attributes, in its order. The returned
// slice is a fresh copy.
func Specs() []Spec { return append([]Spec(nil), specs[:]...) }

// Lookup returns the specification of key, if key is one of its attributes.
func Lookup(key attribute.Key) (Spec, bool) {
	for _, s := range specs {
		if s.Key == key {
			return s, true
		}
	}
	return Spec{}, false
}

// CheckAttribute checks one span attribute against the specification and
// returns an error wrapping [ErrInvalidAttribute] that names the key and the
// value if:
//   - the key is in a namespace the specification owns (crs. or
//     fuzz.corpus.) but is not one of its attributes, such as the misspelled
//     crs.code.file or crs.action.code.files;
//   - the value has the wrong type, such as crs.action.effort.weight sent as
//     the string "8";
//   - the value has the wrong form: an unknown category, an invalid action
//     name, code lines that are not "N-M", an update time that is not RFC 3339.
//
// Attributes outside those namespaces (task metadata, gen_ai.*, http.*) are
// accepted.
func CheckAttribute(kv attribute.KeyValue) error {
	s, ok := Lookup(kv.Key)
	if !ok {
		if k := string(kv.Key); strings.HasPrefix(k, "crs.") || strings.HasPrefix(k, "fuzz.corpus.") {
			return fmt.Errorf("%w: unknown key %s (misspelled?)", ErrInvalidAttribute, quote(k))
		}
		return nil
	}
	if kv.Value.Type() != s.Type {
		return fmt.Errorf("%w: %s is %s %s, want %s", ErrInvalidAttribute, kv.Key,
			kv.Value.Type(), quote(kv.Value.String()), s.Type)
	}
	v := kv.Value.AsString()
	var err error
	switch kv.Key {
	case ActionCategoryKey:
		_, err = ParseCategory(v)
	case ActionNameKey:
		err = ValidateName(v)
	case CodeLinesKey:
		if !validLines(v) {
			err = fmt.Errorf("%s is not a line range like \"10-50\"", quote(v))
		}
	case FuzzCorpusUpdateTimeKey:
		if _, perr := time.Parse(time.RFC3339Nano, v); perr != nil {
			err = fmt.Errorf("%s is not an RFC 3339 time", quote(v))
		}
	case FuzzCorpusSizeKey, EffortWeightKey:
		if kv.Value.AsInt64() < 0 {
			err = fmt.Errorf("%d is negative", kv.Value.AsInt64())
		}
	}
	if err != nil {
		return fmt.Errorf("%w: %s: %w", ErrInvalidAttribute, kv.Key, err)
	}
	return nil
}

// validLines reports whether v is "N" or "N-M" with decimal N <= M.
func validLines(v string) bool {
	from, to, found := strings.Cut(v, "-")
	if !found {
		to = from
	}
	a, err1 := strconv.ParseUint(from, 10, 31)
	b, err2 := strconv.ParseUint(to, 10, 31)
	return err1 == nil && err2 == nil && a <= b
}
