package envconfig_test

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/crstel/crstel/internal/envconfig"
)

// sdkModules are the modules whose code reads the environment in a crstel
// process: the SDK, its OTLP/gRPC exporters, and the propagators.
var sdkModules = []string{
	"go.opentelemetry.io/otel/sdk",
	"go.opentelemetry.io/otel/sdk/metric",
	"go.opentelemetry.io/otel/sdk/log",
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc",
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetricgrpc",
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploggrpc",
	"go.opentelemetry.io/otel/exporters/prometheus",
	"go.opentelemetry.io/contrib/propagators/autoprop",
}

var (
	// A variable's name as a string literal.
	literalRE = regexp.MustCompile(`"(OTEL_[A-Z0-9_]*[A-Z0-9])"`)
	// A name the OTLP exporters' env readers prefix with
	// OTEL_EXPORTER_OTLP_: envconfig.WithURL("TRACES_ENDPOINT", ...).
	otlpRE = regexp.MustCompile(`(?:envconfig\.With\w+|[Ww]ithEnv\w+)\(\s*"([A-Z_]+)"(?:,\s*"([A-Z_]+)")?`)
	// An experimental feature: newFeature([]string{"OBSERVABILITY", ...}.
	featureRE = regexp.MustCompile(`newFeature\(\s*\[\]string\{([^}]*)\}`)
	quotedRE  = regexp.MustCompile(`"([A-Z_]+)"`)
)

// TestVarsCoverSDK reads the sources of the SDK modules crstel uses, in
// the module cache, and checks that every variable they read is in
// envconfig.Vars: a new SDK release that reads a new variable fails here
// until Read validates it too.
func TestVarsCoverSDK(t *testing.T) {
	if testing.Short() {
		t.Skip("reads the module cache")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command")
	}
	out, err := exec.Command(goTool, append([]string{"list", "-m", "-f", "{{.Dir}}"}, sdkModules...)...).Output()
	if err != nil {
		t.Skipf("go list -m: %v", err)
	}
	found := map[string]string{} // name: file
	for dir := range strings.FieldsSeq(string(out)) {
		err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return err
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			src := string(b)
			rel, _ := filepath.Rel(filepath.Dir(dir), path)
			for _, m := range literalRE.FindAllStringSubmatch(src, -1) {
				found[m[1]] = rel
			}
			if strings.Contains(src, `Namespace: "OTEL_EXPORTER_OTLP"`) || strings.Contains(path, "envconfig") || strings.Contains(path, "oconf") || strings.Contains(path, "otlpconfig") {
				for _, m := range otlpRE.FindAllStringSubmatch(src, -1) {
					for _, n := range m[1:] {
						if n != "" {
							found["OTEL_EXPORTER_OTLP_"+n] = rel
						}
					}
				}
			}
			for _, m := range featureRE.FindAllStringSubmatch(src, -1) {
				for _, q := range quotedRE.FindAllStringSubmatch(m[1], -1) {
					found["OTEL_GO_X_"+q[1]] = rel
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if len(found) < 40 {
		t.Fatalf("found only %d variables in the SDK's sources: %v", len(found), found)
	}
	// Names that are not variables read: the exporters' namespace.
	notRead := []string{"OTEL_EXPORTER_OTLP"}
	for _, name := range slices.Sorted(func(yield func(string) bool) {
		for n := range found {
			if !yield(n) {
				return
			}
		}
	}) {
		if slices.Contains(notRead, name) {
			continue
		}
		if _, ok := envconfig.LookupVar(name); !ok {
			t.Errorf("%s, which %s reads, is not in envconfig.Vars", name, found[name])
		}
	}
}
