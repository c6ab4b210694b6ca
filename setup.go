package crstel

import (
	"cmp"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/contrib/propagators/autoprop"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/crstel/crstel/crs"
	"github.com/crstel/crstel/genai"
	"github.com/crstel/crstel/internal/actionref"
	"github.com/crstel/crstel/internal/audit"
	"github.com/crstel/crstel/internal/console"
	"github.com/crstel/crstel/internal/envconfig"
	"github.com/crstel/crstel/internal/export"
	"github.com/crstel/crstel/internal/journal"
	"github.com/crstel/crstel/internal/otlp"
	"github.com/crstel/crstel/internal/pipeline"
	"github.com/crstel/crstel/internal/violation"
	"github.com/crstel/crstel/internal/watchdog"
)

// Telemetry is crstel's telemetry pipeline: the tracer provider [Setup]
// installed, its processors and exporter. Call [Telemetry.Shutdown] before
// the process exits, or buffered spans are lost.
type Telemetry struct {
	tp       *sdktrace.TracerProvider
	mp       *sdkmetric.MeterProvider
	acc      *export.Account // of the spans
	pipeline *pipeline.Pipeline
	logs     *logPipeline // the LoggerProvider; see logs_setup.go
	prom     *promServer  // the Prometheus endpoint, or nil
	audit    *auditTrail  // see audit.go

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
//     them to a collector. Metrics and logs go to the same collector, with
//     their OTEL_EXPORTER_OTLP_METRICS_* and OTEL_EXPORTER_OTLP_LOGS_* forms.
//   - Metrics: OTEL_METRICS_EXPORTER=prometheus (or otlp,prometheus, with
//     the OTLP export) serves them on http://HOST:PORT/metrics, from
//     OTEL_EXPORTER_PROMETHEUS_HOST (default localhost) and
//     OTEL_EXPORTER_PROMETHEUS_PORT (default 9464; 0 takes a free port, see
//     [Telemetry.PrometheusAddr]). An address that cannot be listened on
//     is an error of Setup naming it.
//   - Export queue: [DefaultQueueSize] spans and [DefaultQueueBytes], sent
//     in batches of [DefaultBatchSize], at least every second; spans that
//     find the queue full are dropped and counted (see
//     [WithQueueFullPolicy]).
//
// Setup reads the environment once, and checks every variable crstel or
// the OpenTelemetry SDK and exporters read before any SDK code sees it.
// An invalid configuration — a value the SDK would log, ignore or fall back
// from, a number out of its range (see the README's configuration table) —
// is one error naming every bad variable or option and what it takes;
// Setup then installs nothing, leaves no goroutine or connection behind,
// and shuts down what the options handed to it (exporters, span
// processors, a metric reader), since it took ownership of them. Header
// values and credentials never appear in errors or output. Setup never
// panics or exits.
func Setup(ctx context.Context, opts ...Option) (*Telemetry, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	// First what can be wrong without making anything.
	env, envErr := envconfig.Read(nil)
	cfg := config{logger: slog.Default()}
	for _, o := range opts {
		if o != nil {
			o.apply(&cfg)
		}
	}
	if cfg.logger == nil {
		cfg.logger = slog.Default()
	}
	budgets, budgetErr := pipeline.MergeBudgets(defaultBudgets, budgetKeys(), env.Overdue, cfg.budgets)
	prices, pricesErr := loadPrices(env.LLMPrices) // checked by envconfig.Read
	err := errors.Join(envErr, cfg.validate(), budgetErr, pricesErr)
	var res *resource.Resource
	if err == nil {
		res, err = newResource(ctx, cfg, env)
	}
	if err != nil {
		return nil, errors.Join(err, cfg.shutdownGiven(ctx))
	}

	// Then the exporters, the only parts that can fail to be made.
	exp, spanEndpoint, spanErr := newExporter(ctx, cfg, env)
	reader, metricErr := newMetricReader(ctx, cfg, env)
	var prom *promServer
	var promLn net.Listener
	if env.Prometheus && metricErr == nil {
		prom, promLn, metricErr = newPromServer(env)
	}
	logExp, logEndpoint, logErr := newLogExporter(ctx, cfg, env)
	if err := errors.Join(spanErr, metricErr, logErr); err != nil {
		cfg.exporter, cfg.metricReader, cfg.logs.exporter = exp, reader, logExp // made or given
		if prom != nil {
			err = errors.Join(err, promLn.Close(), prom.reader.Shutdown(ctx))
		}
		return nil, errors.Join(err, cfg.shutdownGiven(ctx))
	}

	// Then the rest, which cannot fail.
	if prices != nil {
		genai.SetPrices(prices)
	}
	tpOpts := []sdktrace.TracerProviderOption{
		sdktrace.WithResource(res),
		sdktrace.WithSpanProcessor(NewSpanProcessor()),
	}
	for _, p := range cfg.processors {
		tpOpts = append(tpOpts, sdktrace.WithSpanProcessor(p))
	}
	acc := export.NewAccount("spans", "(none)", nil, nil) // no exporter: nothing queued, nothing lost
	if exp != nil {
		queue := cmp.Or(env.BSP.QueueSize, DefaultQueueSize)
		if cfg.queueSizeSet {
			queue = cfg.queueSize
		}
		batch := cmp.Or(env.BSP.BatchSize, DefaultBatchSize)
		if cfg.batchSizeSet {
			batch = cfg.batchSize
		}
		batch = min(batch, queue)
		bspOpts := []sdktrace.BatchSpanProcessorOption{
			sdktrace.WithBatchTimeout(cmp.Or(env.BSP.ScheduleDelay, batchTimeout)),
			sdktrace.WithMaxQueueSize(queue),
			sdktrace.WithMaxExportBatchSize(batch),
			// Room for the exporter's retries through an outage, and more.
			sdktrace.WithExportTimeout(cmp.Or(env.BSP.ExportTimeout, otlp.NewTarget(cfg.otlpOptions(), env.Traces).Timeout()+20*time.Second)),
		}
		block := queueBlocks(cfg, env)
		if block {
			bspOpts = append(bspOpts, sdktrace.WithBlocking())
		}
		acc = export.NewAccount("spans", spanEndpoint, secrets(cfg, env), export.NewQueue(queue, queueBytes(cfg, env), block))
		bsp := sdktrace.NewBatchSpanProcessor(export.NewSpanExporter(exp, acc), bspOpts...)
		tpOpts = append(tpOpts, sdktrace.WithSpanProcessor(export.NewSpanProcessor(bsp, acc)))
	}
	tp := sdktrace.NewTracerProvider(tpOpts...)

	journalDir := ""
	if dir := cmp.Or(cfg.traceDir, env.TraceDir); !cfg.noJournal && dir != envconfig.TraceDirOff {
		journalDir = cmp.Or(dir, journal.DefaultDir())
	}
	logs := newLogPipeline(cfg, env, res, logExp, logEndpoint)
	pcfg := pipeline.Config{
		Budgets: budgets,
		Watchdog: watchdog.Config{
			Interval: cmp.Or(cfg.watchdogInterval, DefaultWatchdogInterval),
			Tracer:   tp.Tracer(ScopeName + "/watchdog"),
			Logger:   cfg.logger,
			OnReport: func(r watchdog.Report) {
				if cfg.onReport != nil {
					cfg.onReport(publicReport(r))
				}
			},
			Lifecycle: lifecycleSettings(cfg, env),
		},
		JournalDir: journalDir,
		Service:    serviceName(res),
		Logger:     cfg.logger,
	}
	if logs.acc != nil { // log records are exported
		pcfg.Lifecycle = logs.provider.Logger(ScopeName + "/lifecycle")
	}
	readers := []sdkmetric.Reader{reader}
	if prom != nil {
		readers = append(readers, prom.reader)
	}
	mp := newMeterProvider(res, readers...)
	durations, durErr := newDurationRecorder(mp.Meter(ScopeName))
	if durErr == nil {
		pcfg.OnEnd = durations.record
	}
	p := pipeline.New(pcfg)
	t := &Telemetry{tp: tp, mp: mp, acc: acc, pipeline: p, logs: logs}
	t.audit = newAuditTrail(auditDir(cfg, env), serviceName(res), nil)
	if logs.acc != nil { // log records are exported
		t.audit.logger = logs.provider.Logger(ScopeName + "/audit")
	}
	if err := errors.Join(durErr, registerMetrics(t.mp.Meter(ScopeName), t)); err != nil {
		if prom != nil {
			err = errors.Join(err, promLn.Close())
		}
		return nil, errors.Join(fmt.Errorf("crstel: registering metrics: %w", err), t.Shutdown(ctx))
	}
	if prom != nil {
		prom.start(promLn)
		t.prom = prom
	}

	// Only now, with nothing left to fail, the globals.
	if cfg.strictSet {
		violation.SetStrict(cfg.strict)
	} else if env.StrictSet {
		violation.SetStrict(env.Strict)
	}
	pipeline.Register(tp, p)
	auditTrails.Store(tp, t.audit)
	installWatch.Do(func() { actionref.SetWatch(pipeline.Watch) })
	otel.SetTracerProvider(tp)
	otel.SetMeterProvider(t.mp)
	otel.SetLoggerProvider(t.logs.provider)
	otel.SetTextMapPropagator(textMapPropagator(env, cfg.logger))
	return t, nil
}

// shutdownGiven shuts down what the options handed to Setup (exporters,
// span processors, the metric reader), for a Setup that fails: it took
// ownership of them.
func (c *config) shutdownGiven(ctx context.Context) error {
	var errs []error
	if c.exporter != nil {
		errs = append(errs, c.exporter.Shutdown(ctx))
	}
	if c.logs.exporter != nil {
		errs = append(errs, c.logs.exporter.Shutdown(ctx))
	}
	if c.metricReader != nil {
		errs = append(errs, c.metricReader.Shutdown(ctx))
	}
	for _, p := range c.processors {
		errs = append(errs, p.Shutdown(ctx))
	}
	return errors.Join(errs...)
}

// textMapPropagator returns the propagator OTEL_PROPAGATORS names, or W3C
// Trace Context and Baggage when it is unset. It warns when the variable
// leaves out baggage, which carries the task metadata between processes.
func textMapPropagator(env envconfig.Config, logger *slog.Logger) propagation.TextMapPropagator {
	if env.Propagators == nil {
		return propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
	}
	if env.NoBaggage {
		logger.Warn("crstel: " + envconfig.Propagators + " leaves out baggage: task metadata will not reach other processes")
	}
	p, err := autoprop.TextMapPropagator(env.Propagators...)
	if err != nil {
		// envconfig checked the names against autoprop's: not reached.
		otel.Handle(fmt.Errorf("crstel: %s: %w", envconfig.Propagators, err))
		return propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
	}
	return p
}

// queueBlocks reports whether the export queues block when full
// (QueueBlock), rather than drop.
func queueBlocks(cfg config, env envconfig.Config) bool {
	if cfg.queueFullSet {
		return cfg.queueFull == QueueBlock
	}
	return env.QueueFull == "block"
}

// queueBytes returns the bound of each export queue in bytes.
func queueBytes(cfg config, env envconfig.Config) int64 {
	if cfg.queueBytesSet {
		return cfg.queueBytes
	}
	return cmp.Or(env.QueueBytes, DefaultQueueBytes)
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

// auditDir returns the directory of the audit trail's files, "" if they
// are off.
func auditDir(cfg config, env envconfig.Config) string {
	dir := cmp.Or(cfg.auditDir, env.AuditDir)
	if dir == envconfig.AuditDirOff {
		return ""
	}
	return cmp.Or(dir, audit.DefaultDir())
}

// serviceName returns the service.name of res.
func serviceName(res *resource.Resource) string {
	v, _ := res.Set().Value(crs.ServiceNameKey)
	return v.AsString()
}

// validate checks the options: every problem, joined, each naming the
// option, and never a header value.
func (c *config) validate() error {
	errs := append(slices.Clone(c.optErrs), c.lifecycle.validate()...)
	bad := func(option string, value any, err error) {
		if err != nil {
			errs = append(errs, fmt.Errorf("crstel: %s(%v): %w", option, value, err))
		}
	}
	if c.queueSizeSet {
		bad("WithQueueSize", c.queueSize, envconfig.QueueSizeRange.Check(int64(c.queueSize)))
	}
	if c.queueBytesSet {
		bad("WithQueueBytes", c.queueBytes, envconfig.QueueBytesRange.Check(c.queueBytes))
	}
	if c.batchSizeSet {
		bad("WithBatchSize", c.batchSize, envconfig.QueueSizeRange.Check(int64(c.batchSize)))
	}
	if c.watchdogIntervalSet {
		bad("WithWatchdogInterval", c.watchdogInterval, envconfig.WatchdogIntervalRange.Check(c.watchdogInterval))
	}
	for _, k := range slices.Sorted(maps.Keys(c.budgets)) {
		if d := c.budgets[k]; d != 0 {
			bad("WithBudgets", fmt.Sprintf("%s=%v", k, d), envconfig.BudgetRange.Check(d))
		}
	}
	if c.queueFull != QueueDrop && c.queueFull != QueueBlock {
		errs = append(errs, fmt.Errorf("crstel: WithQueueFullPolicy(%d): want QueueDrop or QueueBlock", c.queueFull))
	}
	if c.serviceName != "" && strings.TrimSpace(c.serviceName) == "" {
		errs = append(errs, fmt.Errorf("crstel: WithServiceName(%q): want a non-blank name", c.serviceName))
	}
	if c.endpoint != "" {
		u := otlp.EndpointURL(c.endpoint)
		if err := envconfig.CheckEndpoint(u); err != nil {
			errs = append(errs, fmt.Errorf("crstel: WithEndpoint(%q): %w", envconfig.RedactEndpoint(c.endpoint), err))
		} else if c.insecure && strings.Contains(strings.ToLower(c.endpoint), "https://") {
			errs = append(errs, fmt.Errorf("crstel: WithInsecure contradicts WithEndpoint(%q): use http:// for plain text, or drop WithInsecure",
				envconfig.RedactEndpoint(c.endpoint)))
		}
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
		// OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME, as parsed and
		// checked by envconfig: the SDK's detector would report a bad value
		// through otel.Handle and carry on.
		resource.WithAttributes(env.Resource...),
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
		(c.endpoint != "" || env.TracesExporter == "otlp" || env.Traces.Endpoint != "" && env.TracesExporter == "")
}

// newExporter returns the configured exporter, or nil for "none", and
// where it sends, for messages.
func newExporter(ctx context.Context, cfg config, env envconfig.Config) (sdktrace.SpanExporter, string, error) {
	switch {
	case cfg.exporter != nil:
		return cfg.exporter, fmt.Sprintf("the exporter %T", cfg.exporter), nil
	case cfg.console != nil:
		return console.New(cfg.console), "the console", nil
	case cfg.otlp(env):
		t := otlp.NewTarget(cfg.otlpOptions(), env.Traces)
		exp, err := otlp.NewSpanExporter(ctx, t)
		return exp, t.Display(), err
	case env.TracesExporter == "none":
		return nil, "", nil
	case env.TracesExporter == "console":
		return console.New(os.Stderr), "the console", nil
	}
	cfg.logger.Warn("crstel: no OTLP endpoint configured, printing spans to stderr; " +
		"set OTEL_EXPORTER_OTLP_ENDPOINT=http://HOST:4317 (and OTEL_EXPORTER_OTLP_HEADERS for credentials) " +
		"to send them to a collector, or OTEL_TRACES_EXPORTER=none to discard them")
	return console.New(os.Stderr), "the console", nil
}

// otlpOptions returns the options that override the environment for the
// OTLP exporters.
func (c *config) otlpOptions() otlp.Options {
	return otlp.Options{Endpoint: c.endpoint, Insecure: c.insecure, Headers: c.headers, Outage: DefaultOutage}
}

// TracerProvider returns the provider Setup installed.
func (t *Telemetry) TracerProvider() *sdktrace.TracerProvider { return t.tp }

// MeterProvider returns the meter provider Setup installed as the global
// one: crstel's own metrics, and any other instrumentation's (such as the
// GenAI metrics), go through it.
func (t *Telemetry) MeterProvider() *sdkmetric.MeterProvider { return t.mp }

// Stats returns what happened to the spans ended so far.
func (t *Telemetry) Stats() Stats { return statsOf(t.acc.Counts()) }

// ForceFlush exports every ended span now and waits until it is done or ctx
// ends. It returns an error if spans were lost so far, with their number.
// (Export failures reach otel.Handle as they happen; the total is reported
// there by Shutdown.)
func (t *Telemetry) ForceFlush(ctx context.Context) error {
	err := t.tp.ForceFlush(ctx)
	return errors.Join(err, t.logs.forceFlush(ctx), t.acc.LossError())
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
		errs := []error{p.Shutdown(ctx), export.ShutdownWithin(ctx, t.tp.Shutdown)}
		// The audit trail after the spans, whose submissions it records,
		// and before the log records, which carry it too.
		auditTrails.Delete(t.tp)
		errs = append(errs, t.audit.close())
		t.acc.Seal()
		errs = append(errs, t.logs.shutdown(ctx))
		pipeline.Unregister(t.tp)
		lost := t.acc.LossError()
		if lost != nil {
			otel.Handle(lost)
		}
		errs = append(errs, lost)
		errs = append(errs, p.Close(ctx))
		if t.prom != nil {
			// First the endpoint, so that no scrape meets a reader shut down.
			errs = append(errs, t.prom.shutdown(ctx))
		}
		if t.mp != nil {
			errs = append(errs, export.ShutdownWithin(ctx, t.mp.Shutdown))
		}
		t.shutdownErr = errors.Join(errs...)
	})
	return t.shutdownErr
}

// batchTimeout is the longest an ended span waits in the queue.
const batchTimeout = time.Second

// JournalPath returns the path of this process's action journal, which
// "crstel trace anomalies" reads, or "" if the journal is off.
func (t *Telemetry) JournalPath() string { return t.pipeline.JournalPath() }

// loadPrices reads the price table file of CRSTEL_LLM_PRICES, if it names
// one.
func loadPrices(path string) (*genai.Prices, error) {
	if path == "" {
		return nil, nil
	}
	p, err := genai.LoadPrices(path)
	if err != nil {
		return nil, fmt.Errorf("crstel: %s: %w", envconfig.LLMPrices, err) // changed since it was checked
	}
	return p, nil
}
