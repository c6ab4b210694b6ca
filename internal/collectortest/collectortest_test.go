package collectortest

import (
	"context"
	"encoding/base64"
	"go.uber.org/goleak"
	"io"
	"math"
	"net"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	grpccodes "google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

const waitTimeout = 10 * time.Second

// newExporter returns an OTLP gRPC exporter to c, shut down with the test.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func newExporter(t *testing.T, c *Collector, opts ...otlptracegrpc.Option) *otlptrace.Exporter {
	t.Helper()
	opts = append([]otlptracegrpc.Option{
		otlptracegrpc.WithInsecure(),
		otlptracegrpc.WithEndpoint(c.Endpoint()),
		otlptracegrpc.WithTimeout(waitTimeout),
	}, opts...)
	exp, err := otlptracegrpc.New(t.Context(), opts...)
	if err != nil {
		t.Fatalf("otlptracegrpc.New: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		if err := exp.Shutdown(ctx); err != nil {
			t.Errorf("exporter shutdown: %v", err)
		}
	})
	return exp
}

// record returns ended spans made with the SDK: a parent "parent" and one
// child "child-I" for every name I in children.
func record(t *testing.T, service string, children ...string) []sdktrace.ReadOnlySpan {
	t.Helper()
	sr := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithSpanProcessor(sr),
		sdktrace.WithResource(resource.NewSchemaless(attribute.String("service.name", service))),
	)
	defer func() { _ = tp.Shutdown(context.Background()) }()
	tracer := tp.Tracer("collectortest")

	ctx, parent := tracer.Start(t.Context(), "parent", trace.WithSpanKind(trace.SpanKindServer))
	for _, c := range children {
		_, child := tracer.Start(ctx, "child-"+c, trace.WithAttributes(
			attribute.String("str", c),
			attribute.Int("int", 42),
			attribute.Bool("bool", true),
			attribute.StringSlice("slice", []string{"a", c}),
			attribute.Float64("float", 1.5),
		))
		child.AddEvent("event", trace.WithAttributes(attribute.Int64("n", -7)))
		child.SetStatus(codes.Error, "boom")
		child.End()
	}
	parent.End()
	return sr.Ended()
}

func export(t *testing.T, exp *otlptrace.Exporter, spans []sdktrace.ReadOnlySpan) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	defer cancel()
	return exp.ExportSpans(ctx, spans)
}

func byName(spans []Span) map[string]Span {
	m := make(map[string]Span, len(spans))
	for _, s := range spans {
		m[s.Name] = s
	}
	return m
}

