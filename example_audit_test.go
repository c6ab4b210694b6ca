package crstel_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/crstel/crstel"
	"github.com/crstel/crstel/crs"
)

// Audit records security-relevant events; submissions are recorded at the
// end of their scoring_submission action. Each record is a JSON line that
// holds the SHA-256 of the line before it ("crstel audit verify" checks
// the chain), with secrets redacted.
func ExampleAudit() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "audit-example-")
	defer os.RemoveAll(dir)
	tel, err := crstel.Setup(ctx, crstel.WithServiceName("submitter"),
		crstel.WithExporter(tracetest.NewInMemoryExporter()), crstel.WithoutJournal(),
		crstel.WithLogger(slog.New(slog.DiscardHandler)), crstel.WithAuditDir(dir))
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx = crstel.WithTask(ctx, crs.Metadata{"task.id": "task-1"})

	sctx, submit := crstel.Action(ctx, crs.ScoringSubmission, "submit_patch", nil)
	if err := crstel.Audit(sctx, "credential_refused", attribute.String("api.password", "hunter2"), attribute.String("user", "crs")); err != nil {
		fmt.Println(err)
	}
	submit.End() // records the submission
	path := tel.AuditPath()
	tel.Shutdown(ctx) // syncs, and closes the chain

	f, err := os.Open(path)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var r struct {
			Seq    int               `json:"seq"`
			Prev   string            `json:"prev"`
			Event  string            `json:"event"`
			Action string            `json:"action"`
			Status string            `json:"status"`
			Task   map[string]string `json:"task"`
			Attrs  map[string]any    `json:"attrs"`
		}
		json.Unmarshal(sc.Bytes(), &r)
		fmt.Printf("%d %-18s prev=%t action=%s status=%s task=%v attrs=%v\n", r.Seq, r.Event, r.Prev != "", r.Action, r.Status, r.Task, r.Attrs)
	}
	// Output:
	// 0 credential_refused prev=false action=submit_patch status= task=map[task.id:task-1] attrs=map[api.password:[REDACTED] user:crs]
	// 1 submission         prev=true action=submit_patch status=ok task=map[task.id:task-1] attrs=map[]
	// 2 audit.closed       prev=true action= status= task=map[] attrs=map[]
}
