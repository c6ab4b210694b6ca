package crstel_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/crstel/crstel"
	"github.com/crstel/crstel/crs"
	"github.com/crstel/crstel/internal/audit"
)

// logRecorder is a log exporter that keeps what it exports.
type logRecorder struct {
	mu      sync.Mutex
	records []sdklog.Record
}

func (r *logRecorder) Export(_ context.Context, rs []sdklog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rec := range rs {
		r.records = append(r.records, rec.Clone())
	}
	return nil
}
func (*logRecorder) Shutdown(context.Context) error   { return nil }
func (*logRecorder) ForceFlush(context.Context) error { return nil }

func (r *logRecorder) audit() []sdklog.Record {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []sdklog.Record
	for _, rec := range r.records {
		if rec.EventName() == crstel.AuditEventName {
			out = append(out, rec)
		}
	}
	return out
}

// chain returns the one audit chain of dir, checked.
func chain(t *testing.T, dir string) audit.Chain {
	t.Helper()
	cs, err := audit.Chains(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 1 {
		t.Fatalf("got %d audit chains in %s, want 1", len(cs), dir)
	}
	if cs[0].Tampered != nil || cs[0].Truncated != nil || !cs[0].Closed {
		t.Fatalf("got tampered %+v, truncated %+v, closed %v; want none, none, true", cs[0].Tampered, cs[0].Truncated, cs[0].Closed)
	}
	return cs[0]
}

func TestAudit(t *testing.T) {
	isolate(t)
	dir := t.TempDir()
	logs := &logRecorder{}
	spans := tracetest.NewInMemoryExporter()
	tel, err := crstel.Setup(context.Background(), crstel.WithServiceName("submitter"), crstel.WithExporter(keepExporter{spans}),
		crstel.WithAuditDir(dir), crstel.WithLogExporter(logs))
	if err != nil {
		t.Fatal(err)
	}
	ctx := crstel.WithTask(context.Background(), crs.Metadata{"round.id": "round-1", "task.id": "task-1"})

	_, fuzzing := crstel.Action(ctx, crs.Fuzzing, "run_fuzzer", nil)
	fuzzing.End() // not audited
	if p := tel.AuditPath(); p != "" {
		t.Errorf("got audit file %s after a fuzzing action, want none yet", p)
	}

	_, ok := crstel.Action(ctx, crs.ScoringSubmission, "submit_patch", crs.Metadata{"patch.id": "p-1"})
	ok.SetAttributes(attribute.String("submission.api_key", "sk-live-0123456789"), attribute.Int("submission.size", 42))
	ok.End()
	_, failed := crstel.Action(ctx, crs.ScoringSubmission, "submit_pov", nil)
	failed.SetStatus(codes.Error, "409 conflict")
	failed.End()
	hctx, harness := crstel.Action(ctx, crs.Testing, "run_harness", nil)
	if err := crstel.Audit(hctx, "credential_refused", attribute.String("db.password", "hunter2"), attribute.String("user", "crs")); err != nil {
		t.Errorf("Audit: %v", err)
	}
	harness.End()
	if err := crstel.Audit(ctx, "sandbox_escape_attempt", attribute.StringSlice("paths", []string{"/etc/shadow"})); err != nil {
		t.Errorf("Audit: %v", err)
	}
	if err := tel.Shutdown(context.Background()); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := crstel.Audit(ctx, "late"); !errors.Is(err, crstel.ErrNoAuditTrail) {
		t.Errorf("Audit after Shutdown: got %v, want ErrNoAuditTrail", err)
	}

	c := chain(t, dir)
	var got []audit.Record
	for _, e := range c.Entries {
		got = append(got, *e.Record)
	}
	if len(got) != 5 {
		t.Fatalf("got %d records, want 5 (2 submissions, 2 events, the closing one): %+v", len(got), got)
	}
	byEvent := map[string][]audit.Record{}
	for _, r := range got {
		byEvent[r.Event] = append(byEvent[r.Event], r)
	}
	subs := byEvent["submission"]
	if len(subs) != 2 {
		t.Fatalf("got %d submission records, want 2", len(subs))
	}
	tests := []struct {
		got, want string
		what      string
	}{
		{subs[0].Action, "submit_patch", "first submission's action"},
		{subs[0].Category, "scoring_submission", "first submission's category"},
		{subs[0].Status, "ok", "first submission's status"},
		{subs[0].Task["patch.id"], "p-1", "first submission's patch.id"},
		{subs[0].Task["round.id"], "round-1", "first submission's round.id"},
		{subs[0].Service, "submitter", "service"},
		{subs[1].Action, "submit_pov", "second submission's action"},
		{subs[1].Status, "error", "second submission's status"},
		{subs[1].StatusMessage, "409 conflict", "second submission's status message"},
		{byEvent["credential_refused"][0].Category, "testing", "credential_refused's category"},
		{byEvent["credential_refused"][0].Attrs["db.password"].(string), "[REDACTED]", "db.password"},
		{byEvent["credential_refused"][0].Attrs["user"].(string), "crs", "user"},
		{subs[0].Attrs["submission.api_key"].(string), "[REDACTED]", "submission.api_key"},
		{byEvent["sandbox_escape_attempt"][0].Task["task.id"], "task-1", "task.id outside an action"},
		{byEvent["sandbox_escape_attempt"][0].SpanID, "", "span id outside an action"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: got %q, want %q", tt.what, tt.got, tt.want)
		}
	}
	if subs[0].PID != os.Getpid() || subs[0].TraceID == "" || subs[0].SpanID == "" {
		t.Errorf("got pid %d, trace %q, span %q; want %d and the span's ids", subs[0].PID, subs[0].TraceID, subs[0].SpanID, os.Getpid())
	}
	var spanID string
	for _, s := range spans.GetSpans() {
		if s.Name == "submit_patch" {
			spanID = s.SpanContext.SpanID().String()
		}
	}
	if subs[0].SpanID != spanID {
		t.Errorf("got span id %s, want submit_patch's %s", subs[0].SpanID, spanID)
	}
	if _, ok := subs[0].Attrs[string(crs.ActionCategoryKey)]; ok {
		t.Errorf("got %s among the attributes, want it only as the category", crs.ActionCategoryKey)
	}
	data, _ := os.ReadFile(c.Files[0])
	for _, secret := range []string{"hunter2", "sk-live-0123456789"} {
		if strings.Contains(string(data), secret) {
			t.Errorf("the trail holds the secret %q", secret)
		}
	}
	if fi, err := os.Stat(c.Files[0]); err != nil || fi.Mode().Perm() != 0o600 || filepath.Dir(c.Files[0]) != dir {
		t.Errorf("got audit file %s (%v), want one of mode 0600 in %s", c.Files[0], err, dir)
	}

	// The same records as OTLP log records.
	lrs := logs.audit()
	if len(lrs) != 4 {
		t.Fatalf("got %d audit log records, want 4", len(lrs))
	}
	for _, lr := range lrs {
		var event, pw string
		lr.WalkAttributes(func(kv attribute.KeyValue) bool {
			switch kv.Key {
			case crstel.AuditEventKey:
				event = kv.Value.AsString()
			case "db.password":
				pw = kv.Value.AsString()
			}
			return true
		})
		if event == "" || event != lr.Body().AsString() {
			t.Errorf("got a log record with event %q, body %q; want both the event", event, lr.Body().AsString())
		}
		if event == "submission" && !lr.SpanID().IsValid() {
			t.Errorf("got a submission log record without its span id")
		}
		if event == "credential_refused" && pw != "[REDACTED]" {
			t.Errorf("got db.password %q in the log record, want [REDACTED]", pw)
		}
	}
}

func TestAuditWithoutSetup(t *testing.T) {
	isolate(t)
	if err := crstel.Audit(context.Background(), "credential_refused"); !errors.Is(err, crstel.ErrNoAuditTrail) {
		t.Errorf("got %v, want ErrNoAuditTrail", err)
	}
}

func TestAuditFilesOff(t *testing.T) {
	isolate(t)
	t.Setenv("CRSTEL_AUDIT_DIR", "off")
	logs := &logRecorder{}
	tel := startSetup(t, crstel.WithExporter(tracetest.NewInMemoryExporter()), crstel.WithLogExporter(logs))
	if err := crstel.Audit(context.Background(), "credential_refused"); err != nil {
		t.Errorf("Audit: %v", err)
	}
	if err := tel.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if tel.AuditPath() != "" {
		t.Errorf("got audit file %s, want none", tel.AuditPath())
	}
	if n := len(logs.audit()); n != 1 {
		t.Errorf("got %d audit log records, want 1", n)
	}
}

func TestAuditConcurrent(t *testing.T) {
	isolate(t)
	dir := t.TempDir()
	tel := startSetup(t, crstel.WithExporter(tracetest.NewInMemoryExporter()), crstel.WithAuditDir(dir))
	ctx := context.Background()
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 50 {
				_, s := crstel.Action(ctx, crs.ScoringSubmission, "submit_patch", nil)
				s.End()
				crstel.Audit(ctx, "credential_refused")
			}
		})
	}
	wg.Wait()
	if err := tel.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if c := chain(t, dir); c.Records != 8*50*2+1 {
		t.Errorf("got %d records, want %d", c.Records, 8*50*2+1)
	}
}

