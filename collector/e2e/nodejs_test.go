package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

// The attributes crs_conformance sets.
const (
	invalidKey       = "crstel.invalid"
	inheritedKeysKey = "crstel.inherited.keys"
	inheritedFromKey = "crstel.inherited.from"
)

var inheritedAll = []string{"crs.action.category", "crs.action.name", "round.id", "task.id", "team.id"}

// nodeReady fails the test if Node.js or npm is missing, and installs the
// Node.js component's packages (npm ci).
func nodeReady(t *testing.T) {
	t.Helper()
	for _, tool := range []string{"node", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is not in PATH: the Node.js component needs Node.js 20 or later and npm", tool)
		}
	}
	npmCI(t)
}

// sendNode runs the Node.js component (nodejs/send.js) once, sending to c;
// the test fails, saying what, if it fails or runs for over 2 minutes.
func sendNode(t *testing.T, c *collector, what string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", "send.js")
	cmd.SysProcAttr = dieWithTest()
	cmd.Dir = "nodejs"
	cmd.Env = append(os.Environ(), "OTEL_EXPORTER_OTLP_ENDPOINT=http://"+c.grpc)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", what, err, out)
	}
}

// TestNodeComponent: a component in Node.js, with the official
// OpenTelemetry JS SDK (nodejs/send.js), sends conforming spans, an
// OpenLIT-shaped LLM span without CRS attributes, and a bad span of each
// kind through crstelcol with its default configuration; each span comes
// out clean, repaired from its action, or marked with the rule it breaks,
// and the processor's metrics on the collector's Prometheus endpoint count
// them.
func TestNodeComponent(t *testing.T) {
	crstelcol(t) // built first; skips under -short
	nodeReady(t)
	c := start(t)
	sendNode(t, c, "node send.js")

	spans := c.waitSpans(t, 11, 30*time.Second)
	id := func(name string) string {
		s, ok := spans[name]
		if !ok {
			t.Fatalf("no span %q", name)
		}
		return s.SpanID().String()
	}
	tests := []struct {
		span string
		// inherited from the span named from, or nothing
		inherited []string
		from      string
		marked    []string // the rules, in order
	}{
		{span: "generate_patch"},
		{span: "chat gpt-4o-mini", inherited: inheritedAll, from: "generate_patch"},
		{span: "POST", inherited: inheritedAll, from: "generate_patch"},
		{span: "chat inside POST", inherited: inheritedAll, from: "generate_patch"},
		{span: "misspelled_key", marked: []string{"misspelled_key"}},
		{span: "int_as_string", marked: []string{"type_mismatch"}},
		{span: "unknown_category", marked: []string{"unknown_category"}},
		{span: "invalid_name", marked: []string{"invalid_name"}},
		{span: "missing_metadata", marked: []string{"missing_metadata", "missing_metadata"}},
		{span: "upload"},
		{span: "missing_service_name", marked: []string{"missing_service_name"}},
	}
	for _, tt := range tests {
		s, ok := spans[tt.span]
		if !ok {
			t.Errorf("span %q: missing", tt.span)
			continue
		}
		attrs := s.Attributes()
		if got := strs(attrs, inheritedKeysKey); !slices.Equal(got, tt.inherited) {
			t.Errorf("span %q: inherited %v, want %v", tt.span, got, tt.inherited)
		}
		wantFrom := ""
		if tt.from != "" {
			wantFrom = id(tt.from)
		}
		if from, _ := attrs.Get(inheritedFromKey); from.Str() != wantFrom {
			t.Errorf("span %q: inherited from %q, want %q (%s)", tt.span, from.Str(), wantFrom, tt.from)
		}
		if got := rules(attrs); !slices.Equal(got, tt.marked) {
			t.Errorf("span %q: marked %q, want the rules %v", tt.span, strs(attrs, invalidKey), tt.marked)
		}
	}
	if s, ok := spans["chat gpt-4o-mini"]; ok {
		if v, _ := s.Attributes().Get("crs.action.category"); v.Str() != "patch_generation" {
			t.Errorf("the LLM span's crs.action.category = %q, want its action's patch_generation", v.Str())
		}
	}

	text, err := c.scrape()
	if err != nil {
		t.Fatal(err)
	}
	const violations = "otelcol_processor_crs_conformance_violations"
	for _, m := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"otelcol_processor_crs_conformance_items_checked", []string{`service_name="node-agent"`, `signal="traces"`}, 10},
		{"otelcol_processor_crs_conformance_items_checked", []string{`service_name="unknown_service"`}, 1},
		{"otelcol_processor_crs_conformance_items_repaired", []string{`service_name="node-agent"`}, 3},
		{violations, []string{`rule="missing_attribute"`, `outcome="repaired"`, `service_name="node-agent"`}, 6},
		{violations, []string{`rule="missing_metadata"`, `outcome="repaired"`}, 9},
		{violations, []string{`rule="misspelled_key"`, `outcome="marked"`, `level="violation"`}, 1},
		{violations, []string{`rule="type_mismatch"`, `outcome="marked"`}, 1},
		{violations, []string{`rule="unknown_category"`, `outcome="marked"`}, 1},
		{violations, []string{`rule="invalid_name"`, `outcome="marked"`}, 1},
		{violations, []string{`rule="missing_metadata"`, `outcome="marked"`}, 2},
		{violations, []string{`rule="missing_service_name"`, `service_name="unknown_service"`}, 1},
	} {
		got, ok := metric(text, m.name, m.labels...)
		if !ok || got != m.want {
			t.Errorf("%s{%s} = %v (found: %v), want %v", m.name, strings.Join(m.labels, ","), got, ok, m.want)
		}
	}
	if t.Failed() {
		t.Logf("the collector's metrics:\n%s", grep(text, "crs_conformance"))
	}

	lintRecording(t, c.spansFile)
}

