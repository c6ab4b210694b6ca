package crstel

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"
	"unicode"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/crstel/crstel/internal/envconfig"
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
	// meanwhile wait in the queue. OTEL_EXPORTER_OTLP_TIMEOUT (or
	// OTEL_EXPORTER_OTLP_TRACES_TIMEOUT), which bounds an export with its
	// retries, replaces it, shorter or longer (1 ms to 1 h);
	// OTEL_BSP_EXPORT_TIMEOUT bounds an export too, and so can only shorten
	// it.
	DefaultOutage = 2 * time.Minute
)

type config struct {
	serviceName string
	endpoint    string
	insecure    bool
	headers     map[string]string
	exporter    sdktrace.SpanExporter
	console     io.Writer
	queueSize   int
	queueBytes  int64
	batchSize   int
	// Which of queueSize, queueBytes, batchSize and watchdogInterval an
	// option set: outside its range, even 0 is an error.
	queueSizeSet, queueBytesSet, batchSizeSet, watchdogIntervalSet bool
	// optErrs are the problems found as options were applied, such as a
	// header gRPC would refuse.
	optErrs       []error
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
	auditDir         string
	metricReader     sdkmetric.Reader
	logs             logsConfig      // see logs_setup.go
	lifecycle        lifecycleConfig // see lifecycle.go
}

// WithServiceName sets the resource attribute service.name, the name of the
// CRS component. It overrides OTEL_SERVICE_NAME and service.name in
// OTEL_RESOURCE_ATTRIBUTES. The default is the executable's name.
func WithServiceName(name string) Option {
	return optionFunc(func(c *config) { c.serviceName = name })
}

// WithResourceAttributes adds attributes to the resource. They override
// OTEL_RESOURCE_ATTRIBUTES and the detected process and host attributes.
// The default is none.
func WithResourceAttributes(kvs ...attribute.KeyValue) Option {
	return optionFunc(func(c *config) { c.resourceAttrs = append(c.resourceAttrs, kvs...) })
}

// WithEndpoint sets the OTLP gRPC endpoint of the collector for spans,
// metrics and logs: "host:port" (TLS) or a URL, where "http://host:port"
// means no TLS and "https://host:port" TLS; a URL has no user info, query
// or path. It overrides OTEL_EXPORTER_OTLP_ENDPOINT and its signal forms
// (OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, ...). With no endpoint configured
// anywhere (and OTEL_TRACES_EXPORTER unset), spans are printed to stderr
// instead. An invalid endpoint makes Setup fail.
func WithEndpoint(endpoint string) Option {
	return optionFunc(func(c *config) { c.endpoint = endpoint })
}

// WithInsecure turns TLS off for a "host:port" endpoint. It overrides
// OTEL_EXPORTER_OTLP_INSECURE and the certificate variables; with an
// https:// [WithEndpoint] it is an error. The default is TLS unless the
// endpoint is an http:// URL.
func WithInsecure() Option {
	return optionFunc(func(c *config) { c.insecure = true })
}

// WithHeaders sets the gRPC metadata sent with every export of spans,
// metrics and logs, such as an API key. It replaces
// OTEL_EXPORTER_OTLP_HEADERS and its signal forms; entries are added to
// those of earlier WithHeaders and [WithBasicAuth] options. A key is ASCII
// letters, digits, '-', '_' and '.', not one gRPC reserves (content-type,
// te, grpc-*, ...); a value is printable ASCII, without CR, LF or other
// control bytes, which gRPC refuses. Otherwise Setup fails, with an error
// that names the key, never the value. Header values never appear in
// crstel's errors or output. The default is none.
func WithHeaders(headers map[string]string) Option {
	return optionFunc(func(c *config) { c.addHeaders("WithHeaders", headers) })
}

// WithBasicAuth sends "Authorization: Basic base64(user:password)" with every
// export, as a collector with the basicauth extension expects. It is
// equivalent to OTEL_EXPORTER_OTLP_HEADERS="Authorization=Basic%20<base64>",
// and replaces that variable like [WithHeaders]. A user name with ':', or a
// user name or password with control bytes (RFC 7617) makes Setup fail.
// The password never appears in crstel's errors or output.
func WithBasicAuth(user, password string) Option {
	return optionFunc(func(c *config) {
		switch {
		case strings.Contains(user, ":"):
			c.optErrs = append(c.optErrs, errors.New("crstel: WithBasicAuth: the user name contains ':', which ends it in Basic authentication"))
			return
		case strings.ContainsFunc(user+password, unicode.IsControl):
			c.optErrs = append(c.optErrs, errors.New("crstel: WithBasicAuth: the user name or the password contains a control character (RFC 7617)"))
			return
		}
		token := base64.StdEncoding.EncodeToString([]byte(user + ":" + password))
		c.addHeaders("WithBasicAuth", map[string]string{"Authorization": "Basic " + token})
	})
}

