package export

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	sdklog "go.opentelemetry.io/otel/sdk/log"
)

// NewLogProcessor returns bp, a batch log processor, behind acc: an
// emitted record reaches it if acc admits it. A record whose event name is
// waitFor (if not empty) waits for room in a full queue instead (see
// Account.AdmitWait).
func NewLogProcessor(bp sdklog.Processor, acc *Account, waitFor string) sdklog.Processor {
	return countingLogProcessor{Processor: bp, acc: acc, waitFor: waitFor}
}

// NewLogExporter returns exp, counted by acc (see Account.Export).
func NewLogExporter(exp sdklog.Exporter, acc *Account) sdklog.Exporter {
	return countingLogExporter{Exporter: exp, acc: acc}
}

// countingLogProcessor hands emitted log records to the batch processor
// behind it if the account admits them.
type countingLogProcessor struct {
	sdklog.Processor // the batch processor
	acc              *Account
	waitFor          string // the event name of records that wait for room
}

func (p countingLogProcessor) OnEmit(ctx context.Context, r *sdklog.Record) error {
	admit := p.acc.Admit
	if p.waitFor != "" && r.EventName() == p.waitFor {
		admit = p.acc.AdmitWait
	}
	if !admit(recordBytes(r)) {
		return nil // dropped and counted
	}
	return p.Processor.OnEmit(ctx, r)
}

// countingLogExporter exports log records through the account.
type countingLogExporter struct {
	sdklog.Exporter // the real exporter
	acc             *Account
}

// Export exports records and counts the outcome; it never returns an error
// (see Account.Export): the batch processor would report every failed
// batch.
func (e countingLogExporter) Export(ctx context.Context, records []sdklog.Record) error {
	if len(records) == 0 {
		return e.Exporter.Export(ctx, records)
	}
	var bytes int64
	for i := range records {
		bytes += recordBytes(&records[i])
	}
	e.acc.Export(len(records), bytes, func() error { return e.Exporter.Export(ctx, records) })
	return nil
}

// recordOverhead is the estimated size, in bytes, of a log record's fixed
// fields.
const recordOverhead = 256

// recordBytes estimates the memory a log record holds while it waits for
// export, as spanBytes does for spans. The same record always gives the
// same number.
func recordBytes(r *sdklog.Record) int64 {
	n := recordOverhead + len(r.EventName()) + len(r.SeverityText()) + valueBytes(r.Body())
	r.WalkAttributes(func(kv attribute.KeyValue) bool {
		n += attributeOverhead + len(kv.Key) + valueBytes(kv.Value)
		return true
	})
	return int64(n)
}
