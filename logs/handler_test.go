package logs_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"maps"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/slogtest"
	"time"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/goleak"

	"github.com/crstel/crstel"
	"github.com/crstel/crstel/crs"
	"github.com/crstel/crstel/crsteltest"
	"github.com/crstel/crstel/logs"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var task1 = crs.Metadata{"round.id": "round-1", "task.id": "task-1", "team.id": "team-1"}

// jsonLog is a logs.Handler over a slog JSON handler writing to a buffer.
type jsonLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *jsonLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// records parses every line written so far.
func (l *jsonLog) records(t *testing.T) []map[string]any {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for line := range strings.Lines(l.buf.String()) {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("line %q is not JSON: %v", line, err)
		}
		delete(m, "time")
		out = append(out, m)
	}
	return out
}

// one returns the only record written, failing the test otherwise.
func (l *jsonLog) one(t *testing.T) map[string]any {
	t.Helper()
	recs := l.records(t)
	if len(recs) != 1 {
		t.Fatalf("got %d records, want 1", len(recs))
	}
	return recs[0]
}

func newJSONLogger(opts ...logs.Option) (*slog.Logger, *jsonLog) {
	out := &jsonLog{}
	return slog.New(logs.NewHandler(slog.NewJSONHandler(out, &slog.HandlerOptions{Level: slog.LevelDebug}), opts...)), out
}

// wantFields fails the test unless rec has each field of want with its
// value, and reports the fields rec has that want says it must not.
func wantFields(t *testing.T, rec map[string]any, want map[string]any, absent ...string) {
	t.Helper()
	for _, k := range slices.Sorted(maps.Keys(want)) {
		if got, ok := rec[k]; !ok {
			t.Errorf("field %s missing, want %v (record %v)", k, want[k], rec)
		} else if !reflect.DeepEqual(got, want[k]) {
			t.Errorf("field %s = %v, want %v", k, got, want[k])
		}
	}
	for _, k := range absent {
		if v, ok := rec[k]; ok {
			t.Errorf("field %s = %v, want none", k, v)
		}
	}
}

func TestCorrelation(t *testing.T) {
	t.Parallel()
	rec := crsteltest.NewRecorder(t)
	logger, out := newJSONLogger()

	ctx := crstel.WithTask(rec.Context(context.Background()), task1)
	ctx, span := crstel.Action(ctx, crs.Building, "build", nil)
	logger.InfoContext(ctx, "compiling", "file", "png.c")

	// A span inside the action, such as an HTTP client's: its ids, the
	// action's category and name.
	inner, child := rec.Provider().Tracer("test").Start(ctx, "GET")
	logger.WarnContext(inner, "slow")
	child.End()
	span.End()

	spans := rec.Ended()
	if len(spans) != 2 {
		t.Fatalf("got %d spans, want 2", len(spans))
	}
	recs := out.records(t)
	if len(recs) != 2 {
		t.Fatalf("got %d records, want 2", len(recs))
	}
	action := map[string]any{
		"crs.action.category": "building", "crs.action.name": "build",
		"round.id": "round-1", "task.id": "task-1", "team.id": "team-1",
	}
	want := maps.Clone(action)
	want["msg"], want["level"], want["file"] = "compiling", "INFO", "png.c"
	want["trace_id"] = span.SpanContext().TraceID().String()
	want["span_id"] = span.SpanContext().SpanID().String()
	wantFields(t, recs[0], want)

	want = maps.Clone(action)
	want["msg"], want["level"] = "slow", "WARN"
	want["trace_id"] = child.SpanContext().TraceID().String()
	want["span_id"] = child.SpanContext().SpanID().String()
	wantFields(t, recs[1], want)
	if child.SpanContext().SpanID() == span.SpanContext().SpanID() {
		t.Fatal("the child span has the action's span id")
	}
}