func TestCollector(t *testing.T) {
	t.Parallel()
	c := Start(t)
	if ep := c.Endpoint(); !strings.HasPrefix(ep, "127.0.0.1:") {
		t.Errorf("Endpoint() = %q, want 127.0.0.1:PORT", ep)
	}
	exp := newExporter(t, c)

	if err := export(t, exp, record(t, "svc-a", "x")); err != nil {
		t.Fatalf("ExportSpans: %v", err)
	}
	spans := c.WaitForSpans(t, 2, waitTimeout)
	if len(spans) != 2 {
		t.Fatalf("got %d spans, want 2: %+v", len(spans), spans)
	}
	got := byName(spans)
	parent, child := got["parent"], got["child-x"]

	wantAttrs := map[string]any{
		"str":   "x",
		"int":   int64(42),
		"bool":  true,
		"slice": []any{"a", "x"},
		"float": 1.5,
	}
	if !reflect.DeepEqual(child.Attributes, wantAttrs) {
		t.Errorf("child attributes = %#v, want %#v", child.Attributes, wantAttrs)
	}
	for _, s := range spans {
		if s.Resource["service.name"] != "svc-a" {
			t.Errorf("%s: resource = %v, want service.name svc-a", s.Name, s.Resource)
		}
		if s.Scope != "collectortest" {
			t.Errorf("%s: scope = %q, want collectortest", s.Name, s.Scope)
		}
	}
	if len(parent.TraceID) != 32 || len(parent.SpanID) != 16 || parent.ParentSpanID != "" {
		t.Errorf("parent IDs: trace %q span %q parent %q", parent.TraceID, parent.SpanID, parent.ParentSpanID)
	}
	if child.TraceID != parent.TraceID || child.ParentSpanID != parent.SpanID {
		t.Errorf("child trace %q parent %q, want %q %q", child.TraceID, child.ParentSpanID, parent.TraceID, parent.SpanID)
	}
	if parent.Kind != 2 || child.Kind != 1 {
		t.Errorf("kinds = %d, %d, want 2 (server), 1 (internal)", parent.Kind, child.Kind)
	}
	if child.StatusCode != 2 || child.StatusMessage != "boom" {
		t.Errorf("child status = %d %q, want 2 boom", child.StatusCode, child.StatusMessage)
	}
	wantEvents := []Event{{Name: "event", Attributes: map[string]any{"n": int64(-7)}}}
	events := slices.Clone(child.Events)
	for i, e := range events {
		if e.Time.IsZero() || e.Time.Before(child.StartTime) || e.Time.After(child.EndTime) {
			t.Errorf("child event %q at %v, want a time between the child's start %v and end %v", e.Name, e.Time, child.StartTime, child.EndTime)
		}
		events[i].Time = time.Time{}
	}
	if !reflect.DeepEqual(events, wantEvents) {
		t.Errorf("child events = %#v, want %#v", events, wantEvents)
	}

	if got := c.Metric(t, "otelcol_receiver_accepted_spans"); got != 2 {
		t.Errorf("accepted spans = %v, want 2", got)
	}
	if got := c.Metric(t, "otelcol_receiver_accepted_spans_total"); got != 2 {
		t.Errorf("accepted spans (_total) = %v, want 2", got)
	}
	if got := c.Metric(t, "otelcol_receiver_refused_spans"); got != 0 {
		t.Errorf("refused spans = %v, want 0", got)
	}
	if ep := c.HTTPEndpoint(); !strings.HasPrefix(ep, "127.0.0.1:") || ep == c.Endpoint() {
		t.Errorf("HTTPEndpoint() = %q, want another 127.0.0.1:PORT", ep)
	}
}

func TestBasicAuth(t *testing.T) {
	t.Parallel()
	c := Start(t, WithBasicAuth("user", "pa:ss word"))
	if ep := c.HTTPEndpoint(); ep != "" {
		t.Errorf("HTTPEndpoint() = %q, want none", ep)
	}
	basic := func(user, pass string) map[string]string {
		return map[string]string{
			"authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass)),
		}
	}

	wrong := newExporter(t, c,
		otlptracegrpc.WithHeaders(basic("user", "wrong")),
		otlptracegrpc.WithRetry(otlptracegrpc.RetryConfig{Enabled: false}),
	)
	err := export(t, wrong, record(t, "svc-wrong", "wrong"))
	if status.Code(err) != grpccodes.Unauthenticated {
		t.Errorf("ExportSpans with wrong credentials: %v, want code Unauthenticated", err)
	}
	none := newExporter(t, c, otlptracegrpc.WithRetry(otlptracegrpc.RetryConfig{Enabled: false}))
	err = export(t, none, record(t, "svc-none", "none"))
	if status.Code(err) != grpccodes.Unauthenticated {
		t.Errorf("ExportSpans without credentials: %v, want code Unauthenticated", err)
	}

	right := newExporter(t, c, otlptracegrpc.WithHeaders(basic("user", "pa:ss word")))
	if err := export(t, right, record(t, "svc-right", "right")); err != nil {
		t.Fatalf("ExportSpans with right credentials: %v", err)
	}
	spans := c.WaitForSpans(t, 2, waitTimeout)
	if len(spans) != 2 {
		t.Fatalf("got %d spans, want 2: %+v", len(spans), spans)
	}
	for _, s := range spans {
		if s.Resource["service.name"] != "svc-right" {
			t.Errorf("%s: resource = %v, want service.name svc-right", s.Name, s.Resource)
		}
	}
	if got := c.Metric(t, "otelcol_receiver_accepted_spans"); got != 2 {
		t.Errorf("accepted spans = %v, want 2", got)
	}
}

