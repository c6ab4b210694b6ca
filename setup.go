package crstel

import (
	"cmp"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"

	"github.com/crstel/crstel/crs"
	"github.com/crstel/crstel/internal/actionref"
	"github.com/crstel/crstel/internal/console"
	"github.com/crstel/crstel/internal/envconfig"
	"github.com/crstel/crstel/internal/journal"
	"github.com/crstel/crstel/internal/violation"
	"github.com/crstel/crstel/internal/watchdog"
)

// Telemetry is crstel's telemetry pipeline: the tracer provider [Setup]
// installed, its processors and exporter. Call [Telemetry.Shutdown] before
// the process exits, or buffered spans are lost.
type Telemetry struct {
	tp       *sdktrace.TracerProvider
	mp       *sdkmetric.MeterProvider
	acc      *account // of the spans
	pipeline *pipeline
	logs     *logPipeline // the LoggerProvider; see logs_setup.go

	shutdownOnce sync.Once
	shutdownErr  error
}

// Setup builds the telemetry pipeline and installs it as the global
// TracerProvider, with the W3C tracecontext and baggage propagators (or those
// OTEL_PROPAGATORS names), so that [Action] and any other OpenTelemetry
// instrumentation use it.
//
// Configuration comes from opts, then the standard environment variables,
// then defaults:
//   - Resource: service.name from [WithServiceName], else OTEL_SERVICE_NAME,
//     else the executable's name; OTEL_RESOURCE_ATTRIBUTES; the process's pid,
//     executable, owner and runtime, and the host's name (not the command
//     line, which may hold secrets).
//   - Exporter: OTLP over gRPC, configured by the standard
//     OTEL_EXPORTER_OTLP_* variables and their OTEL_EXPORTER_OTLP_TRACES_*
//     forms (endpoint, headers, certificate, timeout, compression);
//     "http://" endpoints are plain text. OTEL_EXPORTER_OTLP_PROTOCOL must be
//     "grpc" or unset. OTEL_TRACES_EXPORTER may be "otlp", "console" or
//     "none". With no endpoint configured anywhere and OTEL_TRACES_EXPORTER
//     unset, spans are printed to stderr, and one warning says how to send
//     them to a collector.
//   - Export queue: [DefaultQueueSize] spans and [DefaultQueueBytes], sent
//     in batches of [DefaultBatchSize], at least every second; spans that
//     find the queue full are dropped and counted (see
//     [WithQueueFullPolicy]).
//
// An invalid configuration is an error naming the variable or option and the
// value; Setup then installs nothing. Credentials never appear in errors.
func Setup(ctx context.Context, opts ...Option) (*Telemetry, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	env, err := envconfig.Read(nil)
	if err != nil {
		return nil, err
	}
	cfg := config{logger: slog.Default()}
	for _, o := range opts {
		if o != nil {
			o.apply(&cfg)
		}
	}
	if cfg.logger == nil {
		cfg.logger = slog.Default()
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.strictSet {
		violation.SetStrict(cfg.strict)
	} else if env.StrictSet {
		violation.SetStrict(env.Strict)
	}

	res, err := newResource(ctx, cfg, env)
	if err != nil {
		return nil, err
	}
	acc := &account{what: "spans", endpoint: "(none)"}
	exp, err := newExporter(ctx, cfg, env, acc)
	if err != nil {
		return nil, err
	}

	budgets, err := mergeBudgets(env.Overdue, cfg.budgets)
	if err != nil {
		return nil, err
	}
	p := &pipeline{budgets: budgets}
	tpOpts := []sdktrace.TracerProviderOption{
		sdktrace.WithResource(res),
		sdktrace.WithSpanProcessor(NewSpanProcessor()),
	}
	for _, p := range cfg.processors {
		tpOpts = append(tpOpts, sdktrace.WithSpanProcessor(p))
	}
	if exp != nil {
		queue := cmp.Or(cfg.queueSize, env.QueueSize, DefaultQueueSize)
		batch := min(cmp.Or(cfg.batchSize, env.BatchSize, DefaultBatchSize), queue)
		bspOpts := []sdktrace.BatchSpanProcessorOption{
			sdktrace.WithBatchTimeout(batchTimeout),
			sdktrace.WithMaxQueueSize(queue),
			sdktrace.WithMaxExportBatchSize(batch),
		}
		if !env.BSPExportTimeoutSet {
			// Room for the exporter's retries through an outage, and more.
			bspOpts = append(bspOpts, sdktrace.WithExportTimeout(DefaultOutage+30*time.Second))
		}
		block := queueBlocks(cfg, env)
		if block {
			bspOpts = append(bspOpts, sdktrace.WithBlocking())
		}
		acc.queue = newAdmission(queue, cmp.Or(cfg.queueBytes, env.QueueBytes, DefaultQueueBytes), block)
		bsp := sdktrace.NewBatchSpanProcessor(countingExporter{SpanExporter: exp, acc: acc}, bspOpts...)
		tpOpts = append(tpOpts, sdktrace.WithSpanProcessor(countingProcessor{SpanProcessor: bsp, acc: acc}))
	}
	tp := sdktrace.NewTracerProvider(tpOpts...)

	p.wd = watchdog.New(watchdog.Config{
		Interval:  cmp.Or(cfg.watchdogInterval, DefaultWatchdogInterval),
		Tracer:    tp.Tracer(ScopeName + "/watchdog"),
		Logger:    cfg.logger,
		Forgotten: p.forgotten,
		OnReport: func(r Report) {
			p.reported(r)
			if cfg.onReport != nil {
				cfg.onReport(r)
			}
		},
	})
	if dir := cmp.Or(cfg.traceDir, env.TraceDir); !cfg.noJournal && dir != "off" {
		jw, err := journal.Open(journal.Options{
			Dir:      cmp.Or(dir, journal.DefaultDir()),
			Service:  serviceName(res),
			Snapshot: p.snapshot,
			Starts:   p.starts,
		})
		if err != nil {
			// The journal is a diagnostic aid: without it, telemetry still works.
			cfg.logger.Warn("crstel: no action journal: " + err.Error())
		}
		p.journal = jw
	}
	t := &Telemetry{tp: tp, acc: acc, pipeline: p}
	if t.mp, err = newMeterProvider(ctx, cfg, env, res, t); err != nil {
		t.Shutdown(ctx)
		return nil, err
	}
	if t.logs, err = newLogPipeline(ctx, cfg, env, res); err != nil {
		t.Shutdown(ctx)
		return nil, err
	}
	pipelines.Store(tp, p)
	installWatch.Do(func() { actionref.SetWatch(watchOp) })
	otel.SetTracerProvider(tp)
	otel.SetMeterProvider(t.mp)
	otel.SetLoggerProvider(t.logs.provider)
	otel.SetTextMapPropagator(textMapPropagator(env, cfg.logger))
	return t, nil
}

// textMapPropagator returns the propagator OTEL_PROPAGATORS names, or W3C
// Trace Context and Baggage when it is unset. It warns when the variable
// leaves out baggage, which carries the task metadata between processes.
func textMapPropagator(env envconfig.Config, logger *slog.Logger) propagation.TextMapPropagator {
	if env.Propagator == nil {
		return propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
	}
	if env.NoBaggage {
		logger.Warn("crstel: " + envconfig.Propagators + " leaves out baggage: task metadata will not reach other processes")
	}
	return env.Propagator
}

// queueBlocks reports whether the export queues block when full
// (QueueBlock), rather than drop.
func queueBlocks(cfg config, env envconfig.Config) bool {
	if cfg.queueFullSet {
		return cfg.queueFull == QueueBlock
	}
	return env.QueueFull == "block"
}

// secrets returns what error messages must never show: the header values
// of the options and the environment, the credentials in them (the token
// of "Bearer <token>", the password of "Basic base64(user:password)"), as
// the server's error may quote a part.
func secrets(cfg config, env envconfig.Config) []string {
	values := slices.Clone(env.Secrets)
	for _, v := range cfg.headers {
		values = append(values, v)
	}
	var out []string
	for _, v := range values {
		out = append(out, v)
		for _, f := range strings.Fields(v) {
			if len(f) >= 8 && f != v {
				out = append(out, f)
			}
			if dec, err := base64.StdEncoding.DecodeString(f); err == nil {
				if _, pass, ok := strings.Cut(string(dec), ":"); ok {
					out = append(out, string(dec), pass)
				}
			}
		}
	}
	return out
}

// installWatch installs watchOp once: it serves every pipeline.
var installWatch sync.Once

// serviceName returns the service.name of res.
func serviceName(res *resource.Resource) string {
	v, _ := res.Set().Value(crs.ServiceNameKey)
	return v.AsString()
}

func (c *config) validate() error {
	var errs []error
	if c.queueSize < 0 {
		errs = append(errs, fmt.Errorf("crstel: WithQueueSize(%d): want a positive number of spans", c.queueSize))
	}
	if c.queueBytes < 0 {
		errs = append(errs, fmt.Errorf("crstel: WithQueueBytes(%d): want a positive number of bytes", c.queueBytes))
	}
	if c.batchSize < 0 {
		errs = append(errs, fmt.Errorf("crstel: WithBatchSize(%d): want a positive number of spans", c.batchSize))
	}
	if c.queueFull != QueueDrop && c.queueFull != QueueBlock {
		errs = append(errs, fmt.Errorf("crstel: WithQueueFullPolicy(%d): want QueueDrop or QueueBlock", c.queueFull))
	}
	if c.serviceName != "" && strings.TrimSpace(c.serviceName) == "" {
		errs = append(errs, fmt.Errorf("crstel: WithServiceName(%q): want a non-blank name", c.serviceName))
	}
	return errors.Join(errs...)
}

// newResource builds the resource. Later detectors override earlier ones:
// the executable's name, then the environment, then the options.
func newResource(ctx context.Context, cfg config, env envconfig.Config) (*resource.Resource, error) {
	attrs := slices.Clone(cfg.resourceAttrs)
	if cfg.serviceName != "" {
		attrs = append(attrs, crs.ServiceNameKey.String(cfg.serviceName))
	}
	exe, _ := os.Executable()
	res, err := resource.New(ctx,
		resource.WithAttributes(crs.ServiceNameKey.String(serviceFromExecutable(exe))),
		resource.WithTelemetrySDK(),
		resource.WithHost(),
		resource.WithProcessPID(),
		resource.WithProcessExecutableName(),
		resource.WithProcessExecutablePath(),
		resource.WithProcessOwner(),
		resource.WithProcessRuntimeName(),
		resource.WithProcessRuntimeVersion(),
		resource.WithProcessRuntimeDescription(),
		resource.WithFromEnv(),
		resource.WithAttributes(attrs...),
	)
	if err != nil && res == nil {
		return nil, fmt.Errorf("crstel: building the resource: %w", err)
	}
	if err != nil {
		// A detector failed (say, no host name): keep what the others found.
		otel.Handle(fmt.Errorf("crstel: building the resource, continuing without some attributes: %w", err))
	}
	return res, nil
}

func serviceFromExecutable(exe string) string {
	name := strings.TrimSuffix(filepath.Base(exe), filepath.Ext(exe))
	if name == "" || name == "." || name == string(filepath.Separator) {
		return "unknown_service:go"
	}
	return name
}

// otlp reports whether spans go to an OTLP collector: an endpoint is
// configured, or OTEL_TRACES_EXPORTER=otlp asks for the default one.
func (c *config) otlp(env envconfig.Config) bool {
	return c.exporter == nil && c.console == nil &&
		(c.endpoint != "" || env.TracesExporter == "otlp" || env.EndpointSet && env.TracesExporter == "")
}

// newExporter returns the configured exporter, or nil for "none".
func newExporter(ctx context.Context, cfg config, env envconfig.Config, acc *account) (sdktrace.SpanExporter, error) {
	switch {
	case cfg.exporter != nil:
		acc.endpoint = fmt.Sprintf("the exporter %T", cfg.exporter)
		return cfg.exporter, nil
	case cfg.console != nil:
		acc.endpoint = "the console"
		return console.New(cfg.console), nil
	case cfg.otlp(env):
		// Below.
	case env.TracesExporter == "none":
		return nil, nil
	case env.TracesExporter == "console":
		acc.endpoint = "the console"
		return console.New(os.Stderr), nil
	default:
		cfg.logger.Warn("crstel: no OTLP endpoint configured, printing spans to stderr; " +
			"set OTEL_EXPORTER_OTLP_ENDPOINT=http://HOST:4317 (and OTEL_EXPORTER_OTLP_HEADERS for credentials) " +
			"to send them to a collector, or OTEL_TRACES_EXPORTER=none to discard them")
		acc.endpoint = "the console"
		return console.New(os.Stderr), nil
	}

	opts := []otlptracegrpc.Option{
		// Retry through an outage of the collector, trying at least every
		// 5 s, and reconnect as fast, so that spans wait in the queue and
		// arrive once it is back.
		otlptracegrpc.WithRetry(otlptracegrpc.RetryConfig(outageRetry)),
		otlptracegrpc.WithDialOption(outageReconnect),
	}
	if !env.ExportTimeoutSet {
		// The exporter's timeout bounds its retries too.
		opts = append(opts, otlptracegrpc.WithTimeout(exportTimeout))
	}
	endpoint := env.Endpoint
	if cfg.endpoint != "" {
		// "host:port" means TLS, whatever the environment says.
		endpoint = endpointURL(cfg.endpoint)
		opts = append(opts, otlptracegrpc.WithEndpointURL(endpoint))
	}
	if endpoint == "" {
		endpoint = "localhost:4317"
	}
	if cfg.insecure {
		opts = append(opts, otlptracegrpc.WithInsecure())
	}
	acc.secrets = secrets(cfg, env)
	if cfg.headers != nil {
		opts = append(opts, otlptracegrpc.WithHeaders(cfg.headers))
	}
	acc.endpoint = redactEndpoint(endpoint)
	exp, err := otlptracegrpc.New(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("crstel: creating the OTLP gRPC exporter for %s: %w", acc.endpoint, err)
	}
	return exp, nil
}

// How the OTLP exporters ride out an outage of the collector: an export is
// retried for up to DefaultOutage, at least every 5 s, and the connection
// is re-tried as often. Their timeout, which bounds an export with its
// retries, leaves room for that.
var (
	outageRetry = struct {
		Enabled         bool
		InitialInterval time.Duration
		MaxInterval     time.Duration
		MaxElapsedTime  time.Duration
	}{true, time.Second, 5 * time.Second, DefaultOutage}
	outageReconnect = grpc.WithConnectParams(grpc.ConnectParams{
		Backoff:           backoff.Config{BaseDelay: time.Second, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 5 * time.Second},
		MinConnectTimeout: 5 * time.Second,
	})
)

const exportTimeout = DefaultOutage + 10*time.Second

// redactEndpoint returns endpoint without user info or query, which may
// hold credentials.
func redactEndpoint(endpoint string) string {
	u, err := url.Parse(endpoint)
	if err != nil || u.Host == "" {
		if i := strings.LastIndex(endpoint, "@"); i >= 0 {
			return endpoint[i+1:]
		}
		return endpoint
	}
	u.User, u.RawQuery, u.Fragment = nil, "", ""
	return u.String()
}

// TracerProvider returns the provider Setup installed.
func (t *Telemetry) TracerProvider() *sdktrace.TracerProvider { return t.tp }

// Stats returns what happened to the spans ended so far.
func (t *Telemetry) Stats() Stats { return t.acc.stats() }

// ForceFlush exports every ended span now and waits until it is done or ctx
// ends. It returns an error if spans were lost so far, with their number.
// (Export failures reach otel.Handle as they happen; the total is reported
// there by Shutdown.)
func (t *Telemetry) ForceFlush(ctx context.Context) error {
	err := t.tp.ForceFlush(ctx)
	return errors.Join(err, t.logs.forceFlush(ctx), t.acc.lossError())
}

// Shutdown ends the pipeline: it exports every ended span, waiting until it
// is done or ctx ends, stops the exporter and every goroutine crstel
// started, and returns an error if spans were lost, with their number (the
// same error goes to otel.Handle). Spans that end later are not exported.
// It is safe to call more than once; later calls return the first one's
// result. It never exits the process.
func (t *Telemetry) Shutdown(ctx context.Context) error {
	t.shutdownOnce.Do(func() {
		p := t.pipeline
		// The watchdog first: it ends the actions still open as abandoned,
		// so that the provider exports them.
		errs := []error{p.wd.Shutdown(ctx), shutdownWithin(ctx, t.tp.Shutdown)}
		t.acc.seal()
		errs = append(errs, t.logs.shutdown(ctx))
		pipelines.Delete(t.tp)
		lost := t.acc.lossError()
		if lost != nil {
			otel.Handle(lost)
		}
		errs = append(errs, lost)
		if p.journal != nil {
			errs = append(errs, p.journal.Close(ctx))
		}
		if t.mp != nil {
			errs = append(errs, shutdownWithin(ctx, t.mp.Shutdown))
		}
		t.shutdownErr = errors.Join(errs...)
	})
	return t.shutdownErr
}

// shutdownWithin shuts a provider down with shutdown, and returns its
// error, or ctx's error if ctx ends first. Even then the shutdown goes on,
// with ctx's values but not its end: the SDK's providers would otherwise
// leave their goroutines running for good. Their exports then send nothing
// (see account.seal), so the goroutines end as soon as the exports under
// way return, within the exporters' timeouts.
func shutdownWithin(ctx context.Context, shutdown func(context.Context) error) error {
	done := make(chan error, 1)
	go func() { done <- shutdown(context.WithoutCancel(ctx)) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// batchTimeout is the longest an ended span waits in the queue.
const batchTimeout = time.Second

// JournalPath returns the path of this process's action journal, which
// "crstel trace anomalies" reads, or "" if the journal is off.
func (t *Telemetry) JournalPath() string {
	if t.pipeline.journal == nil {
		return ""
	}
	return t.pipeline.journal.Path()
}