// TestFieldOrder: the correlation fields come first, in a fixed order,
// before the record's own attributes.
func TestFieldOrder(t *testing.T) {
	t.Parallel()
	rec := crsteltest.NewRecorder(t)
	var buf bytes.Buffer
	logger := slog.New(logs.NewHandler(slog.NewJSONHandler(&buf, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey || a.Key == logs.TraceIDKey || a.Key == logs.SpanIDKey {
				a.Value = slog.StringValue("-")
			}
			return a
		},
	})))
	ctx := crstel.WithTask(rec.Context(context.Background()), crs.Metadata{"task.id": "task-1", "round.id": "round-1"})
	ctx, span := crstel.Action(ctx, crs.Testing, "run_tests", nil)
	defer span.End()
	logger.InfoContext(ctx, "ran", "passed", 3)
	want := `{"time":"-","level":"INFO","msg":"ran","trace_id":"-","span_id":"-",` +
		`"crs.action.category":"testing","crs.action.name":"run_tests","round.id":"round-1","task.id":"task-1","passed":3}` + "\n"
	if buf.String() != want {
		t.Errorf("got  %s want %s", buf.String(), want)
	}
}

func TestOutsideAction(t *testing.T) {
	t.Parallel()
	rec := crsteltest.NewRecorder(t)
	t.Run("no context", func(t *testing.T) {
		logger, out := newJSONLogger()
		logger.Info("plain", "k", "v")
		rec := out.one(t)
		wantFields(t, rec, map[string]any{"msg": "plain", "k": "v"}, "trace_id", "span_id", "crs.action.name", "round.id")
		if len(rec) != 3 {
			t.Errorf("record %v has fields added", rec)
		}
	})
	t.Run("context without span", func(t *testing.T) {
		logger, out := newJSONLogger()
		logger.InfoContext(context.Background(), "plain")
		wantFields(t, out.one(t), map[string]any{"msg": "plain"}, "trace_id", "span_id", "crs.action.name")
	})
	t.Run("span that is not an action", func(t *testing.T) {
		logger, out := newJSONLogger()
		ctx, span := rec.Provider().Tracer("test").Start(context.Background(), "GET")
		defer span.End()
		logger.InfoContext(ctx, "request")
		wantFields(t, out.one(t), map[string]any{
			"trace_id": span.SpanContext().TraceID().String(), "span_id": span.SpanContext().SpanID().String(),
		}, "crs.action.category", "crs.action.name")
	})
	t.Run("task without action", func(t *testing.T) {
		logger, out := newJSONLogger()
		logger.InfoContext(crstel.WithTask(context.Background(), task1), "received task")
		wantFields(t, out.one(t), map[string]any{"task.id": "task-1", "round.id": "round-1"},
			"trace_id", "crs.action.category")
	})
	t.Run("remote parent", func(t *testing.T) {
		logger, out := newJSONLogger()
		sc := trace.NewSpanContext(trace.SpanContextConfig{
			TraceID: trace.TraceID{1, 2, 3}, SpanID: trace.SpanID{4, 5, 6}, Remote: true,
		})
		logger.InfoContext(trace.ContextWithRemoteSpanContext(context.Background(), sc), "from another process")
		wantFields(t, out.one(t), map[string]any{"trace_id": sc.TraceID().String(), "span_id": sc.SpanID().String()})
	})
	t.Run("task in baggage from another process", func(t *testing.T) {
		logger, out := newJSONLogger()
		carrier := propagation.MapCarrier{}
		propagation.Baggage{}.Inject(crstel.WithTask(context.Background(), task1), carrier)
		received := propagation.Baggage{}.Extract(context.Background(), carrier)
		logger.InfoContext(received, "received")
		wantFields(t, out.one(t), map[string]any{"round.id": "round-1", "task.id": "task-1", "team.id": "team-1"},
			"trace_id", "crs.action.category")
	})
}

