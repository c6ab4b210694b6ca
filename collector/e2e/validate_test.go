package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestValidateDefaultConfig: crstelcol validates its default
// configuration, with each exporter the environment can choose, and
// rejects one it does not have.
func TestValidateDefaultConfig(t *testing.T) {
	bin := crstelcol(t)
	for _, tt := range []struct {
		exporter string
		want     string // "" for valid; else a piece of the error
	}{
		{"", ""},
		{"debug", ""},
		{"file", ""},
		{"otlp_grpc/upstream", ""},
		{"otlp", `references exporter "otlp" which is not configured`},
	} {
		t.Run("exporter="+tt.exporter, func(t *testing.T) {
			cmd := exec.Command(bin, "validate", "--config", defaultConfig)
			cmd.Env = os.Environ()
			if tt.exporter != "" {
				cmd.Env = append(cmd.Env, "CRSTELCOL_EXPORTER="+tt.exporter)
			}
			out, err := cmd.CombinedOutput()
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("crstelcol validate: %v\n%s", err, out)
			case tt.want != "" && err == nil:
				t.Errorf("crstelcol validate: nil, want an error containing %q", tt.want)
			case tt.want != "" && !strings.Contains(string(out), tt.want):
				t.Errorf("crstelcol validate: %s, want an error containing %q", out, tt.want)
			}
		})
	}
}

// TestValidateWatchdogExample: the watchdog's example merges over the
// default configuration into a valid one, and a bad budget is refused with
// the setting named.
func TestValidateWatchdogExample(t *testing.T) {
	bin := crstelcol(t)
	for _, tt := range []struct {
		budgets string
		want    string // "" for valid; else a piece of the error
	}{
		{"", ""},
		{"patching=1m", `budgets: unknown key "patching"`},
	} {
		t.Run("budgets="+tt.budgets, func(t *testing.T) {
			cmd := exec.Command(bin, "validate", "--config", defaultConfig, "--config", filepath.Join("..", "examples", "watchdog.yaml"))
			cmd.Env = append(os.Environ(), "CRSTELCOL_WATCHDOG_BUDGETS="+tt.budgets)
			out, err := cmd.CombinedOutput()
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("crstelcol validate: %v\n%s", err, out)
			case tt.want != "" && !strings.Contains(string(out), tt.want):
				t.Errorf("crstelcol validate: %v %s, want an error containing %q", err, out, tt.want)
			}
		})
	}
}

// TestComponents: crstelcol has the components the README lists.
func TestComponents(t *testing.T) {
	out, err := exec.Command(crstelcol(t), "components").CombinedOutput()
	if err != nil {
		t.Fatalf("crstelcol components: %v\n%s", err, out)
	}
	for _, name := range []string{"otlp", "batch", "groupbytrace", "crs_conformance", "crs_watchdog", "otlp_grpc", "otlp_http",
		"debug", "file", "load_balancing", "basicauth", "file_storage"} {
		if !strings.Contains(string(out), "- name: "+name+"\n") {
			t.Errorf("crstelcol components lists no %s:\n%s", name, out)
		}
	}
}
