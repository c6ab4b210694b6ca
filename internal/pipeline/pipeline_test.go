package pipeline_test

import (
	"strings"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/crstel/crstel/internal/pipeline"
	"github.com/crstel/crstel/internal/watchdog"
)

func TestMergeBudgets(t *testing.T) {
	defaults := map[string]time.Duration{"default": time.Minute, "building": time.Hour}
	valid := []string{"default", "building", "llm"}
	tests := []struct {
		name      string
		overrides []map[string]time.Duration
		want      map[string]time.Duration
		wantErr   []string
	}{
		{name: "none", want: defaults},
		{name: "later wins", overrides: []map[string]time.Duration{{"llm": time.Second}, {"llm": 2 * time.Second, "building": 0}},
			want: map[string]time.Duration{"default": time.Minute, "building": 0, "llm": 2 * time.Second}},
		{name: "unknown and negative", overrides: []map[string]time.Duration{{"compile": time.Second, "llm": -time.Second}},
			wantErr: []string{`"compile": want one of default, building, llm`, `"llm" is -1s`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := pipeline.MergeBudgets(defaults, valid, tt.overrides...)
			for _, w := range tt.wantErr {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Errorf("error %v, want it to say %q", err, w)
				}
			}
			if tt.wantErr != nil {
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
			for k, v := range tt.want {
				if got[k] != v {
					t.Errorf("budget %s = %v, want %v", k, got[k], v)
				}
			}
		})
	}
	if defaults["building"] != time.Hour {
		t.Error("MergeBudgets changed the defaults")
	}
}

func TestLookup(t *testing.T) {
	tp := sdktrace.NewTracerProvider()
	defer tp.Shutdown(t.Context())
	p := pipeline.New(pipeline.Config{Budgets: map[string]time.Duration{"default": time.Minute}, Watchdog: watchdog.Config{}})
	defer p.Shutdown(t.Context())
	if pipeline.Lookup(tp) != nil {
		t.Error("Lookup found a pipeline before Register")
	}
	pipeline.Register(tp, p)
	if pipeline.Lookup(tp) != p {
		t.Error("Lookup did not find the registered pipeline")
	}
	if pipeline.Lookup(noop.NewTracerProvider()) != nil {
		t.Error("Lookup found a pipeline for a provider Setup did not make")
	}
	pipeline.Unregister(tp)
	if pipeline.Lookup(tp) != nil {
		t.Error("Lookup found a pipeline after Unregister")
	}
	if got := p.Budget("llm"); got != time.Minute {
		t.Errorf("Budget(llm) = %v, want the default 1m", got)
	}
}
