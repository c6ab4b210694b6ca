package crs_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"go.opentelemetry.io/otel/attribute"

	"github.com/crstel/crstel/crs"
)

// maxErrorLen bounds any error message of the package: values are cut by
// quote (at most about 300 bytes each) and Metadata.Validate lists at most
// ten problems.
const maxErrorLen = 8 << 10

func FuzzParseCategory(f *testing.F) {
	for _, c := range crs.Categories() {
		f.Add(string(c))
	}
	for _, s := range []string{
		"", "fuzz", "Fuzzing", "FUZZING", "telemetry_init", "non_scoring_submission",
		"static-analysis", " fuzzing", "fuzzing\x00", "fuzz\xffing", "\ufffd",
		strings.Repeat("x", 10000),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := crs.ParseCategory(s)
		valid := slices.Contains(crs.Categories(), crs.Category(s))
		if err == nil {
			if !valid {
				t.Fatalf("ParseCategory(%q): got (%q, nil), want error: not in Categories()", s, c)
			}
			if c.String() != s || !c.Valid() || c.Validate() != nil {
				t.Fatalf("ParseCategory(%q): got %q (Valid %v, Validate %v), want %q, valid", s, c, c.Valid(), c.Validate(), s)
			}
			if err := crs.CheckAttribute(crs.ActionCategory(c)); err != nil {
				t.Fatalf("CheckAttribute(ActionCategory(%q)): got %v, want nil", c, err)
			}
			return
		}
		if valid {
			t.Fatalf("ParseCategory(%q): got %v, want nil: it is in Categories()", s, err)
		}
		if !errors.Is(err, crs.ErrUnknownCategory) {
			t.Fatalf("ParseCategory(%q): got %v, want error wrapping ErrUnknownCategory", s, err)
		}
		if c != "" {
			t.Fatalf("ParseCategory(%q): got category %q with an error, want \"\"", s, c)
		}
		if len(err.Error()) > maxErrorLen || !utf8.ValidString(err.Error()) {
			t.Fatalf("ParseCategory(%q): got %d-byte message (valid UTF-8: %v), want short valid UTF-8",
				s, len(err.Error()), utf8.ValidString(err.Error()))
		}
		if crs.Category(s).Valid() || !errors.Is(crs.Category(s).Validate(), crs.ErrUnknownCategory) {
			t.Fatalf("Category(%q): Valid %v, Validate %v; want false, ErrUnknownCategory", s, crs.Category(s).Valid(), crs.Category(s).Validate())
		}
	})
}

func FuzzValidateName(f *testing.F) {
	for _, s := range []string{
		"", "generate_patch", "generate patch", "a\tb", "a\nb", "a\x00b", "a\x7f",
		"\xff", "\xc3", "\x80\x80", "\xed\xa0\x80", "\ufffd", "\u00a0", "\u2028", "\u0085",
		"analyse_données", "生成补丁", "\U0010FFFF",
		strings.Repeat("n", crs.MaxNameLen),
		strings.Repeat("n", crs.MaxNameLen+1),
		strings.Repeat("a", crs.MaxNameLen-1) + "é",
		strings.Repeat("x", 10000),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		err := crs.ValidateName(s)
		if err != nil {
			if !errors.Is(err, crs.ErrInvalidName) {
				t.Fatalf("ValidateName(%q): got %v, want error wrapping ErrInvalidName", s, err)
			}
			if len(err.Error()) > maxErrorLen || !utf8.ValidString(err.Error()) {
				t.Fatalf("ValidateName(%q): got %d-byte message (valid UTF-8: %v), want short valid UTF-8",
					s, len(err.Error()), utf8.ValidString(err.Error()))
			}
		}
		san := crs.SanitizeName(s)
		if verr := crs.ValidateName(san); verr != nil {
			t.Fatalf("ValidateName(SanitizeName(%q) = %q): got %v, want nil", s, san, verr)
		}
		if err == nil && san != s {
			t.Fatalf("SanitizeName(%q) of a valid name: got %q, want it unchanged", s, san)
		}
		if again := crs.SanitizeName(san); again != san {
			t.Fatalf("SanitizeName(SanitizeName(%q)): got %q, want %q", s, again, san)
		}
		if err := crs.CheckAttribute(crs.ActionName(san)); err != nil {
			t.Fatalf("CheckAttribute(ActionName(%q)): got %v, want nil", san, err)
		}
	})
}

