package crstel_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/trace"

	"github.com/crstel/crstel"
	"github.com/crstel/crstel/crs"
	"github.com/crstel/crstel/genai"
	"github.com/crstel/crstel/internal/otlptest"
	"github.com/crstel/crstel/subprocess"
)

// promMetrics are the metrics the README's "Metrics and Prometheus" table
// documents, by their Prometheus names, with the labels each series has
// (besides otel_scope_*).
var promMetrics = []struct {
	name   string
	typ    dto.MetricType
	labels []string
}{
	{"crstel_action_duration_seconds", dto.MetricType_HISTOGRAM, []string{"crs_action_category", "crstel_action_outcome"}},
	{"crstel_actions_open", dto.MetricType_GAUGE, nil},
	{"crstel_actions_overdue", dto.MetricType_GAUGE, nil},
	{"crstel_watchdog_reports_total", dto.MetricType_COUNTER, []string{"crstel_watchdog_state"}},
	{"crstel_spans_lost_total", dto.MetricType_COUNTER, []string{"crstel_reason"}},
	{"crstel_log_records_lost_total", dto.MetricType_COUNTER, []string{"crstel_reason"}},
	{"crstel_export_queue_size", dto.MetricType_GAUGE, []string{"crstel_signal"}},
	{"crstel_export_queue_age_seconds", dto.MetricType_GAUGE, []string{"crstel_signal"}},
	{"crstel_cost_llm_total", dto.MetricType_COUNTER, []string{"crs_action_category", "gen_ai_request_model", "crstel_cost_currency"}},
	{"crstel_cost_llm_tokens_total", dto.MetricType_COUNTER, []string{"crs_action_category", "gen_ai_request_model", "gen_ai_token_type"}},
	{"crstel_cost_cpu_seconds_total", dto.MetricType_COUNTER, []string{"crs_action_category"}},
	{"gen_ai_client_operation_duration_seconds", dto.MetricType_HISTOGRAM, []string{"gen_ai_operation_name", "gen_ai_provider_name", "gen_ai_request_model"}},
	{"gen_ai_client_token_usage", dto.MetricType_HISTOGRAM, []string{"gen_ai_operation_name", "gen_ai_provider_name", "gen_ai_request_model", "gen_ai_token_type"}},
}

// scrape gets the text exposition of http://addr/metrics and parses it.
func scrape(t *testing.T, addr string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %s", resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parsing the exposition: %v", err)
	}
	return families
}

// ownLabel reports whether a series' label is the metric's own, not the
// instrumentation scope's or the resource's service_name, which every
// series has.
func ownLabel(l *dto.LabelPair) bool {
	return !strings.HasPrefix(l.GetName(), "otel_scope_") && l.GetName() != "service_name"
}

// labelNames returns the names of a series' own labels.
func labelNames(m *dto.Metric) []string {
	var names []string
	for _, l := range m.GetLabel() {
		if ownLabel(l) {
			names = append(names, l.GetName())
		}
	}
	slices.Sort(names)
	return names
}

