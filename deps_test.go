package crstel_test

import (
	"maps"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// TestDependencies holds each package of the module to the dependencies its
// job needs. It counts the packages outside the standard library that a
// package imports, directly or not, as go list reports them for
// linux/amd64: a package that starts to import more fails here, as logs
// would have when it imported crstel to find the action (226 packages where
// it needs 31). A change meant to add or remove dependencies updates the
// table. It also checks DESIGN.md's rules: crs imports the attribute
// package only, and the packages below crstel never import it.
func TestDependencies(t *testing.T) {
	const module = "github.com/crstel/crstel"
	below := []string{module}                                // packages below crstel: not crstel
	api := []string{module, "go.opentelemetry.io/otel/sdk/"} // and not the SDK either
	table := []struct {
		pkg       string   // relative to the module
		want      int      // packages outside the standard library it depends on
		only      []string // if not nil, all it may import outside the standard library
		forbidden []string // packages, or prefixes ending in /, it must not depend on
	}{
		{pkg: "", want: 257},
		{pkg: "crs", want: 4, only: []string{"go.opentelemetry.io/otel/attribute"}},
		{pkg: "crs/conform", want: 5, only: []string{module + "/crs", "go.opentelemetry.io/otel/attribute"}},
		{pkg: "crs/conform/conformtest", want: 6, forbidden: api},
		{pkg: "crsteltest", want: 259},
		{pkg: "fuzz", want: 34, forbidden: api},
		{pkg: "genai", want: 35, forbidden: api},
		{pkg: "logs", want: 32, forbidden: api},
		{pkg: "subprocess", want: 260},
		{pkg: "cmd/crstel", want: 16, forbidden: api},
		{pkg: "internal/actionref", want: 12, forbidden: api},
		{pkg: "internal/audit", want: 10, forbidden: api},
		{pkg: "internal/redact", want: 0, forbidden: api},
		{pkg: "internal/collectortest", want: 170, forbidden: below},
		{pkg: "internal/console", want: 40, forbidden: below},
		{pkg: "internal/pricetable", want: 0, forbidden: api},
		{pkg: "internal/envconfig", want: 6, forbidden: api},
		{pkg: "internal/export", want: 84, forbidden: below},
		{pkg: "internal/journal", want: 9, forbidden: api},
		{pkg: "internal/journal/journaltest", want: 1, forbidden: api},
		{pkg: "internal/lifecycle", want: 40, forbidden: below},
		{pkg: "internal/otlp", want: 213, forbidden: below},
		{pkg: "internal/otlpjson", want: 4, forbidden: api},
		{pkg: "internal/otlptest", want: 169, forbidden: below},
		{pkg: "internal/pipeline", want: 45, forbidden: below},
		{pkg: "internal/provider", want: 0, forbidden: api},
		{pkg: "internal/violation", want: 31, forbidden: api},
		{pkg: "internal/watchdog", want: 9, forbidden: api},
	}

	std := map[string]bool{}
	for line := range strings.Lines(goList(t, "-deps", "-f", "{{.ImportPath}} {{.Standard}}", "./...")) {
		path, isStd, _ := strings.Cut(strings.TrimSpace(line), " ")
		std[path] = isStd == "true"
	}
	type pkg struct{ imports, deps []string } // outside the standard library
	pkgs := map[string]pkg{}
	for line := range strings.Lines(goList(t, "-f", "{{.ImportPath}}\t{{join .Imports \" \"}}\t{{join .Deps \" \"}}", "./...")) {
		fields := strings.Split(strings.TrimRight(line, "\n"), "\t")
		if strings.HasPrefix(fields[0], module+"/examples") {
			continue // programs that show the public API
		}
		notStd := func(paths string) []string {
			return slices.DeleteFunc(strings.Fields(paths), func(p string) bool { return std[p] })
		}
		pkgs[fields[0]] = pkg{imports: notStd(fields[1]), deps: notStd(fields[2])}
	}

	inTable := map[string]bool{}
	for _, tt := range table {
		path := strings.TrimSuffix(module+"/"+tt.pkg, "/")
		inTable[path] = true
		p, ok := pkgs[path]
		if !ok {
			t.Errorf("%s: no such package in the module; remove its row", path)
			continue
		}
		t.Logf("%-48s %3d packages outside the standard library", path, len(p.deps))
		if got := len(p.deps); got != tt.want {
			t.Errorf("%s: got %d packages outside the standard library, want %d (a leak, or a change that updates the table)", path, got, tt.want)
		}
		if tt.only != nil {
			if extra := slices.DeleteFunc(slices.Clone(p.imports), func(d string) bool { return slices.Contains(tt.only, d) }); len(extra) > 0 {
				t.Errorf("%s imports %q, want only %q", path, extra, tt.only)
			}
		}
		for _, f := range tt.forbidden {
			var bad []string
			for _, d := range p.deps {
				if d == f || strings.HasSuffix(f, "/") && strings.HasPrefix(d, f) {
					bad = append(bad, d)
				}
			}
			if len(bad) > 0 {
				t.Errorf("%s depends on %s (%d packages: %s, ...), which it must not", path, f, len(bad), bad[0])
			}
		}
	}
	for _, path := range slices.Sorted(maps.Keys(pkgs)) {
		if !inTable[path] {
			t.Errorf("%s (%d packages outside the standard library) has no row; add one", path, len(pkgs[path].deps))
		}
	}
}

// goList runs go list with args for linux/amd64, and returns its output; it
// skips the test if there is no go command.
func goList(t *testing.T, args ...string) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command")
	}
	cmd := exec.Command(goTool, append([]string{"list"}, args...)...)
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH=amd64")
	out, err := cmd.Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("go list %s: %v\n%s", strings.Join(args, " "), err, stderr)
	}
	return string(out)
}