func FuzzMetadata(f *testing.F) {
	type seed struct {
		k1, v1, k2, v2, k3, v3 string
		extra, rep             uint8
	}
	for _, s := range []seed{
		{"round.id", "round-1", "task.id", "task-1", "team.id", "team-1", 0, 0},
		{"", "x", "crs.action.name", "y", "crstel.x", "z", 0, 0},
		{"key\xff", "v", "k", "\xff\xfe", "k2", "\x80", 0, 0},
		{"k", "v", "kk", "w", "a", "é", 0, 200},
		{"k", "vvvvvvvvvvvvvvvvvvvv", "kk", "w", "a", "é", 0, 255},
		{"k", "é\xff", "kk", "w", "a", "é", 0, 255},
		{"key.", "v", "a", "b", "z", "c", 100, 0},
		{"crs.", "v", "a", "b", "z", "c", 70, 0},
		{"a", "b", "c", "d", "e", "f", 255, 0},
		{"fuzz.corpus.size", "1500", "service.name", "x", "gen_ai.system", "openai", 0, 0},
		{"éééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééé", "v", "x", "y", "\u0800", "z", 3, 0},
	} {
		f.Add(s.k1, s.v1, s.k2, s.v2, s.k3, s.v3, s.extra, s.rep)
	}
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2, k3, v3 string, extra, rep uint8) {
		// rep repeats k2 and v1 to make long keys and values from short
		// inputs: large inputs make the fuzzing engine's minimizing slow.
		if rep > 1 {
			k2 = strings.Repeat(k2, int(rep))
			v1 = strings.Repeat(v1, int(rep))
		}
		m := crs.Metadata{k1: v1, k2: v2, k3: v3}
		// extra keys share (the start of) k1 as a prefix, to cross
		// MaxMetadataKeys and to test sorting and cutting with fuzzed
		// prefixes. The prefix is cut so that 255 copies of a large k1 do
		// not make each run, and the minimizing of inputs, slow.
		prefix := k1[:min(len(k1), 2*crs.MaxMetadataKeyLen+8)]
		for i := range int(extra) {
			m[fmt.Sprintf("%s%03d", prefix, i)] = v2
		}

		err := m.Validate()
		if err != nil {
			if !errors.Is(err, crs.ErrInvalidMetadata) {
				t.Fatalf("Validate(): got %v, want error wrapping ErrInvalidMetadata", err)
			}
			if len(err.Error()) > maxErrorLen || !utf8.ValidString(err.Error()) {
				t.Fatalf("Validate(): got %d-byte message (valid UTF-8: %v), want short valid UTF-8",
					len(err.Error()), utf8.ValidString(err.Error()))
			}
		}

		attrs := m.Attributes()
		if len(attrs) > crs.MaxMetadataKeys {
			t.Fatalf("len(Attributes()): got %d, want at most %d", len(attrs), crs.MaxMetadataKeys)
		}
		for _, kv := range attrs {
			k := string(kv.Key)
			switch {
			case k == "":
				t.Fatalf("Attributes(): got an empty key (value %q)", kv.Value.String())
			case strings.HasPrefix(k, "crs.") || strings.HasPrefix(k, "crstel."):
				t.Fatalf("Attributes(): got reserved key %q", k)
			case !utf8.ValidString(k):
				t.Fatalf("Attributes(): got key %q, not valid UTF-8", k)
			case len(k) > crs.MaxMetadataKeyLen:
				t.Fatalf("Attributes(): got %d-byte key, want at most %d", len(k), crs.MaxMetadataKeyLen)
			case kv.Value.Type() != attribute.STRING:
				t.Fatalf("Attributes(): got %s of type %v, want STRING", k, kv.Value.Type())
			}
			v := kv.Value.AsString()
			if !utf8.ValidString(v) {
				t.Fatalf("Attributes(): got value %q of %q, not valid UTF-8", v, k)
			}
			if len(v) > crs.MaxMetadataValueLen {
				t.Fatalf("Attributes(): got %d-byte value of %q, want at most %d", len(v), k, crs.MaxMetadataValueLen)
			}
		}

		if err != nil {
			return
		}
		if len(attrs) != len(m) {
			t.Fatalf("Validate() = nil but len(Attributes()): got %d, want %d", len(attrs), len(m))
		}
		for i, kv := range attrs {
			want, ok := m[string(kv.Key)]
			if !ok {
				t.Fatalf("Validate() = nil but Attributes() has key %q, not in the map", kv.Key)
			}
			if got := kv.Value.AsString(); got != want {
				t.Fatalf("Validate() = nil but Attributes() value of %q: got %q, want %q", kv.Key, got, want)
			}
			if i > 0 && attrs[i-1].Key >= kv.Key {
				t.Fatalf("Validate() = nil but Attributes() keys %q, %q: want strictly sorted", attrs[i-1].Key, kv.Key)
			}
		}
	})
}
