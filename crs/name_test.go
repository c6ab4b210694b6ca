package crs_test

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/crstel/crstel/crs"
)

func TestValidateNameAccepts(t *testing.T) {
	tests := []struct {
		name string
		in   string
	}{
		{"spec example", "generating_patch_from_llm"},
		{"spec example 2", "check_security_flaws"},
		{"single byte", "a"},
		{"digits", "run_2"},
		{"hyphen and dot", "fuzz-test.v2"},
		{"mixed case (not checked)", "CompileSourceCode"},
		{"non-ASCII letters", "analyse_données"},
		{"CJK", "生成补丁"},
		{"exactly MaxNameLen bytes", strings.Repeat("n", crs.MaxNameLen)},
		{"MaxNameLen bytes of 2-byte runes", strings.Repeat("é", crs.MaxNameLen/2)},
		{"punctuation", "a/b:c@d"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := crs.ValidateName(tt.in); err != nil {
				t.Errorf("ValidateName(%q): got %v, want nil", tt.in, err)
			}
		})
	}
}

func TestValidateNameRejects(t *testing.T) {
	long := strings.Repeat("n", 10000)
	tests := []struct {
		name string
		in   string
		// want is a part of the message that names the value.
		want string
	}{
		{"empty", "", "empty"},
		{"space", "generate patch", strconv.Quote("generate patch")},
		{"only space", " ", strconv.Quote(" ")},
		{"leading space", " generate_patch", strconv.Quote(" generate_patch")},
		{"trailing space", "generate_patch ", strconv.Quote("generate_patch ")},
		{"tab", "generate\tpatch", strconv.Quote("generate\tpatch")},
		{"newline", "generate\npatch", strconv.Quote("generate\npatch")},
		{"carriage return", "generate_patch\r", strconv.Quote("generate_patch\r")},
		{"vertical tab", "a\vb", strconv.Quote("a\vb")},
		{"form feed", "a\fb", strconv.Quote("a\fb")},
		{"no-break space", "a\u00a0b", strconv.Quote("a\u00a0b")},
		{"ideographic space", "a\u3000b", strconv.Quote("a\u3000b")},
		{"line separator", "a\u2028b", strconv.Quote("a\u2028b")},
		{"next line C1", "a\u0085b", strconv.Quote("a\u0085b")},
		{"NUL", "a\x00b", strconv.Quote("a\x00b")},
		{"bell", "a\ab", strconv.Quote("a\ab")},
		{"escape", "a\x1b[31mred", strconv.Quote("a\x1b[31mred")},
		{"DEL", "a\x7fb", strconv.Quote("a\x7fb")},
		{"C1 control", "a\u0090b", strconv.Quote("a\u0090b")},
		{"invalid byte", "bad\xffname", strconv.Quote("bad\xffname")},
		{"truncated rune", "caf\xc3", strconv.Quote("caf\xc3")},
		{"surrogate half", "a\xed\xa0\x80b", strconv.Quote("a\xed\xa0\x80b")},
		{"overlong encoding", "a\xc0\xafb", strconv.Quote("a\xc0\xafb")},
		{"replacement character", "a\ufffdb", strconv.Quote("a\ufffdb")},
		{"MaxNameLen+1 bytes", strings.Repeat("n", crs.MaxNameLen+1), "nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn"},
		{"10,000 characters", long, "nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn"},
		{"10,000 characters with spaces", strings.Repeat("a ", 5000), "a a a a a a a a a a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := crs.ValidateName(tt.in)
			if err == nil {
				t.Fatalf("ValidateName(%q): got nil, want error", tt.in)
			}
			if !errors.Is(err, crs.ErrInvalidName) {
				t.Errorf("ValidateName(%q): got %v, want error wrapping ErrInvalidName", tt.in, err)
			}
			msg := err.Error()
			if !strings.Contains(msg, tt.want) {
				t.Errorf("ValidateName(%q): got message %q, want it to name the value (%s)", tt.in, msg, tt.want)
			}
			if len(tt.in) > 64 && strings.Contains(msg, tt.in) {
				t.Errorf("ValidateName(%d-byte name): message holds the whole value, want it cut", len(tt.in))
			}
			if len(msg) > 512 {
				t.Errorf("ValidateName(%d-byte name): got %d-byte message, want at most 512", len(tt.in), len(msg))
			}
			if !utf8.ValidString(msg) {
				t.Errorf("ValidateName(%q): got message %q that is not valid UTF-8", tt.in, msg)
			}
		})
	}
}