// TestPrometheusEndpoint: OTEL_METRICS_EXPORTER=prometheus, alone or with
// otlp, serves every documented metric with its labels on the port taken
// (0: a free one), while the OTLP export goes on with otlp,prometheus only;
// Shutdown stops the server and its goroutine (isolate checks).
func TestPrometheusEndpoint(t *testing.T) {
	for _, tt := range []struct {
		exporter string
		otlp     bool // metrics exported over OTLP too
	}{
		{"prometheus", false},
		{"otlp,prometheus", true},
	} {
		t.Run(tt.exporter, func(t *testing.T) {
			errs := isolate(t)
			srv := otlptest.NewServer(t)
			t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", srv.URL())
			t.Setenv("OTEL_METRICS_EXPORTER", tt.exporter)
			t.Setenv("OTEL_EXPORTER_PROMETHEUS_HOST", "127.0.0.1")
			t.Setenv("OTEL_EXPORTER_PROMETHEUS_PORT", "0")
			tel, err := crstel.Setup(context.Background(), crstel.WithServiceName("patcher"), crstel.WithTraceDir(t.TempDir()))
			if err != nil {
				t.Fatal(err)
			}
			addr := tel.PrometheusAddr()
			host, port, err := net.SplitHostPort(addr)
			if err != nil || host != "127.0.0.1" || port == "0" {
				t.Fatalf("PrometheusAddr() = %q, want 127.0.0.1 and the port taken", addr)
			}

			// An action of each kind of cost, and one left open.
			ctx := crstel.WithTask(context.Background(), crs.Metadata{"task.id": "t-1"})
			actx, action := crstel.Action(ctx, crs.PatchGeneration, "generate_patch", nil)
			llmCall(actx, costPrices(t), "coder", genai.Response{InputTokens: 100, OutputTokens: 10})
			if err := subprocess.Run(actx, crs.Building, "compile_patch", exec.Command("true")); err != nil {
				t.Fatal(err)
			}
			action.End()
			_, open := crstel.Action(ctx, crs.Testing, "run_tests", nil)

			families := scrape(t, addr)
			for _, m := range promMetrics {
				f, ok := families[m.name]
				if !ok {
					t.Errorf("%s: missing", m.name)
					continue
				}
				if f.GetType() != m.typ {
					t.Errorf("%s: type %s, want %s", m.name, f.GetType(), m.typ)
				}
				want := slices.Sorted(slices.Values(m.labels))
				for _, s := range f.GetMetric() {
					if got := labelNames(s); !slices.Equal(got, want) {
						t.Errorf("%s: labels %v, want %v", m.name, got, want)
					}
					if got := labelValue(s, "service_name"); got != "patcher" {
						t.Errorf("%s: service_name %q, want patcher (the resource's service.name)", m.name, got)
					}
				}
			}
			if names := promSeries(families["crstel_action_duration_seconds"]); !slices.Contains(names, "crs_action_category=patch_generation") {
				t.Errorf("crstel_action_duration_seconds: series %v, want one of patch_generation", names)
			}
			if got := families["crstel_actions_open"].GetMetric()[0].GetGauge().GetValue(); got != 1 {
				t.Errorf("crstel_actions_open = %v, want 1", got)
			}
			if names := promSeries(families["crstel_export_queue_size"]); !slices.Equal(names, []string{"crstel_signal=log_records", "crstel_signal=spans"}) {
				t.Errorf("crstel_export_queue_size: series %v, want spans and log_records", names)
			}
			if _, ok := families["target_info"]; !ok {
				t.Error("target_info (the resource) missing")
			}
			for name := range families {
				if strings.HasPrefix(name, "go_") || strings.HasPrefix(name, "process_") {
					t.Errorf("%s: the registry is not isolated", name)
				}
			}

			open.End()
			if err := shutdownTel(t, tel); err != nil {
				t.Errorf("Shutdown: %v", err)
			}
			if _, err := http.Get("http://" + addr + "/metrics"); err == nil {
				t.Error("the endpoint still serves after Shutdown")
			}
			if got := srv.MetricRequests() > 0; got != tt.otlp {
				t.Errorf("OTLP metric export: got %v, want %v", got, tt.otlp)
			}
			if got := len(srv.Spans()); got == 0 {
				t.Error("the OTLP server got no spans")
			}
			if e := errs.Messages(); len(e) != 0 {
				t.Errorf("otel.Handle got %q, want nothing", e)
			}
		})
	}
}

