package crstel

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploggrpc"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	"go.opentelemetry.io/otel/sdk/resource"

	"github.com/crstel/crstel/crs"
	"github.com/crstel/crstel/internal/envconfig"
)

// ActionOf returns the category and name of the innermost [Action] ctx is
// inside of, and true; or "", "" and false if ctx is not inside an action
// (or is nil). Package [github.com/crstel/crstel/logs] uses it to put the
// action on log records.
func ActionOf(ctx context.Context) (category crs.Category, name string, ok bool) {
	if ctx == nil {
		return "", "", false
	}
	a := actionFrom(ctx)
	if a == nil {
		return "", "", false
	}
	return crs.Category(a.Category), a.Name, true
}

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
	acc      *account // nil if records are not exported
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
		return newOTLPLogExporter(ctx, cfg, env)
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
		lp.acc = &account{what: "log records", endpoint: endpoint, secrets: secrets(cfg, env),
			queue: newAdmission(queue, queueBytes(cfg, env), queueBlocks(cfg, env))}
		bopts := []sdklog.BatchProcessorOption{
			sdklog.WithMaxQueueSize(queue),
			sdklog.WithExportMaxBatchSize(min(cmp.Or(env.BLRP.BatchSize, logBatchSize), queue)),
			sdklog.WithExportInterval(cmp.Or(env.BLRP.ScheduleDelay, logExportInterval)),
			// Room for the exporter's retries through an outage, and more.
			sdklog.WithExportTimeout(cmp.Or(env.BLRP.ExportTimeout, cmp.Or(env.Logs.Timeout, exportTimeout)+20*time.Second)),
		}
		bp := sdklog.NewBatchProcessor(countingLogExporter{Exporter: exp, acc: lp.acc}, bopts...)
		opts = append(opts, sdklog.WithProcessor(countingLogProcessor{Processor: bp, acc: lp.acc}))
	}
	lp.provider = sdklog.NewLoggerProvider(opts...)
	return lp
}

// newOTLPLogExporter makes the OTLP gRPC log exporter, with the settings
// of the OTEL_EXPORTER_OTLP_* and OTEL_EXPORTER_OTLP_LOGS_* variables as
// envconfig read them, overridden by the options; logs whose endpoint is
// not configured go where the spans go. Every setting is passed as an
// option: unlike the span and metric exporters, the log exporter reads the
// variables as they are, without trimming spaces, and prints a bad one.
func newOTLPLogExporter(ctx context.Context, cfg config, env envconfig.Config) (sdklog.Exporter, string, error) {
	t := newOTLPTarget(cfg, env.Logs)
	headers := t.headers
	if headers == nil {
		headers = map[string]string{}
	}
	// Retry through an outage of the collector as the span exporter does
	// (see newExporter), so that records wait in the queue meanwhile.
	opts := []otlploggrpc.Option{
		otlploggrpc.WithRetry(otlploggrpc.RetryConfig(t.retry())),
		otlploggrpc.WithDialOption(outageReconnect),
		otlploggrpc.WithEndpointURL(t.url()),
		otlploggrpc.WithTLSCredentials(t.creds),
		otlploggrpc.WithHeaders(headers),
		otlploggrpc.WithCompressor(cmp.Or(t.compression, "none")),
		// The exporter's timeout bounds its retries too.
		otlploggrpc.WithTimeout(cmp.Or(t.timeout, exportTimeout)),
	}
	exp, err := otlploggrpc.New(ctx, opts...)
	if err != nil {
		return nil, "", fmt.Errorf("crstel: creating the OTLP gRPC log exporter for %s: %w", t.display, err)
	}
	return exp, t.display, nil
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
	err := shutdownWithin(ctx, p.provider.Shutdown)
	if p.acc == nil {
		return err
	}
	p.acc.seal()
	if lost := p.acc.lossError(); lost != nil {
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
