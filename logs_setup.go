package crstel

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/otel"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	"go.opentelemetry.io/otel/sdk/resource"

	"github.com/crstel/crstel/internal/envconfig"
	"github.com/crstel/crstel/internal/export"
	"github.com/crstel/crstel/internal/otlp"
)

// DefaultLogQueueSize is the number of log records buffered for export
// unless OTEL_BLRP_MAX_QUEUE_SIZE says otherwise. It holds the burst of a
// build's or a fuzzer's output logged line by line; the OpenTelemetry SDK's
// default of 2048 does not.
const DefaultLogQueueSize = 1 << 16

// The log SDK's defaults that Setup keeps, passed as options so that the
// SDK does not read the OTEL_BLRP_* variables itself: envconfig has.
const (
	logBatchSize      = 512
	logExportInterval = time.Second
)

// logsConfig is the part of config for logs.
type logsConfig struct {
	exporter sdklog.Exporter
}

// WithLogExporter sends the log records of [Setup]'s LoggerProvider to exp
// instead of the OTLP gRPC log exporter, through the same batching and
// accounting. Setup takes ownership of exp and shuts it down. It overrides
// OTEL_LOGS_EXPORTER. A nil exp is ignored.
func WithLogExporter(exp sdklog.Exporter) Option {
	return optionFunc(func(c *config) {
		if exp != nil {
			c.logs.exporter = exp
		}
	})
}

// logPipeline is Setup's LoggerProvider and the account of its records.
type logPipeline struct {
	provider *sdklog.LoggerProvider
	acc      *export.Account // nil if records are not exported
}

// newLogExporter returns the exporter of Setup's LoggerProvider, and where
// it sends, for messages: the one of WithLogExporter; else the OTLP gRPC log
// exporter, with the same settings as the spans, when OTEL_LOGS_EXPORTER is
// "otlp", or is unset and spans go to an OTLP collector; else nil.
func newLogExporter(ctx context.Context, cfg config, env envconfig.Config) (sdklog.Exporter, string, error) {
	switch mode := env.LogsExporter; {
	case cfg.logs.exporter != nil:
		return cfg.logs.exporter, fmt.Sprintf("the exporter %T", cfg.logs.exporter), nil
	case mode == "otlp" || mode == "" && cfg.otlp(env):
		t := otlp.NewTarget(cfg.otlpOptions(), env.Logs)
		exp, err := otlp.NewLogExporter(ctx, t)
		return exp, t.Display(), err
	}
	return nil, "", nil
}

// newLogPipeline makes the LoggerProvider that Setup installs as the
// global one (otel.SetLoggerProvider), for the OpenTelemetry log bridges
// such as otelslog (see logs.WithOTLP). Records are exported by exp, in
// batches; with no exporter (OTEL_LOGS_EXPORTER=none) the provider drops
// every record, cheaply.
func newLogPipeline(cfg config, env envconfig.Config, res *resource.Resource, exp sdklog.Exporter, endpoint string) *logPipeline {
	lp := &logPipeline{}
	opts := []sdklog.LoggerProviderOption{sdklog.WithResource(res)}
	if exp != nil {
		queue := cmp.Or(env.BLRP.QueueSize, DefaultLogQueueSize)
		// The batch processor has the same bound as the account's queue,
		// so that it never drops a record itself: every drop is decided,
		// and counted, by the account.
		lp.acc = export.NewAccount("log records", endpoint, secrets(cfg, env),
			export.NewQueue(queue, queueBytes(cfg, env), queueBlocks(cfg, env)))
		bopts := []sdklog.BatchProcessorOption{
			sdklog.WithMaxQueueSize(queue),
			sdklog.WithExportMaxBatchSize(min(cmp.Or(env.BLRP.BatchSize, logBatchSize), queue)),
			sdklog.WithExportInterval(cmp.Or(env.BLRP.ScheduleDelay, logExportInterval)),
			// Room for the exporter's retries through an outage, and more.
			sdklog.WithExportTimeout(cmp.Or(env.BLRP.ExportTimeout, otlp.NewTarget(cfg.otlpOptions(), env.Logs).Timeout()+20*time.Second)),
		}
		bp := sdklog.NewBatchProcessor(export.NewLogExporter(exp, lp.acc), bopts...)
		opts = append(opts, sdklog.WithProcessor(export.NewLogProcessor(bp, lp.acc, AuditEventName)))
	}
	lp.provider = sdklog.NewLoggerProvider(opts...)
	return lp
}

// forceFlush exports every log record emitted so far. It is safe on a nil
// pipeline.
func (p *logPipeline) forceFlush(ctx context.Context) error {
	if p == nil {
		return nil
	}
	return p.provider.ForceFlush(ctx)
}

// shutdown exports the records still buffered, stops the exporter, and
// returns an error, also sent to otel.Handle, if records were lost. It is
// safe on a nil pipeline.
func (p *logPipeline) shutdown(ctx context.Context) error {
	if p == nil {
		return nil
	}
	err := export.ShutdownWithin(ctx, p.provider.Shutdown)
	if p.acc == nil {
		return err
	}
	p.acc.Seal()
	if lost := p.acc.LossError(); lost != nil {
		otel.Handle(lost)
		err = errors.Join(err, lost)
	}
	return err
}

// LoggerProvider returns the OpenTelemetry LoggerProvider Setup installed
// as the global one. Log bridges use it, such as the slog handler of
// package [github.com/crstel/crstel/logs] with logs.WithOTLP.
func (t *Telemetry) LoggerProvider() *sdklog.LoggerProvider {
	if t.logs == nil {
		return nil
	}
	return t.logs.provider
}