// labelValue returns the value of a series' label name, "" if it has none.
func labelValue(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// promSeries returns the values of f's series' own labels, as name=value.
func promSeries(f *dto.MetricFamily) []string {
	var names []string
	for _, m := range f.GetMetric() {
		for _, l := range m.GetLabel() {
			if ownLabel(l) {
				names = append(names, l.GetName()+"="+l.GetValue())
			}
		}
	}
	slices.Sort(names)
	return names
}

// TestPrometheusPortTaken: a port already taken is an error of Setup that
// names the address, and Setup leaves nothing behind.
func TestPrometheusPortTaken(t *testing.T) {
	isolate(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	t.Setenv("OTEL_TRACES_EXPORTER", "none")
	t.Setenv("OTEL_METRICS_EXPORTER", "prometheus")
	t.Setenv("OTEL_EXPORTER_PROMETHEUS_HOST", "127.0.0.1")
	t.Setenv("OTEL_EXPORTER_PROMETHEUS_PORT", port)
	tel, err := crstel.Setup(context.Background(), crstel.WithoutJournal())
	if err == nil {
		_ = shutdownTel(t, tel)
		t.Fatal("Setup succeeded on a port taken")
	}
	want := "127.0.0.1:" + port
	if !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "OTEL_EXPORTER_PROMETHEUS_PORT") {
		t.Errorf("Setup: %v, want an error naming %s and OTEL_EXPORTER_PROMETHEUS_PORT", err, want)
	}
	var opErr *net.OpError
	if !errors.As(err, &opErr) {
		t.Errorf("Setup: %v, want the listener's *net.OpError wrapped", err)
	}
}

// TestPrometheusAddrOff: without prometheus in OTEL_METRICS_EXPORTER
// nothing is served, and the port variables are still checked.
func TestPrometheusAddrOff(t *testing.T) {
	isolate(t)
	t.Setenv("OTEL_TRACES_EXPORTER", "none")
	tel := startSetup(t, crstel.WithoutJournal())
	if got := tel.PrometheusAddr(); got != "" {
		t.Errorf("PrometheusAddr() = %q, want \"\"", got)
	}
	t.Setenv("OTEL_EXPORTER_PROMETHEUS_PORT", "65536")
	if _, err := crstel.Setup(context.Background(), crstel.WithoutJournal()); err == nil || !strings.Contains(err.Error(), "OTEL_EXPORTER_PROMETHEUS_PORT") {
		t.Errorf("Setup with port 65536: %v, want an error naming OTEL_EXPORTER_PROMETHEUS_PORT", err)
	}
}

// TestPrometheusQueueAge: spans waiting for a slow collector show in
// crstel_export_queue_size and crstel_export_queue_age_seconds, which go
// back to 0 once they are exported.
func TestPrometheusQueueAge(t *testing.T) {
	errs := isolate(t)
	srv := otlptest.NewServer(t, otlptest.WithDelay(2*time.Second))
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", srv.URL())
	t.Setenv("OTEL_METRICS_EXPORTER", "prometheus")
	t.Setenv("OTEL_LOGS_EXPORTER", "none")
	t.Setenv("OTEL_EXPORTER_PROMETHEUS_HOST", "127.0.0.1")
	t.Setenv("OTEL_EXPORTER_PROMETHEUS_PORT", "0")
	tel, err := crstel.Setup(context.Background(), crstel.WithServiceName("patcher"), crstel.WithoutJournal())
	if err != nil {
		t.Fatal(err)
	}
	defer shutdownTel(t, tel)
	queue := func() (size, age float64) {
		families := scrape(t, tel.PrometheusAddr())
		for _, m := range families["crstel_export_queue_size"].GetMetric() {
			if slices.Contains(promSeries(&dto.MetricFamily{Metric: []*dto.Metric{m}}), "crstel_signal=spans") {
				size = m.GetGauge().GetValue()
			}
		}
		for _, m := range families["crstel_export_queue_age_seconds"].GetMetric() {
			if slices.Contains(promSeries(&dto.MetricFamily{Metric: []*dto.Metric{m}}), "crstel_signal=spans") {
				age = m.GetGauge().GetValue()
			}
		}
		return size, age
	}
	if size, age := queue(); size != 0 || age != 0 {
		t.Errorf("before any span: queue size %v, age %v s; want 0 and 0", size, age)
	}

	_, span := crstel.Action(context.Background(), crs.Building, "build", nil)
	span.End()
	// The span waits up to a second for its batch, then two for the
	// collector: polled until it has waited half a second.
	var size, age float64
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if size, age = queue(); age >= 0.5 {
			break
		}
	}
	if size != 1 || age < 0.5 || age > 10 {
		t.Errorf("while the span waits: queue size %v, age %v s; want 1 and 0.5–10 s", size, age)
	}
	if err := tel.ForceFlush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if size, age := queue(); size != 0 || age != 0 {
		t.Errorf("after the export: queue size %v, age %v s; want 0 and 0", size, age)
	}
	if e := errs.Messages(); len(e) != 0 {
		t.Errorf("otel.Handle got %q, want nothing", e)
	}
}

