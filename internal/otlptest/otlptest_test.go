package otlptest_test

import (
	"context"
	"encoding/base64"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	otelcodes "go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/goleak"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/crstel/crstel/internal/otlptest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// newExporter returns the real OTLP/gRPC exporter sending to srv, without
// retries so that failures show at once.
func newExporter(t *testing.T, srv *otlptest.Server, opts ...otlptracegrpc.Option) *otlptrace.Exporter {
	t.Helper()
	opts = append([]otlptracegrpc.Option{
		otlptracegrpc.WithEndpoint(srv.Endpoint()),
		otlptracegrpc.WithInsecure(),
		otlptracegrpc.WithRetry(otlptracegrpc.RetryConfig{Enabled: false}),
		otlptracegrpc.WithTimeout(10 * time.Second),
	}, opts...)
	exp, err := otlptracegrpc.New(context.Background(), opts...)
	if err != nil {
		t.Fatalf("otlptracegrpc.New: %v", err)
	}
	t.Cleanup(func() { _ = exp.Shutdown(context.Background()) })
	return exp
}

// makeSpans ends two spans (a root and its child) on a real SDK provider
// and returns them as the SDK recorded them.
func makeSpans(t *testing.T) []sdktrace.ReadOnlySpan {
	t.Helper()
	sr := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithResource(resource.NewSchemaless(
			attribute.String("service.name", "otlptest"),
			attribute.Int("res.int", 3))),
		sdktrace.WithSpanProcessor(sr))
	defer func() { _ = tp.Shutdown(context.Background()) }()

	tr := tp.Tracer("scope.a", trace.WithInstrumentationVersion("1.2.3"))
	ctx, root := tr.Start(context.Background(), "root", trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(
			attribute.String("s", "v"),
			attribute.Int64("i", -42),
			attribute.Float64("f", 1.5),
			attribute.Bool("b", true),
			attribute.StringSlice("ss", []string{"a", "b c"}),
			attribute.Int64Slice("is", []int64{1, 2}),
			attribute.Float64Slice("fs", []float64{0.5}),
			attribute.BoolSlice("bs", []bool{true, false}),
		))
	root.SetStatus(otelcodes.Ok, "")
	_, other := tr.Start(context.Background(), "other")
	other.End()
	_, child := tr.Start(ctx, "child", trace.WithSpanKind(trace.SpanKindClient),
		trace.WithLinks(trace.Link{SpanContext: other.SpanContext(), Attributes: []attribute.KeyValue{attribute.String("why", "cause")}}))
	child.AddEvent("retry", trace.WithAttributes(attribute.Int("attempt", 2)))
	child.SetStatus(otelcodes.Error, "boom")
	child.End()
	root.End()

	var out []sdktrace.ReadOnlySpan
	for _, s := range sr.Ended() {
		if s.Name() != "other" {
			out = append(out, s)
		}
	}
	return out
}

