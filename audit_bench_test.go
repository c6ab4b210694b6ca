package crstel_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"go.opentelemetry.io/otel/attribute"

	"github.com/crstel/crstel"
	"github.com/crstel/crstel/crs"
)

// BenchmarkAudit is the cost of one audit record inside an action, with
// Setup's pipeline: the record encoded, hashed and written to the trail's
// file (synced by the trail's goroutine, not here), and, in "otlp", also
// emitted as a log record. "fsync" is one fsync of the same file system,
// which an audit record must not outlast.
func BenchmarkAudit(b *testing.B) {
	attrs := []attribute.KeyValue{attribute.String("user", "crs"), attribute.String("db.password", "hunter2")}
	for _, tt := range []struct {
		name string
		opts []crstel.Option
	}{
		{name: "file"},
		{name: "otlp", opts: []crstel.Option{crstel.WithLogExporter(discardLogs{})}},
	} {
		b.Run(tt.name, func(b *testing.B) {
			watchdogProvider(b, append(tt.opts, crstel.WithAuditDir(b.TempDir()))...)
			ctx := crstel.WithTask(context.Background(), task1)
			ctx, span := crstel.Action(ctx, crs.Testing, "run_harness", nil)
			defer span.End()
			b.ReportAllocs()
			for b.Loop() {
				if err := crstel.Audit(ctx, "credential_refused", attrs...); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("fsync", func(b *testing.B) {
		f, err := os.Create(filepath.Join(b.TempDir(), "f"))
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		line := make([]byte, 512)
		b.ReportAllocs()
		for b.Loop() {
			f.Write(line)
			if err := f.Sync(); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkSubmissionEnd compares an action of scoring_submission, which
// is recorded in the audit trail at its end, with one of testing, which
// pays nothing for it.
func BenchmarkSubmissionEnd(b *testing.B) {
	for _, c := range []crs.Category{crs.Testing, crs.ScoringSubmission} {
		b.Run(string(c), func(b *testing.B) {
			watchdogProvider(b, crstel.WithAuditDir(b.TempDir()))
			ctx := crstel.WithTask(context.Background(), task1)
			b.ReportAllocs()
			for b.Loop() {
				_, span := crstel.Action(ctx, c, "submit_patch", nil)
				span.End()
			}
		})
	}
}