func TestRestart(t *testing.T) {
	t.Parallel()
	c := Start(t)
	endpoint := c.Endpoint()
	// One exporter for all runs: it reconnects to the same port, retrying
	// while the collector is down.
	exp := newExporter(t, c)

	if err := export(t, exp, record(t, "svc", "1")); err != nil {
		t.Fatalf("ExportSpans 1: %v", err)
	}
	if n := len(c.WaitForSpans(t, 2, waitTimeout)); n != 2 {
		t.Fatalf("before restart: %d spans, want 2", n)
	}

	c.Restart(t) // Graceful.
	if got := c.Endpoint(); got != endpoint {
		t.Fatalf("Endpoint() after restart = %q, want %q", got, endpoint)
	}
	if n := len(c.Spans(t)); n != 2 {
		t.Errorf("right after restart: %d spans, want the 2 of the first run", n)
	}
	if err := export(t, exp, record(t, "svc", "2")); err != nil {
		t.Fatalf("ExportSpans 2: %v", err)
	}
	if n := len(c.WaitForSpans(t, 4, waitTimeout)); n != 4 {
		t.Fatalf("after restart: %d spans, want 4", n)
	}
	if got := c.Metric(t, "otelcol_receiver_accepted_spans"); got != 2 {
		t.Errorf("accepted spans after restart = %v, want 2 (counters restart)", got)
	}

	// What the collector acknowledged is in the file at once, and survives
	// SIGKILL: no waiting here.
	if err := export(t, exp, record(t, "svc", "2b")); err != nil {
		t.Fatalf("ExportSpans 2b: %v", err)
	}
	c.Kill()
	if n := len(c.Spans(t)); n != 6 {
		t.Fatalf("right after a kill: %d spans, want the 6 acknowledged", n)
	}
	c.Restart(t)
	if err := export(t, exp, record(t, "svc", "3")); err != nil {
		t.Fatalf("ExportSpans 3: %v", err)
	}
	spans := c.WaitForSpans(t, 8, waitTimeout)
	var names []string
	for _, s := range spans {
		names = append(names, s.Name)
	}
	want := []string{"child-1", "parent", "child-2", "parent", "child-2b", "parent", "child-3", "parent"}
	if !reflect.DeepEqual(names, want) {
		t.Errorf("span names across restarts = %v, want %v", names, want)
	}

	// A second collector on the port of a stopped one.
	c.Stop()
	c2 := Start(t, WithGRPCPort(portOf(t, endpoint)))
	if got := c2.Endpoint(); got != endpoint {
		t.Fatalf("WithGRPCPort: Endpoint() = %q, want %q", got, endpoint)
	}
	if err := export(t, exp, record(t, "svc", "4")); err != nil {
		t.Fatalf("ExportSpans 4: %v", err)
	}
	if n := len(c2.WaitForSpans(t, 2, waitTimeout)); n != 2 {
		t.Errorf("second collector: %d spans, want 2", n)
	}
}

func portOf(t *testing.T, hostPort string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(hostPort)
	if err != nil {
		t.Fatal(err)
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		t.Fatal(err)
	}
	return port
}

func postJSON(t *testing.T, url, body string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("POST %s: %s: %s", url, resp.Status, b)
	}
}