// TestTaskInsideAction: metadata added inside an action (crstel.WithTask)
// is on the records logged there, as on the spans started there.
func TestTaskInsideAction(t *testing.T) {
	t.Parallel()
	rec := crsteltest.NewRecorder(t)
	logger, out := newJSONLogger()
	ctx := crstel.WithTask(rec.Context(context.Background()), crs.Metadata{"task.id": "task-1"})
	ctx, span := crstel.Action(ctx, crs.Fuzzing, "fuzz", nil)
	defer span.End()
	logger.InfoContext(crstel.WithTask(ctx, crs.Metadata{"harness.name": "png_decode"}), "m")
	logger.InfoContext(ctx, "m")
	recs := out.records(t)
	if len(recs) != 2 {
		t.Fatalf("got %d records, want 2", len(recs))
	}
	wantFields(t, recs[0], map[string]any{"crs.action.name": "fuzz", "task.id": "task-1", "harness.name": "png_decode"})
	wantFields(t, recs[1], map[string]any{"crs.action.name": "fuzz", "task.id": "task-1"}, "harness.name")
}

// TestPassThrough: a record outside any action with nothing to redact
// reaches the next handler as it was logged.
func TestPassThrough(t *testing.T) {
	t.Parallel()
	next := &recordingHandler{}
	logger := slog.New(logs.NewHandler(next))
	logger.Info("plain", "k", "v", slog.Group("g", "a", 1))
	if len(next.records) != 1 {
		t.Fatalf("next got %d records, want 1", len(next.records))
	}
	r := next.records[0]
	var got []string
	r.Attrs(func(a slog.Attr) bool { got = append(got, a.String()); return true })
	if want := []string{"k=v", "g=[a=1]"}; !slices.Equal(got, want) {
		t.Errorf("attributes %v, want %v", got, want)
	}
}

type recordingHandler struct {
	records []slog.Record
}

func (h *recordingHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *recordingHandler) WithGroup(string) slog.Handler      { return h }

func (h *recordingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *recordingHandler) Handle(_ context.Context, r slog.Record) error {
	h.records = append(h.records, r.Clone())
	return nil
}

func TestGroupsAndAttrs(t *testing.T) {
	t.Parallel()
	rec := crsteltest.NewRecorder(t)
	ctx := crstel.WithTask(rec.Context(context.Background()), crs.Metadata{"task.id": "task-1"})
	ctx, span := crstel.Action(ctx, crs.Fuzzing, "fuzz", nil)
	defer span.End()
	corr := map[string]any{"crs.action.category": "fuzzing", "crs.action.name": "fuzz", "task.id": "task-1",
		"trace_id": span.SpanContext().TraceID().String()}

	for _, tt := range []struct {
		name string
		log  func(l *slog.Logger)
		want map[string]any // besides corr, msg and level
	}{
		{"attrs", func(l *slog.Logger) { l.With("a", 1).InfoContext(ctx, "m", "b", 2) },
			map[string]any{"a": 1.0, "b": 2.0}},
		{"group", func(l *slog.Logger) { l.WithGroup("g").InfoContext(ctx, "m", "b", 2) },
			map[string]any{"g": map[string]any{"b": 2.0}}},
		{"attrs then group", func(l *slog.Logger) { l.With("a", 1).WithGroup("g").InfoContext(ctx, "m", "b", 2) },
			map[string]any{"a": 1.0, "g": map[string]any{"b": 2.0}}},
		{"group then attrs", func(l *slog.Logger) { l.WithGroup("g").With("a", 1).InfoContext(ctx, "m", "b", 2) },
			map[string]any{"g": map[string]any{"a": 1.0, "b": 2.0}}},
		{"nested", func(l *slog.Logger) {
			l.With("top", true).WithGroup("g").With("a", 1).WithGroup("h").With("c", 3).InfoContext(ctx, "m", "b", 2)
		}, map[string]any{"top": true, "g": map[string]any{"a": 1.0, "h": map[string]any{"c": 3.0, "b": 2.0}}}},
		{"empty group left out", func(l *slog.Logger) { l.WithGroup("g").InfoContext(ctx, "m") },
			map[string]any{}},
		{"empty inner group left out", func(l *slog.Logger) { l.WithGroup("g").With("a", 1).WithGroup("h").InfoContext(ctx, "m") },
			map[string]any{"g": map[string]any{"a": 1.0}}},
		{"empty group name", func(l *slog.Logger) { l.WithGroup("").InfoContext(ctx, "m", "b", 2) },
			map[string]any{"b": 2.0}},
		{"group attribute", func(l *slog.Logger) { l.InfoContext(ctx, "m", slog.Group("req", "method", "GET")) },
			map[string]any{"req": map[string]any{"method": "GET"}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			logger, out := newJSONLogger()
			tt.log(logger)
			rec := out.one(t)
			want := maps.Clone(tt.want)
			maps.Copy(want, corr)
			want["msg"], want["level"] = "m", "INFO"
			wantFields(t, rec, want)
			delete(rec, "span_id")
			if len(rec) != len(want) {
				t.Errorf("record %v has fields beyond %v", rec, want)
			}
		})
	}

	// Handlers derived from one another do not share state.
	logger, out := newJSONLogger()
	base := logger.WithGroup("g").With("a", 1)
	l1, l2 := base.With("x", 1), base.With("y", 2)
	l1.InfoContext(ctx, "m")
	l2.InfoContext(ctx, "m")
	recs := out.records(t)
	if g1, g2 := recs[0]["g"], recs[1]["g"]; !reflect.DeepEqual(g1, map[string]any{"a": 1.0, "x": 1.0}) ||
		!reflect.DeepEqual(g2, map[string]any{"a": 1.0, "y": 2.0}) {
		t.Errorf("sibling loggers: g = %v and %v, want {a x} and {a y}", g1, g2)
	}
}