func TestServerReceivesWhatTheExporterSends(t *testing.T) {
	srv := otlptest.NewServer(t)
	exp := newExporter(t, srv)
	sent := makeSpans(t)
	if err := exp.ExportSpans(context.Background(), sent); err != nil {
		t.Fatalf("ExportSpans: %v", err)
	}

	got := srv.WaitForSpans(2, 10*time.Second)
	if len(got) != 2 {
		t.Fatalf("got %d spans, want 2", len(got))
	}
	if n := srv.Requests(); n != 1 {
		t.Errorf("Requests() = %d, want 1", n)
	}
	if n := len(srv.Spans()); n != 2 {
		t.Errorf("len(Spans()) = %d, want 2", n)
	}
	hs := srv.Headers()
	if len(hs) != 1 {
		t.Fatalf("got %d header sets, want 1", len(hs))
	}
	if ua := strings.Join(hs[0].Get("user-agent"), " "); !strings.Contains(ua, "OTel OTLP Exporter Go") {
		t.Errorf("user-agent = %q, want the OTLP exporter's", ua)
	}

	byName := map[string]otlptest.Span{}
	for _, s := range got {
		byName[s.Name] = s
	}
	child, root := byName["child"], byName["root"]
	wantRoot := map[string]any{
		"s": "v", "i": int64(-42), "f": 1.5, "b": true,
		"ss": []any{"a", "b c"}, "is": []any{int64(1), int64(2)}, "fs": []any{0.5}, "bs": []any{true, false},
	}
	if !reflect.DeepEqual(root.Attributes, wantRoot) {
		t.Errorf("root attributes = %#v, want %#v", root.Attributes, wantRoot)
	}
	if want := map[string]any{"service.name": "otlptest", "res.int": int64(3)}; !reflect.DeepEqual(root.Resource, want) {
		t.Errorf("resource = %#v, want %#v", root.Resource, want)
	}
	for _, c := range []struct {
		name      string
		got, want any
	}{
		{"root.Kind", root.Kind, 2},
		{"child.Kind", child.Kind, 3},
		{"root.ParentSpanID", root.ParentSpanID, ""},
		{"child.ParentSpanID", child.ParentSpanID, root.SpanID},
		{"child.TraceID", child.TraceID, root.TraceID},
		{"root.TraceID", root.TraceID, sent[1].SpanContext().TraceID().String()},
		{"child.SpanID", child.SpanID, sent[0].SpanContext().SpanID().String()},
		{"root.Scope", root.Scope, "scope.a"},
		{"root.ScopeVersion", root.ScopeVersion, "1.2.3"},
		{"root.StatusCode", root.StatusCode, 1},
		{"child.StatusCode", child.StatusCode, 2},
		{"child.StatusMessage", child.StatusMessage, "boom"},
		{"len(child.Events)", len(child.Events), 1},
		{"len(child.Links)", len(child.Links), 1},
		{"child.StartTime", child.StartTime.Equal(sent[0].StartTime()), true},
		{"child.EndTime", child.EndTime.Equal(sent[0].EndTime()), true},
	} {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s = %#v, want %#v", c.name, c.got, c.want)
		}
	}
	if len(child.Events) == 1 {
		ev := child.Events[0]
		if ev.Name != "retry" || !reflect.DeepEqual(ev.Attributes, map[string]any{"attempt": int64(2)}) {
			t.Errorf("event = %+v, want retry with attempt=2", ev)
		}
	}
	if len(child.Links) == 1 {
		l := child.Links[0]
		if l.TraceID == "" || l.SpanID == "" || !reflect.DeepEqual(l.Attributes, map[string]any{"why": "cause"}) {
			t.Errorf("link = %+v, want one with ids and why=cause", l)
		}
	}
}

func TestToReadOnlyRoundTrip(t *testing.T) {
	srv := otlptest.NewServer(t)
	exp := newExporter(t, srv)
	sent := makeSpans(t)
	if err := exp.ExportSpans(context.Background(), sent); err != nil {
		t.Fatalf("ExportSpans: %v", err)
	}
	back := otlptest.ToReadOnly(srv.WaitForSpans(2, 10*time.Second))
	if len(back) != len(sent) {
		t.Fatalf("got %d spans back, want %d", len(back), len(sent))
	}
	for i, want := range sent {
		got := back[i]
		check := func(what string, g, w any) {
			t.Helper()
			if !reflect.DeepEqual(g, w) {
				t.Errorf("span %q: %s = %v, want %v", want.Name(), what, g, w)
			}
		}
		check("name", got.Name(), want.Name())
		check("trace id", got.SpanContext().TraceID(), want.SpanContext().TraceID())
		check("span id", got.SpanContext().SpanID(), want.SpanContext().SpanID())
		check("sampled", got.SpanContext().IsSampled(), true)
		check("parent span id", got.Parent().SpanID(), want.Parent().SpanID())
		check("parent valid", got.Parent().IsValid(), want.Parent().IsValid())
		check("kind", got.SpanKind(), want.SpanKind())
		check("attributes", attribute.NewSet(got.Attributes()...), attribute.NewSet(want.Attributes()...))
		check("resource", got.Resource().Equivalent(), want.Resource().Equivalent())
		check("scope", got.InstrumentationScope().Name, want.InstrumentationScope().Name)
		check("status", got.Status(), want.Status())
		check("start", got.StartTime().Equal(want.StartTime()), true)
		check("end", got.EndTime().Equal(want.EndTime()), true)
		check("events", len(got.Events()), len(want.Events()))
		for j := range min(len(got.Events()), len(want.Events())) {
			check("event name", got.Events()[j].Name, want.Events()[j].Name)
			check("event attributes", got.Events()[j].Attributes, want.Events()[j].Attributes)
		}
		check("links", len(got.Links()), len(want.Links()))
		for j := range min(len(got.Links()), len(want.Links())) {
			check("link span id", got.Links()[j].SpanContext.SpanID(), want.Links()[j].SpanContext.SpanID())
			check("link attributes", got.Links()[j].Attributes, want.Links()[j].Attributes)
		}
	}
}