func TestSpansDecodeAllValueTypes(t *testing.T) {
	t.Parallel()
	c := Start(t)
	// The OTLP HTTP receiver takes OTLP JSON, with value types the Go SDK
	// does not make.
	body := `{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"raw"}}]},` +
		`"scopeSpans":[{"scope":{"name":"s"},"spans":[{"traceId":"5b8efff798038103d269b633813fc60c",` +
		`"spanId":"eee19b7ec3c1b174","name":"raw","kind":3,"startTimeUnixNano":"1","endTimeUnixNano":"2",` +
		`"attributes":[{"key":"big","value":{"intValue":"9007199254740993"}},` +
		`{"key":"nan","value":{"doubleValue":"NaN"}},` +
		`{"key":"bytes","value":{"bytesValue":"AQI="}},` +
		`{"key":"kv","value":{"kvlistValue":{"values":[{"key":"a","value":{"boolValue":false}}]}}},` +
		`{"key":"mixed","value":{"arrayValue":{"values":[{"intValue":"1"},{"stringValue":"s"}]}}},` +
		`{"key":"empty","value":{}}]}]}]}]}`
	postJSON(t, "http://"+c.HTTPEndpoint()+"/v1/traces", body)

	spans := c.WaitForSpans(t, 1, waitTimeout)
	if len(spans) != 1 {
		t.Fatalf("got %d spans, want 1", len(spans))
	}
	a := spans[0].Attributes
	if nan, ok := a["nan"].(float64); !ok || !math.IsNaN(nan) {
		t.Errorf("nan = %#v, want NaN", a["nan"])
	}
	delete(a, "nan")
	want := map[string]any{
		"big":   int64(9007199254740993),
		"bytes": []byte{1, 2},
		"kv":    map[string]any{"a": false},
		"mixed": []any{int64(1), "s"},
		"empty": nil,
	}
	if !reflect.DeepEqual(a, want) {
		t.Errorf("attributes = %#v, want %#v", a, want)
	}
	if spans[0].Kind != 3 {
		t.Errorf("kind = %d, want 3", spans[0].Kind)
	}
}

func TestSumMetric(t *testing.T) {
	t.Parallel()
	text := `# HELP otelcol_receiver_accepted_spans Number of spans successfully pushed into the pipeline.
# TYPE otelcol_receiver_accepted_spans counter
otelcol_receiver_accepted_spans{receiver="otlp",transport="grpc"} 3
otelcol_receiver_accepted_spans{receiver="otlp",transport="http"} 4 1700000000000
otelcol_receiver_accepted_spans_total{odd="a } b \\\" }"} 1.5
otelcol_receiver_accepted_spans_count 100
otelcol_receiver_refused_spans 2e0
`
	for _, tt := range []struct {
		name string
		want float64
	}{
		{"otelcol_receiver_accepted_spans", 8.5},
		{"otelcol_receiver_accepted_spans_total", 8.5},
		{"otelcol_receiver_refused_spans", 2},
		{"otelcol_receiver_refused_spans_total", 2},
		{"otelcol_receiver_failed_spans", 0},
	} {
		got, err := sumMetric(strings.NewReader(text), tt.name)
		if err != nil || got != tt.want {
			t.Errorf("sumMetric(%q) = %v, %v, want %v", tt.name, got, err, tt.want)
		}
	}
	if _, err := sumMetric(strings.NewReader(`m{a="}`+"\n"), "m"); err == nil {
		t.Error("sumMetric with unterminated labels: no error")
	}
}

func TestUnique(t *testing.T) {
	spans := []Span{
		{Name: "a", TraceID: "t1", SpanID: "s1"},
		{Name: "b", TraceID: "t1", SpanID: "s2"},
		{Name: "a again", TraceID: "t1", SpanID: "s1"},
		{Name: "c", TraceID: "t2", SpanID: "s1"},
	}
	var names []string
	for _, s := range Unique(spans) {
		names = append(names, s.Name)
	}
	if want := []string{"a", "b", "c"}; !reflect.DeepEqual(names, want) {
		t.Errorf("Unique: %v, want %v", names, want)
	}
	if got := Unique(nil); len(got) != 0 {
		t.Errorf("Unique(nil) = %v, want empty", got)
	}
}
