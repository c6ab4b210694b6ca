package subprocess_test

import (
	"slices"
	"testing"

	"github.com/crstel/crstel/subprocess"
)

func TestRedactArgs(t *testing.T) {
	const r = "[REDACTED]"
	for _, tt := range []struct{ in, want []string }{
		{[]string{"make", "-j8", "CFLAGS=-O2"}, []string{"make", "-j8", "CFLAGS=-O2"}},
		{[]string{"tool", "--password=hunter2", "--api-key", "sk-1", "-token", "t", "--user", "crs"},
			[]string{"tool", "--password=" + r, "--api-key", r, "-token", r, "--user", "crs"}},
		{[]string{"env", "OPENAI_API_KEY=sk-1", "GITHUB_TOKEN=ghp", "HOME=/root", "run"},
			[]string{"env", "OPENAI_API_KEY=" + r, "GITHUB_TOKEN=" + r, "HOME=/root", "run"}},
		{[]string{"curl", "-H", "Authorization: Bearer abc", "-H", "Accept: text/plain", "https://crs:s3cret@api.example/v1?token=abc&page=2"},
			[]string{"curl", "-H", "Authorization: " + r, "-H", "Accept: text/plain", "https://crs:" + r + "@api.example/v1?token=" + r + "&page=2"}},
		{[]string{"git", "clone", "https://github.com/o/r"}, []string{"git", "clone", "https://github.com/o/r"}},
		{[]string{"--password"}, []string{"--password"}}, // the command is kept
		{[]string{"tool", "--password"}, []string{"tool", "--password"}},
		{[]string{"llm", "--max-tokens", "100"}, []string{"llm", "--max-tokens", "100"}},
		{nil, []string{}},
	} {
		got := subprocess.RedactArgs(tt.in)
		if !slices.Equal(got, tt.want) {
			t.Errorf("RedactArgs(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	in := []string{"tool", "--token=x"}
	subprocess.RedactArgs(in)
	if in[1] != "--token=x" {
		t.Error("RedactArgs changed its argument")
	}
}