// slowLogs is a log exporter that takes its time over each batch.
type slowLogs struct{ logRecorder }

func (s *slowLogs) Export(ctx context.Context, rs []sdklog.Record) error {
	time.Sleep(2 * time.Millisecond)
	return s.logRecorder.Export(ctx, rs)
}

// TestAuditLogRecordsWait: with a log queue of 2 records and an exporter
// slower than the emitters, ordinary records are dropped, audit records
// wait for room and are all exported.
func TestAuditLogRecordsWait(t *testing.T) {
	isolate(t)
	t.Setenv("OTEL_BLRP_MAX_QUEUE_SIZE", "2")
	t.Setenv("OTEL_BLRP_SCHEDULE_DELAY", "1")
	logs := &slowLogs{}
	tel := startSetup(t, crstel.WithExporter(tracetest.NewInMemoryExporter()), crstel.WithLogExporter(logs),
		crstel.WithAuditDir(t.TempDir()), crstel.WithLogger(slog.New(slog.DiscardHandler)))
	const n = 100
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			for j := range n / 4 {
				emitLogRecord("ordinary")
				if err := crstel.Audit(context.Background(), fmt.Sprintf("event_%d_%d", i, j)); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	tel.Shutdown(context.Background())
	logs.mu.Lock()
	total := len(logs.records)
	logs.mu.Unlock()
	if got := len(logs.audit()); got != n {
		t.Errorf("got %d audit log records exported, want all %d", got, n)
	}
	if ordinary := total - len(logs.audit()); ordinary == n {
		t.Errorf("got every ordinary record exported through a queue of 2: the test shows nothing")
	}
}