func TestToReadOnlyValues(t *testing.T) {
	in := []otlptest.Span{{
		Name:    "s",
		TraceID: "not hex",
		SpanID:  "00f067aa0ba902b7",
		Attributes: map[string]any{
			"empty":  []any{},
			"mixed":  []any{"a", int64(1)},
			"bytes":  []byte("xy"),
			"map":    map[string]any{"k": "v"},
			"nil":    nil,
			"strs":   []any{"a"},
			"status": "x",
		},
		StatusCode: 2,
	}}
	got := otlptest.ToReadOnly(in)[0]
	if got.SpanContext().TraceID().IsValid() {
		t.Errorf("trace id from %q is valid, want zero", in[0].TraceID)
	}
	if got.Status().Code != otelcodes.Error {
		t.Errorf("status = %v, want Error (OTLP 2)", got.Status().Code)
	}
	types := map[string]attribute.Type{}
	for _, kv := range got.Attributes() {
		types[string(kv.Key)] = kv.Value.Type()
	}
	want := map[string]attribute.Type{
		"empty": attribute.STRINGSLICE, "mixed": attribute.SLICE, "bytes": attribute.BYTESLICE,
		"map": attribute.MAP, "nil": attribute.EMPTY, "strs": attribute.STRINGSLICE, "status": attribute.STRING,
	}
	if !reflect.DeepEqual(types, want) {
		t.Errorf("types = %v, want %v", types, want)
	}
}

func TestBasicAuth(t *testing.T) {
	basic := func(user, pass string) map[string]string {
		return map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))}
	}
	for _, tt := range []struct {
		name    string
		headers map[string]string
		want    codes.Code
	}{
		{"right", basic("crs", "s3cret"), codes.OK},
		{"wrong password", basic("crs", "wrong"), codes.Unauthenticated},
		{"wrong user", basic("bob", "s3cret"), codes.Unauthenticated},
		{"none", nil, codes.Unauthenticated},
		{"bearer", map[string]string{"Authorization": "Bearer s3cret"}, codes.Unauthenticated},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := otlptest.NewServer(t, otlptest.WithBasicAuth("crs", "s3cret"))
			var opts []otlptracegrpc.Option
			if tt.headers != nil {
				opts = append(opts, otlptracegrpc.WithHeaders(tt.headers))
			}
			exp := newExporter(t, srv, opts...)
			err := exp.ExportSpans(context.Background(), makeSpans(t))
			if got := status.Code(err); got != tt.want {
				t.Fatalf("ExportSpans error %v has code %v, want %v", err, got, tt.want)
			}
			if err != nil && strings.Contains(err.Error(), "s3cret") {
				t.Errorf("error %q repeats the password", err)
			}
			wantSpans := 0
			if tt.want == codes.OK {
				wantSpans = 2
			}
			if n := len(srv.Received()); n != wantSpans {
				t.Errorf("received %d spans, want %d", n, wantSpans)
			}
			if n := srv.Requests(); n != 1 {
				t.Errorf("Requests() = %d, want 1", n)
			}
			hs := srv.Headers()
			if len(hs) != 1 {
				t.Fatalf("got %d header sets, want 1", len(hs))
			}
			if got, want := hs[0].Get("authorization"), tt.headers["Authorization"]; want != "" && (len(got) != 1 || got[0] != want) {
				t.Errorf("authorization = %q, want %q", got, want)
			}
		})
	}
}

func TestWithError(t *testing.T) {
	for _, code := range []codes.Code{codes.Unauthenticated, codes.PermissionDenied, codes.InvalidArgument, codes.Unavailable} {
		t.Run(code.String(), func(t *testing.T) {
			srv := otlptest.NewServer(t, otlptest.WithError(code))
			exp := newExporter(t, srv)
			err := exp.ExportSpans(context.Background(), makeSpans(t))
			if got := status.Code(err); got != code {
				t.Errorf("ExportSpans error %v has code %v, want %v", err, got, code)
			}
			if n := len(srv.Received()); n != 0 {
				t.Errorf("received %d spans from failed calls, want 0", n)
			}
			if n := srv.Requests(); n != 1 {
				t.Errorf("Requests() = %d, want 1", n)
			}
		})
	}
}

