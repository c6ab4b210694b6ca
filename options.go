package crstel

import (
	"encoding/base64"
	"io"
	"log/slog"
	"maps"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// Option configures [Setup]. Options override the standard OTEL_* and
// crstel's CRSTEL_* environment variables, which override the defaults.
type Option interface{ apply(*config) }

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

// QueueFullPolicy says what happens to an ended span when the export queue
// is full.
type QueueFullPolicy int

const (
	// QueueDrop drops the span and counts it: the caller is never blocked.
	// Dropped spans are reported through otel.Handle and by
	// [Telemetry.Shutdown], and counted in [Stats]. It is the default.
	QueueDrop QueueFullPolicy = iota
	// QueueBlock makes span.End wait until the queue has room: nothing is
	// dropped, but a collector that does not keep up slows the caller down.
	QueueBlock
)

// Defaults of the export pipeline.
const (
	// DefaultQueueSize is the number of ended spans buffered for export.
	// It holds a burst of 200,000 spans made as fast as one goroutine can
	// while the exporter drains the queue; the OpenTelemetry SDK's default
	// of 2048 loses most of such a burst.
	DefaultQueueSize = 1 << 18
	// DefaultQueueBytes bounds the estimated memory of the spans buffered
	// for export: 256 MiB. A typical action takes about 1 KB, so the span
	// bound comes first; spans with large captured content (LLM prompts
	// and completions) meet this one.
	DefaultQueueBytes = 256 << 20
	// DefaultBatchSize is the largest number of spans sent in one export
	// request.
	DefaultBatchSize = 2048
	// DefaultOutage is how long an export is retried while the collector
	// is unreachable before its spans count as failed. Spans that end
	// meanwhile wait in the queue. OTEL_EXPORTER_OTLP_TIMEOUT, which bounds
	// an export with its retries, overrides it.
	DefaultOutage = 2 * time.Minute
)

type config struct {
	serviceName   string
	endpoint      string
	insecure      bool
	headers       map[string]string
	exporter      sdktrace.SpanExporter
	console       io.Writer
	queueSize     int
	queueBytes    int64
	batchSize     int
	queueFull     QueueFullPolicy
	queueFullSet  bool
	strict        bool
	strictSet     bool
	resourceAttrs []attribute.KeyValue
	processors    []sdktrace.SpanProcessor
	logger        *slog.Logger

	budgets          map[string]time.Duration
	watchdogInterval time.Duration
	onReport         func(Report)
	traceDir         string
	noJournal        bool
	metricReader     sdkmetric.Reader
	logs             logsConfig // see logs_setup.go
}

// WithServiceName sets the resource attribute service.name, the name of the
// CRS component. It overrides OTEL_SERVICE_NAME and service.name in
// OTEL_RESOURCE_ATTRIBUTES. The default is the executable's name.
func WithServiceName(name string) Option {
	return optionFunc(func(c *config) { c.serviceName = name })
}

// WithResourceAttributes adds attributes to the resource. They override
// OTEL_RESOURCE_ATTRIBUTES and the detected process and host attributes.
func WithResourceAttributes(kvs ...attribute.KeyValue) Option {
	return optionFunc(func(c *config) { c.resourceAttrs = append(c.resourceAttrs, kvs...) })
}

// WithEndpoint sets the OTLP gRPC endpoint of the collector: "host:port"
// (TLS) or a URL, where "http://host:port" means no TLS and
// "https://host:port" TLS. It overrides OTEL_EXPORTER_OTLP_ENDPOINT and
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT. With no endpoint configured anywhere
// (and OTEL_TRACES_EXPORTER unset), spans are printed to stderr instead.
func WithEndpoint(endpoint string) Option {
	return optionFunc(func(c *config) { c.endpoint = endpoint })
}

// WithInsecure turns TLS off for a "host:port" endpoint. It overrides
// OTEL_EXPORTER_OTLP_INSECURE. The default is TLS unless the endpoint is an
// http:// URL.
func WithInsecure() Option {
	return optionFunc(func(c *config) { c.insecure = true })
}

// WithHeaders sets the gRPC metadata sent with every export, such as an API
// key. It replaces OTEL_EXPORTER_OTLP_HEADERS; entries are added to those of
// earlier WithHeaders and [WithBasicAuth] options. Header values never
// appear in crstel's errors or output.
func WithHeaders(headers map[string]string) Option {
	return optionFunc(func(c *config) {
		if c.headers == nil {
			c.headers = make(map[string]string, len(headers))
		}
		maps.Copy(c.headers, headers)
	})
}

// WithBasicAuth sends "Authorization: Basic base64(user:password)" with every
// export, as a collector with the basicauth extension expects. It is
// equivalent to OTEL_EXPORTER_OTLP_HEADERS="Authorization=Basic <base64>",
// and replaces that variable like [WithHeaders]. The password never appears
// in crstel's errors or output.
func WithBasicAuth(user, password string) Option {
	token := base64.StdEncoding.EncodeToString([]byte(user + ":" + password))
	return WithHeaders(map[string]string{"Authorization": "Basic " + token})
}

// WithExporter sends spans to exp instead of the OTLP gRPC exporter, through
// the same batching, accounting and processors. Setup takes ownership of
// exp and shuts it down. It overrides OTEL_TRACES_EXPORTER.
func WithExporter(exp sdktrace.SpanExporter) Option {
	return optionFunc(func(c *config) { c.exporter = exp })
}

// WithConsole prints spans to w in crstel's human-readable form instead of
// exporting them, as OTEL_TRACES_EXPORTER=console does (that prints to
// stderr). It overrides OTEL_TRACES_EXPORTER.
func WithConsole(w io.Writer) Option {
	return optionFunc(func(c *config) { c.console = w })
}

// WithQueueSize sets how many ended spans are buffered for export. It
// overrides OTEL_BSP_MAX_QUEUE_SIZE. The default is [DefaultQueueSize].
func WithQueueSize(spans int) Option {
	return optionFunc(func(c *config) { c.queueSize = spans })
}

// WithQueueBytes bounds the estimated memory, in bytes, of the ended spans
// buffered for export. A span's estimate is a fixed 512 bytes plus its
// name, attribute keys and values, events and links. It overrides
// CRSTEL_QUEUE_BYTES. The default is [DefaultQueueBytes]. A span that
// would pass the bound is handled like one that finds the queue full (see
// [WithQueueFullPolicy]); an empty queue takes a span of any size.
func WithQueueBytes(bytes int64) Option {
	return optionFunc(func(c *config) { c.queueBytes = bytes })
}

// WithBatchSize sets the largest number of spans sent in one export request.
// It overrides OTEL_BSP_MAX_EXPORT_BATCH_SIZE. The default is
// [DefaultBatchSize].
func WithBatchSize(spans int) Option {
	return optionFunc(func(c *config) { c.batchSize = spans })
}

// WithQueueFullPolicy sets what happens to a span that ends while the export
// queue is full. It overrides CRSTEL_QUEUE_FULL ("drop" or "block"). The
// default is [QueueDrop].
func WithQueueFullPolicy(p QueueFullPolicy) Option {
	return optionFunc(func(c *config) { c.queueFull, c.queueFullSet = p, true })
}

// WithStrict makes invalid input panic instead of being repaired and
// reported, for tests. It overrides CRSTEL_STRICT. The default is off.
func WithStrict() Option {
	return optionFunc(func(c *config) { c.strict, c.strictSet = true, true })
}

// WithSpanProcessor adds a span processor to the provider, after crstel's
// own and before the exporting one. A nil processor is ignored.
func WithSpanProcessor(p sdktrace.SpanProcessor) Option {
	return optionFunc(func(c *config) {
		if p != nil {
			c.processors = append(c.processors, p)
		}
	})
}

// WithLogger sets the logger for crstel's warnings, such as the one saying
// that spans go to the console. The default is slog.Default().
func WithLogger(l *slog.Logger) Option {
	return optionFunc(func(c *config) { c.logger = l })
}

// WithOverdueBudgets overrides budgets of [DefaultBudgets], by category,
// "llm" or "default"; 0 means no budget. It overrides CRSTEL_OVERDUE, which
// overrides the defaults, key by key. An unknown key makes Setup fail.
func WithOverdueBudgets(budgets map[string]time.Duration) Option {
	return optionFunc(func(c *config) {
		if c.budgets == nil {
			c.budgets = make(map[string]time.Duration, len(budgets))
		}
		maps.Copy(c.budgets, budgets)
	})
}

// WithWatchdogInterval sets how often the watchdog checks for overdue and
// stalled actions; an action is reported at most this long after it is due.
// The default is [DefaultWatchdogInterval].
func WithWatchdogInterval(d time.Duration) Option {
	return optionFunc(func(c *config) { c.watchdogInterval = d })
}

// WithOnReport calls f with every watchdog report, on the watchdog's
// goroutine, after the report span, the log record and the journal record
// are made. f must not block for long. A nil f is ignored.
func WithOnReport(f func(Report)) Option {
	return optionFunc(func(c *config) {
		if f != nil {
			c.onReport = f
		}
	})
}

// WithTraceDir sets the folder of the action journals, which
// "crstel trace anomalies" reads. It overrides CRSTEL_TRACE_DIR. The default
// is a crstel folder under the user's state directory
// ($XDG_STATE_HOME/crstel/traces or ~/.local/state/crstel/traces).
func WithTraceDir(dir string) Option {
	return optionFunc(func(c *config) { c.traceDir = dir })
}

// WithoutJournal turns the action journal off; CRSTEL_TRACE_DIR=off does
// the same. The default is on.
func WithoutJournal() Option {
	return optionFunc(func(c *config) { c.noJournal = true })
}

// WithMetricReader makes Setup's meter provider use r, such as a
// sdkmetric.ManualReader in tests, instead of the OTLP gRPC metric exporter
// it otherwise configures from the same settings as the span exporter.
// A nil r is ignored.
func WithMetricReader(r sdkmetric.Reader) Option {
	return optionFunc(func(c *config) {
		if r != nil {
			c.metricReader = r
		}
	})
}
