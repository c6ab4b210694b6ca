package violation_test

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/crstel/crstel/crs"
	"github.com/crstel/crstel/internal/violation"
)

func TestQuote(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"empty", "", `""`},
		{"short", "fuzz", `"fuzz"`},
		{"quotes and newline", "a\"b\nc", `"a\"b\nc"`},
		{"invalid UTF-8", "bad\xff", `"bad\xff"`},
		{"exactly 64 bytes", strings.Repeat("q", 64), strconv.Quote(strings.Repeat("q", 64))},
		{"65 bytes", strings.Repeat("q", 65), strconv.Quote(strings.Repeat("q", 64)) + "... (65 bytes)"},
		{"1 MB", strings.Repeat("q", 1<<20), strconv.Quote(strings.Repeat("q", 64)) + "... (1048576 bytes)"},
		{"rune across the cut", "a" + strings.Repeat("é", 40), strconv.Quote("a"+strings.Repeat("é", 31)) + "... (81 bytes)"},
		{"4-byte runes", strings.Repeat("😀", 20), strconv.Quote(strings.Repeat("😀", 16)) + "... (80 bytes)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := violation.Quote(tt.in)
			if got != tt.want {
				t.Errorf("Quote(%.80q): got %q, want %q", tt.in, got, tt.want)
			}
			if !utf8.ValidString(got) {
				t.Errorf("Quote(%.80q): got %q, not valid UTF-8", tt.in, got)
			}
		})
	}
}

func TestQuoteStaysShort(t *testing.T) {
	for _, in := range []string{
		strings.Repeat("x", 1<<20),
		strings.Repeat("\xff", 1<<20),
		strings.Repeat("\x00", 1<<20),
		strings.Repeat("日", 1<<18),
		strings.Repeat("\U0010FFFF", 1<<18),
	} {
		got := violation.Quote(in)
		// 64 bytes, each escaped to at most 4 bytes (\xff), or 4-byte runes
		// escaped to 10 (\U0010ffff), plus quotes and the length.
		if len(got) > 300 {
			t.Errorf("Quote(%d bytes of %.8q...): got %d bytes, want at most 300", len(in), in, len(got))
		}
		if !strings.HasSuffix(got, "("+strconv.Itoa(len(in))+" bytes)") {
			t.Errorf("Quote(%d bytes): got %q, want the length noted", len(in), got)
		}
		if !utf8.ValidString(got) {
			t.Errorf("Quote(%d bytes of %.8q...): got invalid UTF-8", len(in), in)
		}
	}
}

// TestQuoteAgrees: package crs, which cannot import this one, quotes the
// values in its errors with a copy of Quote; the two stay the same. Every
// value is quoted whole in the error of metadata with an empty key.
func TestQuoteAgrees(t *testing.T) {
	for _, in := range []string{
		"", "fuzz", "a\"b\nc", "bad\xff",
		strings.Repeat("q", 64), strings.Repeat("q", 65), strings.Repeat("q", 1<<20),
		"a" + strings.Repeat("é", 40), strings.Repeat("😀", 20),
		strings.Repeat("\x80", 200), strings.Repeat("\xff", 100), strings.Repeat("\U0010FFFF", 30),
	} {
		err := crs.Metadata{"": in}.Validate()
		want := "empty key (value " + violation.Quote(in) + ")"
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("crs.Metadata{\"\": %.40q}.Validate(): got %v, want it to contain %s", in, err, want)
		}
	}
}

func ExampleQuote() {
	fmt.Println(violation.Quote("fuzz"))
	fmt.Println(violation.Quote("bad\xff"))
	fmt.Println(violation.Quote(strings.Repeat("a", 1<<20)))
	// Output:
	// "fuzz"
	// "bad\xff"
	// "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"... (1048576 bytes)
}