// TestActionDuration: crstel.action.duration has one series per category
// and outcome, and one for every invalid category together, whatever the
// name: its labels stay bounded. An action whose status is Error, set on
// the action or on its span through the context, counts as an error; one
// abandoned at Shutdown too.
func TestActionDuration(t *testing.T) {
	isolate(t)
	reader := sdkmetric.NewManualReader()
	t.Setenv("OTEL_TRACES_EXPORTER", "none")
	startSetup(t, crstel.WithMetricReader(reader), crstel.WithoutJournal())
	ctx := context.Background()
	for i := range 3 {
		_, span := crstel.Action(ctx, crs.Fuzzing, fmt.Sprintf("fuzz_%d", i), nil)
		span.End()
	}
	_, failed := crstel.Action(ctx, crs.Fuzzing, "fuzz_failed", nil)
	failed.SetStatus(codes.Error, "crashed")
	failed.End()
	actx, failedInside := crstel.Action(ctx, crs.Building, "build_failed", nil)
	trace.SpanFromContext(actx).SetStatus(codes.Error, "compiler error")
	failedInside.End()
	_, ok := crstel.Action(ctx, crs.Building, "build_ok", nil)
	ok.SetStatus(codes.Ok, "")
	ok.End()
	for _, bad := range []crs.Category{"compiling", "linking"} {
		_, span := crstel.Action(ctx, bad, "build", nil)
		span.End()
	}
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		t.Fatal(err)
	}
	points, unit := durationPoints(&rm)
	if unit != "s" {
		t.Errorf("unit %q, want s", unit)
	}
	got := map[string]uint64{}
	for k, dp := range points {
		got[k] = dp.Count
	}
	fuzzSum := points["fuzzing/ok"].Sum
	want := map[string]uint64{"fuzzing/ok": 3, "fuzzing/error": 1, "building/error": 1, "building/ok": 1, "invalid/ok": 2}
	if !maps.Equal(got, want) {
		t.Errorf("counts by category/outcome (other labels in brackets): got %v, want %v", got, want)
	}
	if fuzzSum <= 0 || fuzzSum > 10 {
		t.Errorf("the fuzzing actions' durations add up to %v s, want more than 0", fuzzSum)
	}
}

// TestActionDurationAbandoned: an action still open at Shutdown, which the
// watchdog ends as abandoned, counts as an error, in the last export of a
// periodic reader at Shutdown.
func TestActionDurationAbandoned(t *testing.T) {
	isolate(t)
	exp := &durationExporter{counts: map[string]uint64{}}
	t.Setenv("OTEL_TRACES_EXPORTER", "none")
	tel, err := crstel.Setup(context.Background(), crstel.WithServiceName("patcher"),
		crstel.WithMetricReader(sdkmetric.NewPeriodicReader(exp, sdkmetric.WithInterval(time.Hour))), crstel.WithoutJournal())
	if err != nil {
		t.Fatal(err)
	}
	_, done := crstel.Action(context.Background(), crs.Fuzzing, "fuzz_once", nil)
	done.End()
	crstel.Action(context.Background(), crs.Fuzzing, "fuzz_forever", nil)
	if err := tel.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	exp.mu.Lock()
	defer exp.mu.Unlock()
	if want := map[string]uint64{"fuzzing/ok": 1, "fuzzing/error": 1}; !maps.Equal(exp.counts, want) {
		t.Errorf("counts by category/outcome at Shutdown: got %v, want %v", exp.counts, want)
	}
}

// TestActionDurationSpanEnded: an action whose span was ended through the
// span itself (trace.SpanFromContext), not the one Action returned, is
// counted once, when the watchdog finds it ended, with its span's duration.
func TestActionDurationSpanEnded(t *testing.T) {
	isolate(t)
	reader := sdkmetric.NewManualReader()
	t.Setenv("OTEL_TRACES_EXPORTER", "none")
	startSetup(t, crstel.WithMetricReader(reader), crstel.WithoutJournal(), crstel.WithWatchdogInterval(10*time.Millisecond))
	ctx, _ := crstel.Action(context.Background(), crs.Testing, "run_tests", nil)
	trace.SpanFromContext(ctx).SetStatus(codes.Error, "3 failed")
	trace.SpanFromContext(ctx).End()
	ended := time.Now()
	var count uint64
	var sum float64
	for deadline := time.Now().Add(10 * time.Second); count == 0 && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		var rm metricdata.ResourceMetrics
		if err := reader.Collect(context.Background(), &rm); err != nil {
			t.Fatal(err)
		}
		points, _ := durationPoints(&rm)
		count, sum = points["testing/error"].Count, points["testing/error"].Sum
	}
	if count != 1 {
		t.Fatalf("after %s: %d actions counted as errors, want 1", time.Since(ended), count)
	}
	if sum <= 0 || sum > 0.1 {
		t.Errorf("duration %v s, want the span's own (well under 0.1 s), not the time until the watchdog found it ended", sum)
	}
}

