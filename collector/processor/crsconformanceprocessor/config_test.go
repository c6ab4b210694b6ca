package crsconformanceprocessor

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"

	"github.com/crstel/crstel/collector/processor/crsconformanceprocessor/internal/metadata"
)

func TestLoadConfig(t *testing.T) {
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		id   component.ID
		want *Config
	}{
		{component.NewID(metadata.Type), createDefaultConfig().(*Config)},
		{component.NewIDWithName(metadata.Type, "repair"), &Config{
			Mode:             ModeRepair,
			Rules:            map[string]Mode{"type_mismatch": ModeDrop, "missing_service_name": ModeObserve},
			Inherit:          true,
			RequiredMetadata: []string{"round.id", "task.id"},
			TraceMetadata:    []string{"team.id"},
			MaxServiceNames:  20,
		}},
		{component.NewIDWithName(metadata.Type, "no_trace_metadata"), &Config{
			Mode: ModeMark, TraceMetadata: []string{}, MaxServiceNames: DefaultMaxServiceNames,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.id.String(), func(t *testing.T) {
			cfg := NewFactory().CreateDefaultConfig()
			sub, err := cm.Sub(tt.id.String())
			if err != nil {
				t.Fatal(err)
			}
			if err := sub.Unmarshal(cfg); err != nil {
				t.Fatal(err)
			}
			if err := confmap.Validate(cfg); err != nil {
				t.Fatalf("Validate: %v", err)
			}
			if !reflect.DeepEqual(cfg, tt.want) {
				t.Errorf("got %+v, want %+v", cfg, tt.want)
			}
		})
	}
}

func TestDefaultConfig(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	want := &Config{Mode: ModeMark, Inherit: true, TraceMetadata: []string{"round.id", "task.id", "team.id"}, MaxServiceNames: 100}
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("got %+v, want %+v", cfg, want)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  func(*Config)
		want string // "" for valid
	}{
		{"default", func(*Config) {}, ""},
		{"every mode", func(c *Config) {
			c.Mode = ModeDrop
			c.Rules = map[string]Mode{"type_mismatch": ModeRepair, "invalid_name": ModeObserve, "marked_invalid": ModeMark}
		}, ""},
		{"unknown mode", func(c *Config) { c.Mode = "fix" }, `mode: unknown mode "fix"; want one of observe, mark, repair, drop`},
		{"empty mode", func(c *Config) { c.Mode = "" }, `mode: unknown mode ""`},
		{"unknown rule", func(c *Config) { c.Rules = map[string]Mode{"type_mistmatch": ModeDrop} },
			`rules: unknown rule "type_mistmatch"; the rules are missing_service_name, missing_attribute, type_mismatch`},
		{"unknown mode of a rule", func(c *Config) { c.Rules = map[string]Mode{"type_mismatch": "Drop"} },
			`rules::type_mismatch: unknown mode "Drop"`},
		{"empty metadata key", func(c *Config) { c.RequiredMetadata = []string{"task.id", " "} }, `required_metadata[1]: empty key`},
		{"metadata key of the specification", func(c *Config) { c.TraceMetadata = []string{"crs.action.name"} },
			`trace_metadata[0]: "crs.action.name" is in the specification's namespace, not task metadata`},
		{"metadata key twice", func(c *Config) { c.RequiredMetadata = []string{"task.id", "task.id"} }, `required_metadata[1]: "task.id" is listed twice`},
		{"no service names", func(c *Config) { c.MaxServiceNames = 0 }, `max_service_names: 0; want 1 or more`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := createDefaultConfig().(*Config)
			tt.cfg(cfg)
			err := cfg.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("Validate: %v, want nil", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("Validate: %v, want an error containing %q", err, tt.want)
			}
		})
	}
}