func TestRedaction(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		opts []logs.Option
		log  func(l *slog.Logger)
		want map[string]any
	}{
		{"default", nil, func(l *slog.Logger) {
			l.Info("m", "password", "hunter2", "api_key", "sk-1", "Authorization", "Basic eA==",
				"access_token", "t0k", "client_secret", "s", "max_tokens", 100, "user", "crs")
		}, map[string]any{"password": "[REDACTED]", "api_key": "[REDACTED]", "Authorization": "[REDACTED]",
			"access_token": "[REDACTED]", "client_secret": "[REDACTED]", "max_tokens": 100.0, "user": "crs"}},
		{"logger attributes", nil, func(l *slog.Logger) { l.With("token", "t0k").Info("m") },
			map[string]any{"token": "[REDACTED]"}},
		{"in groups", nil, func(l *slog.Logger) {
			l.WithGroup("g").With("secret", "s").Info("m", slog.Group("db", "password", "p", "host", "h"))
		}, map[string]any{"g": map[string]any{"secret": "[REDACTED]", "db": map[string]any{"password": "[REDACTED]", "host": "h"}}}},
		{"a group named as a secret", nil, func(l *slog.Logger) { l.Info("m", slog.Group("credentials", "user", "u")) },
			map[string]any{"credentials": "[REDACTED]"}},
		{"log valuer", nil, func(l *slog.Logger) { l.Info("m", "password", valuer{"p"}, "other", valuer{"o"}) },
			map[string]any{"password": "[REDACTED]", "other": "o"}},
		{"custom", []logs.Option{logs.WithRedact(func(key string, v slog.Value) slog.Value {
			if key == "session" {
				return slog.StringValue("***")
			}
			return logs.RedactSecrets(key, v)
		})}, func(l *slog.Logger) { l.Info("m", "session", "abc", "password", "p", "n", 1) },
			map[string]any{"session": "***", "password": "[REDACTED]", "n": 1.0}},
		{"custom without the default", []logs.Option{logs.WithRedact(func(_ string, v slog.Value) slog.Value { return v })},
			func(l *slog.Logger) { l.Info("m", "password", "p") }, map[string]any{"password": "p"}},
		{"nil option ignored", []logs.Option{nil, logs.WithRedact(nil)},
			func(l *slog.Logger) { l.Info("m", "password", "p") }, map[string]any{"password": "[REDACTED]"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			logger, out := newJSONLogger(tt.opts...)
			tt.log(logger)
			wantFields(t, out.one(t), tt.want)
		})
	}
}

type valuer struct{ v string }

func (v valuer) LogValue() slog.Value { return slog.StringValue(v.v) }