// durationExporter is a metric exporter that keeps the counts of
// crstel.action.duration of the last export, by category/outcome.
type durationExporter struct {
	mu     sync.Mutex
	counts map[string]uint64
}

func (e *durationExporter) Temporality(k sdkmetric.InstrumentKind) metricdata.Temporality {
	return sdkmetric.DefaultTemporalitySelector(k)
}

func (e *durationExporter) Aggregation(k sdkmetric.InstrumentKind) sdkmetric.Aggregation {
	return sdkmetric.DefaultAggregationSelector(k)
}

func (e *durationExporter) Export(_ context.Context, rm *metricdata.ResourceMetrics) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	points, _ := durationPoints(rm)
	clear(e.counts)
	for k, dp := range points {
		e.counts[k] = dp.Count
	}
	return nil
}

// durationPoints returns the points of crstel.action.duration in rm, by
// "category/outcome", and its unit. A point with other labels than those
// two is keyed by all its labels, in brackets.
func durationPoints(rm *metricdata.ResourceMetrics) (map[string]metricdata.HistogramDataPoint[float64], string) {
	points := map[string]metricdata.HistogramDataPoint[float64]{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != crstel.MetricActionDuration {
				continue
			}
			for _, dp := range m.Data.(metricdata.Histogram[float64]).DataPoints {
				c, _ := dp.Attributes.Value("crs.action.category")
				o, _ := dp.Attributes.Value("crstel.action.outcome")
				key := c.AsString() + "/" + o.AsString()
				if dp.Attributes.Len() != 2 {
					key = "[" + dp.Attributes.Encoded(attribute.DefaultEncoder()) + "]"
				}
				points[key] = dp
			}
			return points, m.Unit
		}
	}
	return points, ""
}

func (e *durationExporter) ForceFlush(context.Context) error { return nil }
func (e *durationExporter) Shutdown(context.Context) error   { return nil }

// TestOverdueActions: crstel.actions.overdue counts the actions open past
// their budget or their context's deadline, and forgets them when they end.
func TestOverdueActions(t *testing.T) {
	isolate(t)
	reader := sdkmetric.NewManualReader()
	t.Setenv("OTEL_TRACES_EXPORTER", "none")
	startSetup(t, crstel.WithMetricReader(reader), crstel.WithoutJournal())
	ctx := context.Background()
	overdue := func() float64 {
		t.Helper()
		var rm metricdata.ResourceMetrics
		if err := reader.Collect(ctx, &rm); err != nil {
			t.Fatal(err)
		}
		return sumOf(rm, crstel.MetricOverdueActions)
	}
	if got := overdue(); got != 0 {
		t.Errorf("no action open: %v overdue, want 0", got)
	}
	_, late := crstel.Action(ctx, crs.Fuzzing, "fuzz", nil, crstel.WithOverdueAfter(time.Nanosecond))
	dctx, cancel := context.WithDeadline(ctx, time.Now().Add(-time.Second))
	defer cancel()
	_, pastDeadline := crstel.Action(dctx, crs.Testing, "run_tests", nil)
	_, onTime := crstel.Action(ctx, crs.Building, "build", nil, crstel.WithOverdueAfter(time.Hour))
	_, noBudget := crstel.Action(ctx, crs.Building, "build", nil)
	if got := overdue(); got != 2 {
		t.Errorf("two actions past their budget or deadline: %v overdue, want 2", got)
	}
	late.End()
	pastDeadline.End()
	if got := overdue(); got != 0 {
		t.Errorf("after they ended: %v overdue, want 0", got)
	}
	onTime.End()
	noBudget.End()
}
