package crstel

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
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

// Environment variables the log pipeline reads that the OTLP log exporter
// does not check itself.
const (
	envLogsEndpoint   = "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT"
	envLogsHeaders    = "OTEL_EXPORTER_OTLP_LOGS_HEADERS"
	envLogsQueueSize  = "OTEL_BLRP_MAX_QUEUE_SIZE"
	envGeneralHeaders = "OTEL_EXPORTER_OTLP_HEADERS"

	envExportTimeout     = "OTEL_EXPORTER_OTLP_TIMEOUT"
	envLogsExportTimeout = "OTEL_EXPORTER_OTLP_LOGS_TIMEOUT"
	envBLRPExportTimeout = "OTEL_BLRP_EXPORT_TIMEOUT"
)

// envSet reports whether any of the variables is set to a non-blank value.
func envSet(names ...string) bool {
	for _, n := range names {
		if strings.TrimSpace(os.Getenv(n)) != "" {
			return true
		}
	}
	return false
}

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

// newLogPipeline makes the LoggerProvider that Setup installs as the
// global one (otel.SetLoggerProvider), for the OpenTelemetry log bridges
// such as otelslog (see logs.WithOTLP). Records are exported, in batches,
// by the exporter of WithLogExporter; else over OTLP gRPC with the same
// settings as the spans when OTEL_LOGS_EXPORTER is "otlp", or is unset and
// spans go to an OTLP collector. OTEL_LOGS_EXPORTER=none turns the export
// off; the provider then drops every record, cheaply.
func newLogPipeline(ctx context.Context, cfg config, env envconfig.Config, res *resource.Resource) (*logPipeline, error) {
	mode := env.LogsExporter
	exp := cfg.logs.exporter
	var err error
	endpoint := fmt.Sprintf("the exporter %T", exp)
	if exp == nil && (mode == "otlp" || mode == "" && cfg.otlp(env)) {
		if exp, endpoint, err = newOTLPLogExporter(ctx, cfg, env); err != nil {
			return nil, err
		}
	}
	lp := &logPipeline{}
	opts := []sdklog.LoggerProviderOption{sdklog.WithResource(res)}
	if exp != nil {
		queue := DefaultLogQueueSize
		if n, err := strconv.Atoi(strings.TrimSpace(os.Getenv(envLogsQueueSize))); err == nil && n > 0 {
			queue = n
		}
		// The batch processor has the same bound as the account's queue,
		// so that it never drops a record itself: every drop is decided,
		// and counted, by the account.
		lp.acc = &account{what: "log records", endpoint: endpoint, secrets: secrets(cfg, env),
			queue: newAdmission(queue, cmp.Or(cfg.queueBytes, env.QueueBytes, DefaultQueueBytes), queueBlocks(cfg, env))}
		bopts := []sdklog.BatchProcessorOption{sdklog.WithMaxQueueSize(queue)}
		if !envSet(envBLRPExportTimeout) {
			// Room for the exporter's retries through an outage, and more.
			bopts = append(bopts, sdklog.WithExportTimeout(DefaultOutage+30*time.Second))
		}
		bp := sdklog.NewBatchProcessor(countingLogExporter{Exporter: exp, acc: lp.acc}, bopts...)
		opts = append(opts, sdklog.WithProcessor(countingLogProcessor{Processor: bp, acc: lp.acc}))
	}
	lp.provider = sdklog.NewLoggerProvider(opts...)
	return lp, nil
}

// newOTLPLogExporter makes the OTLP gRPC log exporter. It reads the
// OTEL_EXPORTER_OTLP_* and OTEL_EXPORTER_OTLP_LOGS_* variables itself; the
// options, and the traces-only endpoint and headers, are passed on, so that
// logs go where the spans go.
func newOTLPLogExporter(ctx context.Context, cfg config, env envconfig.Config) (sdklog.Exporter, string, error) {
	// Retry through an outage of the collector as the span exporter does
	// (see newExporter), so that records wait in the queue meanwhile.
	opts := []otlploggrpc.Option{
		otlploggrpc.WithRetry(otlploggrpc.RetryConfig(outageRetry)),
		otlploggrpc.WithDialOption(outageReconnect),
	}
	if !envSet(envExportTimeout, envLogsExportTimeout) {
		// The exporter's timeout bounds its retries too.
		opts = append(opts, otlploggrpc.WithTimeout(exportTimeout))
	}
	endpoint := env.Endpoint
	logsEndpoint, generalEndpoint := envSet(envLogsEndpoint), envSet(envconfig.Endpoint)
	switch {
	case cfg.endpoint != "":
		endpoint = endpointURL(cfg.endpoint)
		opts = append(opts, otlploggrpc.WithEndpointURL(endpoint))
	case logsEndpoint:
		endpoint = os.Getenv(envLogsEndpoint)
	case generalEndpoint:
		endpoint = os.Getenv(envconfig.Endpoint)
	case env.EndpointSet:
		opts = append(opts, otlploggrpc.WithEndpointURL(env.Endpoint))
	}
	if endpoint == "" {
		endpoint = "localhost:4317"
	}
	if cfg.insecure {
		opts = append(opts, otlploggrpc.WithInsecure())
	}
	switch {
	case cfg.headers != nil:
		opts = append(opts, otlploggrpc.WithHeaders(cfg.headers))
	case !envSet(envLogsHeaders, envGeneralHeaders) && env.TracesOnlyHeaders != nil:
		opts = append(opts, otlploggrpc.WithHeaders(env.TracesOnlyHeaders))
	}
	endpoint = redactEndpoint(endpoint)
	exp, err := otlploggrpc.New(ctx, opts...)
	if err != nil {
		return nil, "", fmt.Errorf("crstel: creating the OTLP gRPC log exporter for %s: %w", endpoint, err)
	}
	return exp, endpoint, nil
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