func TestIsSecret(t *testing.T) {
	t.Parallel()
	for key, want := range map[string]bool{
		"password": true, "Password": true, "db.password": true, "DB_PASSWORD": true, "passwd": true,
		"api_key": true, "apiKey": true, "X-Api-Key": true, "OPENAI_API_KEY": true, "apikey": true,
		"token": true, "access_token": true, "GITHUB_TOKEN": true, "authToken": true,
		"secret": true, "client_secret": true, "Authorization": true, "basic_auth": true,
		"credentials": true, "private_key": true, "Set-Cookie": true, "aws_secret_access_key": true,
		"max_tokens": false, "token_count": false, "input_tokens": false, "secret_name": false,
		"keys": false, "key": false, "monkey": false, "user": false, "file": false, "": false,
		"author": false, "password_policy": false, "aws_access_key_id": false,
	} {
		if got := logs.IsSecret(key); got != want {
			t.Errorf("IsSecret(%q) = %v, want %v", key, got, want)
		}
	}
}

func TestLevelsAndNil(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	h := logs.NewHandler(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if h.Enabled(context.Background(), slog.LevelInfo) || !h.Enabled(context.Background(), slog.LevelError) {
		t.Error("Enabled does not follow the next handler's level")
	}
	slog.New(h).Info("dropped")
	if buf.Len() != 0 {
		t.Errorf("a record below the level was written: %s", buf.String())
	}

	nothing := logs.NewHandler(nil)
	if nothing.Enabled(context.Background(), slog.LevelError) {
		t.Error("a handler with no next handler and no OTLP is enabled")
	}
	if err := nothing.Handle(context.Background(), slog.NewRecord(time.Now(), slog.LevelError, "m", 0)); err != nil {
		t.Errorf("Handle with no next handler: %v", err)
	}
	//lint:ignore SA1012 a nil context is what is tested: a slog.Handler may be given one
	if err := h.Handle(nil, slog.NewRecord(time.Now(), slog.LevelError, "nil ctx", 0)); err != nil {
		t.Errorf("Handle with a nil context: %v", err)
	}
}

// TestSlogtest runs the standard library's conformance tests for
// handlers, outside and inside an action.
func TestSlogtest(t *testing.T) {
	t.Parallel()
	rec := crsteltest.NewRecorder(t)
	for _, inAction := range []bool{false, true} {
		var buf bytes.Buffer
		ctx := rec.Context(context.Background())
		if inAction {
			var span trace.Span
			ctx, span = crstel.Action(crstel.WithTask(ctx, crs.Metadata{"task.id": "task-1"}), crs.Testing, "slogtest", nil)
			defer span.End()
		}
		newHandler := func(*testing.T) slog.Handler {
			buf.Reset()
			return withContext{logs.NewHandler(slog.NewJSONHandler(&buf, nil)), ctx}
		}
		result := func(t *testing.T) map[string]any {
			var m map[string]any
			if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
				t.Fatal(err)
			}
			for _, k := range []string{"trace_id", "span_id", "crs.action.category", "crs.action.name", "task.id"} {
				if _, ok := m[k]; ok != inAction {
					t.Errorf("field %s present: %v, want %v", k, ok, inAction)
				}
				delete(m, k)
			}
			return m
		}
		name := "outside"
		if inAction {
			name = "inside"
		}
		t.Run(name, func(t *testing.T) { slogtest.Run(t, newHandler, result) })
	}
}

// withContext is a handler that handles every record with ctx, as if it
// had been logged with ctx: slogtest logs without a context.
type withContext struct {
	h   slog.Handler
	ctx context.Context
}

func (w withContext) Enabled(_ context.Context, l slog.Level) bool { return w.h.Enabled(w.ctx, l) }
func (w withContext) Handle(_ context.Context, r slog.Record) error {
	return w.h.Handle(w.ctx, r)
}
func (w withContext) WithAttrs(as []slog.Attr) slog.Handler {
	return withContext{w.h.WithAttrs(as), w.ctx}
}
func (w withContext) WithGroup(name string) slog.Handler {
	return withContext{w.h.WithGroup(name), w.ctx}
}