// addHeaders adds headers to c's, and a problem for each one gRPC would
// refuse, naming option and the key, never the value.
func (c *config) addHeaders(option string, headers map[string]string) {
	if c.headers == nil {
		c.headers = make(map[string]string, len(headers))
	}
	for _, k := range slices.Sorted(maps.Keys(headers)) {
		if err := envconfig.CheckHeader(k, headers[k]); err != nil {
			c.optErrs = append(c.optErrs, fmt.Errorf("crstel: %s: %w", option, err))
			continue
		}
		c.headers[k] = headers[k]
	}
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

// WithQueueSize sets how many ended spans are buffered for export, from 1
// to 4,194,304 (the queue is allocated up front, 16 bytes a span). It
// overrides OTEL_BSP_MAX_QUEUE_SIZE. The default is [DefaultQueueSize].
func WithQueueSize(spans int) Option {
	return optionFunc(func(c *config) { c.queueSize, c.queueSizeSet = spans, true })
}

// WithQueueBytes bounds the estimated memory, in bytes, of the ended spans
// buffered for export. A span's estimate is a fixed 512 bytes plus its
// name, attribute keys and values, events and links. It overrides
// CRSTEL_QUEUE_BYTES. The default is [DefaultQueueBytes]. A span that
// would pass the bound is handled like one that finds the queue full (see
// [WithQueueFullPolicy]); an empty queue takes a span of any size. The
// bound is from 64 KiB to 64 GiB.
func WithQueueBytes(bytes int64) Option {
	return optionFunc(func(c *config) { c.queueBytes, c.queueBytesSet = bytes, true })
}

// WithBatchSize sets the largest number of spans sent in one export
// request, from 1 to 4,194,304; a batch larger than the queue is cut to the
// queue's size. It overrides OTEL_BSP_MAX_EXPORT_BATCH_SIZE. The default is
// [DefaultBatchSize].
func WithBatchSize(spans int) Option {
	return optionFunc(func(c *config) { c.batchSize, c.batchSizeSet = spans, true })
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

// WithBudgets overrides budgets of [DefaultBudgets], by category,
// "llm" or "default": from 1 ms to 365 days, or 0 for no budget. It
// overrides CRSTEL_OVERDUE, which overrides the defaults, key by key. An
// unknown key or a budget out of range makes Setup fail.
func WithBudgets(budgets map[string]time.Duration) Option {
	return optionFunc(func(c *config) {
		if c.budgets == nil {
			c.budgets = make(map[string]time.Duration, len(budgets))
		}
		maps.Copy(c.budgets, budgets)
	})
}

// WithWatchdogInterval sets how often the watchdog checks for overdue and
// stalled actions, from 1 ms to an hour; an action is reported at most this
// long after it is due. There is no variable for it. The default is
// [DefaultWatchdogInterval].
func WithWatchdogInterval(d time.Duration) Option {
	return optionFunc(func(c *config) { c.watchdogInterval, c.watchdogIntervalSet = d, true })
}

// WithOnReport calls f with every watchdog report, on the watchdog's
// goroutine (an [OverBudget] report, on the goroutine whose cost crossed
// the budget), after the report span, the log record and the journal
// record are made. f must not block for long, and may be called from
// several goroutines at once. A nil f is ignored.
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

// WithAuditDir sets the folder of the audit trail's files, which
// "crstel audit verify" checks (see [Audit]). It overrides CRSTEL_AUDIT_DIR;
// "off" turns the files off (records still go to the OTLP log records, if
// those are exported). The default is audit beside the journals' default
// folder ($XDG_STATE_HOME/crstel/audit or ~/.local/state/crstel/audit). The
// files are made at the first record.
func WithAuditDir(dir string) Option {
	return optionFunc(func(c *config) { c.auditDir = dir })
}

// WithMetricReader makes Setup's meter provider use r, such as a
// sdkmetric.ManualReader in tests, instead of the OTLP gRPC metric exporter
// it otherwise configures from the same settings as the span exporter.
// The Prometheus endpoint of OTEL_METRICS_EXPORTER=prometheus is served
// beside it. A nil r is ignored.
func WithMetricReader(r sdkmetric.Reader) Option {
	return optionFunc(func(c *config) {
		if r != nil {
			c.metricReader = r
		}
	})
}