// TestValidateNameMessageNamesContinuationBytes is a regression test. The
// bug it caught: quote backed up from byte 64 to the start of a rune with
// utf8.RuneStart; when the value is invalid UTF-8 made of continuation
// bytes (0x80-0xBF) there is no rune start, the loop reached 0 and the
// message showed the value as "" ("crs: invalid action name \"\"... (200
// bytes): ..."), naming nothing. quote now backs up at most utf8.UTFMax-1
// bytes and cuts at 64 otherwise.
func TestValidateNameMessageNamesContinuationBytes(t *testing.T) {
	in := strings.Repeat("\x80", 200)
	err := crs.ValidateName(in)
	if !errors.Is(err, crs.ErrInvalidName) {
		t.Fatalf("ValidateName(200 x \\x80): got %v, want error wrapping ErrInvalidName", err)
	}
	if want := `\x80\x80\x80\x80`; !strings.Contains(err.Error(), want) {
		t.Errorf("(quote): ValidateName(200 x \\x80): got message %q, want it to show the value (%s...)", err, want)
	}
}

func TestSanitizeName(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"valid unchanged", "generate_patch", "generate_patch"},
		{"valid non-ASCII unchanged", "analyse_données", "analyse_données"},
		{"empty", "", "unnamed"},
		{"space", "generate patch", "generate_patch"},
		{"only spaces", "   ", "___"},
		{"tab and newline", "a\tb\nc", "a_b_c"},
		{"control characters", "a\x00b\x1bc\x7f", "a_b_c_"},
		{"invalid byte", "bad\xffname", "bad_name"},
		{"two invalid bytes", "a\xff\xfeb", "a__b"},
		{"truncated rune", "caf\xc3", "caf_"},
		{"replacement character", "a\ufffdb", "a_b"},
		{"no-break space", "a\u00a0b", "a_b"},
		{"too long", strings.Repeat("n", 200), strings.Repeat("n", crs.MaxNameLen)},
		{"too long, 2-byte runes", strings.Repeat("é", 100), strings.Repeat("é", crs.MaxNameLen/2)},
		{"too long, rune across the limit", "a" + strings.Repeat("é", 100), "a" + strings.Repeat("é", (crs.MaxNameLen-1)/2)},
		{"10,000 characters", strings.Repeat("x", 10000), strings.Repeat("x", crs.MaxNameLen)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := crs.SanitizeName(tt.in)
			if got != tt.want {
				t.Errorf("SanitizeName(%q): got %q, want %q", tt.in, got, tt.want)
			}
			if err := crs.ValidateName(got); err != nil {
				t.Errorf("ValidateName(SanitizeName(%q)): got %v, want nil", tt.in, err)
			}
		})
	}
}

func TestSanitizeNameAlwaysValid(t *testing.T) {
	inputs := []string{
		"", " ", "\t", "\n", "\x00", "\xff", "\xc3", "\xed\xa0\x80", "\ufffd",
		"\u2028", "\u3000", "\u0085",
		strings.Repeat("\xff", 1000),
		strings.Repeat("\x80", 1000),
		strings.Repeat(" ", 1000),
		strings.Repeat("日本", 1000),
		strings.Repeat("a", crs.MaxNameLen-1) + "é",
		strings.Repeat("a", crs.MaxNameLen-1) + "\xff",
		strings.Repeat("a", crs.MaxNameLen) + "\n",
		"\U0010FFFF\U0010FFFF",
	}
	for _, in := range inputs {
		got := crs.SanitizeName(in)
		if err := crs.ValidateName(got); err != nil {
			t.Errorf("ValidateName(SanitizeName(%q)) with result %q: got %v, want nil", in, got, err)
		}
		if len(got) > crs.MaxNameLen {
			t.Errorf("len(SanitizeName(%q)): got %d, want at most %d", in, len(got), crs.MaxNameLen)
		}
	}
}