// lintRecording runs crstel lint --json on the collector's file, the
// recording of the Node.js component as crs_conformance left it: the spans
// it marked are violations (exit status 1), reported by service and rule;
// the spans it repaired are clean.
func lintRecording(t *testing.T, file string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "tool", "crstel", "lint", "--json", file)
	cmd.Dir = moduleDir
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("crstel lint %s: %v, want exit status 1 (violations)\n%s%s", file, err, out, stderr.String())
	}
	var report struct {
		Spans               int `json:"spans"`
		SpansWithViolations int `json:"spans_with_violations"`
		Services            []struct {
			Service string `json:"service"`
			Rules   []struct {
				Rule string `json:"rule"`
			} `json:"rules"`
		} `json:"services"`
	}
	if err := json.Unmarshal(out, &report); err != nil {
		t.Fatalf("crstel lint --json: %v\n%s", err, out)
	}
	// The five marked spans of node-agent and the one without a service;
	// the action, its three repaired descendants and upload are clean.
	if report.Spans != 11 || report.SpansWithViolations != 6 {
		t.Errorf("lint: %d spans, %d with violations; want 11 and 6\n%s", report.Spans, report.SpansWithViolations, out)
	}
	got := map[string][]string{}
	for _, s := range report.Services {
		for _, r := range s.Rules {
			got[s.Service] = append(got[s.Service], r.Rule)
		}
		slices.Sort(got[s.Service])
	}
	want := map[string][]string{
		"node-agent": {"invalid_name", "marked_invalid", "missing_metadata", "misspelled_key", "type_mismatch", "unknown_category"},
		"":           {"marked_invalid", "missing_service_name"},
	}
	for service, rules := range want {
		if !slices.Equal(got[service], rules) {
			t.Errorf("lint: service %q broke %v, want %v\n%s", service, got[service], rules, out)
		}
	}
}

// npmCI installs the Node.js component's packages from its
// package-lock.json.
func npmCI(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "npm", "ci", "--no-audit", "--no-fund")
	cmd.Dir = "nodejs"
	start := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("npm ci in nodejs: %v\n%s", err, out)
	}
	t.Logf("npm ci: %s", time.Since(start).Round(time.Millisecond))
}

// strs returns the string slice attribute key of m, nil if absent.
func strs(m pcommon.Map, key string) []string {
	v, ok := m.Get(key)
	if !ok {
		return nil
	}
	var out []string
	s := v.Slice()
	for i := range s.Len() {
		out = append(out, s.At(i).AsString())
	}
	return out
}

// rules returns the rule ids that start the entries of crstel.invalid.
func rules(m pcommon.Map) []string {
	var out []string
	for _, s := range strs(m, invalidKey) {
		rule, _, _ := strings.Cut(s, ":")
		out = append(out, rule)
	}
	return out
}

// grep returns the lines of text that contain s.
func grep(text, s string) string {
	var out []string
	for line := range strings.Lines(text) {
		if strings.Contains(line, s) {
			out = append(out, strings.TrimSuffix(line, "\n"))
		}
	}
	return strings.Join(out, "\n")
}
