package crswatchdogconnector

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"

	"github.com/crstel/crstel/collector/connector/crswatchdogconnector/internal/metadata"
)

func TestLoadConfig(t *testing.T) {
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	storage := component.MustNewIDWithName("file_storage", "watchdog")
	tests := []struct {
		id   component.ID
		want *Config
	}{
		{component.NewID(metadata.Type), createDefaultConfig().(*Config)},
		{component.NewIDWithName(metadata.Type, "full"), &Config{
			LostAfter: 2 * time.Minute, Budgets: "llm=10m,building=30m,fuzzing=0", MaxTracked: 5000,
			Storage: &storage, CheckInterval: 10 * time.Second,
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
			if err := cfg.(*Config).Validate(); err != nil {
				t.Fatalf("Validate: %v", err)
			}
			if !reflect.DeepEqual(cfg, tt.want) {
				t.Errorf("got %+v, want %+v", cfg, tt.want)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		conf map[string]any
		want []string // in the error; none: valid
	}{
		{"budgets", map[string]any{"budgets": "llm=10m, building=30m,fuzzing=0,default=1h"}, nil},
		{"unknown budget key", map[string]any{"budgets": "patching=10m"}, []string{`budgets: unknown key "patching"`, "patch_generation"}},
		{"bad budget duration", map[string]any{"budgets": "llm=ten"}, []string{`budgets: llm="ten": want a duration`}},
		{"budget without =", map[string]any{"budgets": "llm"}, []string{`budgets: "llm": want key=duration`}},
		{"lost_after", map[string]any{"lost_after": "0s"}, []string{"lost_after: 0s; want a positive duration"}},
		{"max_tracked", map[string]any{"max_tracked": 0}, []string{"max_tracked: 0; want 1 or more"}},
		{"check_interval", map[string]any{"check_interval": "-1s"}, []string{"check_interval: -1s"}},
		{"check_interval past lost_after", map[string]any{"lost_after": "10s", "check_interval": "1m"},
			[]string{"check_interval: 1m0s is longer than lost_after (10s)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := createDefaultConfig().(*Config)
			if err := confmap.NewFromStringMap(tt.conf).Unmarshal(cfg); err != nil {
				t.Fatal(err)
			}
			err := cfg.Validate()
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate: nil, want an error with %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate: got %q, want it to contain %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "CRSTEL_OVERDUE") {
				t.Errorf("Validate: got %q, which names the variable, not the setting", err)
			}
		})
	}
}