func TestWithDelay(t *testing.T) {
	t.Run("slower than the exporter's timeout", func(t *testing.T) {
		srv := otlptest.NewServer(t, otlptest.WithDelay(time.Hour))
		exp := newExporter(t, srv, otlptracegrpc.WithTimeout(100*time.Millisecond))
		err := exp.ExportSpans(context.Background(), makeSpans(t))
		if got := status.Code(err); got != codes.DeadlineExceeded {
			t.Errorf("ExportSpans error %v has code %v, want DeadlineExceeded", err, got)
		}
		if n := len(srv.Received()); n != 0 {
			t.Errorf("received %d spans from a call given up, want 0", n)
		}
	})
	t.Run("within the timeout", func(t *testing.T) {
		const delay = 100 * time.Millisecond
		srv := otlptest.NewServer(t, otlptest.WithDelay(delay))
		exp := newExporter(t, srv)
		start := time.Now()
		if err := exp.ExportSpans(context.Background(), makeSpans(t)); err != nil {
			t.Fatalf("ExportSpans: %v", err)
		}
		if d := time.Since(start); d < delay {
			t.Errorf("export took %v, want at least %v", d, delay)
		}
		if n := len(srv.Received()); n != 2 {
			t.Errorf("received %d spans, want 2", n)
		}
	})
	t.Run("stop ends a delayed call", func(t *testing.T) {
		srv := otlptest.NewServer(t, otlptest.WithDelay(time.Hour))
		exp := newExporter(t, srv)
		spans := makeSpans(t)
		done := make(chan error, 1)
		go func() { done <- exp.ExportSpans(context.Background(), spans) }()
		for srv.Requests() == 0 {
			time.Sleep(time.Millisecond) // real network: wait for the call to arrive
		}
		start := time.Now()
		srv.Stop()
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("Stop took %v with a delayed call in flight", d)
		}
		if err := <-done; err == nil {
			t.Error("ExportSpans of a call cut by Stop succeeded, want an error")
		}
	})
}

func TestWaitForSpans(t *testing.T) {
	srv := otlptest.NewServer(t)
	start := time.Now()
	if got := srv.WaitForSpans(1, 50*time.Millisecond); len(got) != 0 {
		t.Errorf("WaitForSpans on an idle server returned %d spans", len(got))
	}
	if d := time.Since(start); d < 50*time.Millisecond {
		t.Errorf("WaitForSpans returned after %v, before its timeout", d)
	}

	exp := newExporter(t, srv)
	done := make(chan []otlptest.Span)
	go func() { done <- srv.WaitForSpans(4, 10*time.Second) }()
	for range 2 {
		if err := exp.ExportSpans(context.Background(), makeSpans(t)); err != nil {
			t.Fatalf("ExportSpans: %v", err)
		}
	}
	if got := <-done; len(got) != 4 {
		t.Errorf("WaitForSpans(4) returned %d spans, want 4", len(got))
	}
	if got := srv.WaitForSpans(0, 0); len(got) != 4 {
		t.Errorf("WaitForSpans(0, 0) returned %d spans, want the 4 received", len(got))
	}
}

func TestStopTwiceAndEndpoints(t *testing.T) {
	srv := otlptest.NewServer(t)
	if !strings.HasPrefix(srv.Endpoint(), "127.0.0.1:") {
		t.Errorf("Endpoint() = %q, want 127.0.0.1:PORT", srv.Endpoint())
	}
	if want := "http://" + srv.Endpoint(); srv.URL() != want {
		t.Errorf("URL() = %q, want %q", srv.URL(), want)
	}
	srv.Stop()
	srv.Stop() // and once more by the cleanup

	exp := newExporter(t, srv)
	if err := exp.ExportSpans(context.Background(), makeSpans(t)); err == nil {
		t.Error("ExportSpans to a stopped server succeeded")
	} else if got := status.Code(err); got != codes.Unavailable && !errors.Is(err, context.DeadlineExceeded) {
		t.Logf("ExportSpans to a stopped server: %v (code %v)", err, got)
	}
}
