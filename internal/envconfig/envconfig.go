// Package envconfig reads the environment variables crstel acts on: its own
// CRSTEL_* variables, and every OTEL_* variable that the OpenTelemetry SDK
// and exporters crstel uses read (traces, metrics, logs, resource, sampler,
// limits, batching). It is the one place where they are parsed and
// validated, with the SDK's grammar or a stricter one: a value that would
// make an SDK parser log (possibly with the value, say a header's secret) or
// silently ignore it is an error here first, so that [Read] returns before
// any SDK code sees it.
//
// [Vars] lists every variable with what it takes; every error names the
// variable, and its value unless the value may hold a credential (headers;
// endpoints are shown without user info or query).
package envconfig

import (
	"crypto/tls"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
)

// Lookup is the signature of os.LookupEnv; tests pass their own.
type Lookup func(string) (string, bool)

// Config is what the environment says. Zero values mean "not set".
type Config struct {
	// Strict is CRSTEL_STRICT; StrictSet tells whether it was set.
	Strict, StrictSet bool
	// QueueFull is CRSTEL_QUEUE_FULL: "block" or "drop", or "".
	QueueFull string
	// QueueBytes is CRSTEL_QUEUE_BYTES, the bound of the export queue in
	// bytes; 0 if unset.
	QueueBytes int64
	// TraceDir is CRSTEL_TRACE_DIR: the directory of the trace journals,
	// "off", or "" for the default.
	TraceDir string
	// AuditDir is CRSTEL_AUDIT_DIR: the directory of the audit trail,
	// "off", or "" for the default.
	AuditDir string
	// LLMPrices is CRSTEL_LLM_PRICES, the path of a price table file.
	LLMPrices string
	// Overdue is CRSTEL_OVERDUE ("llm=10m,building=30m,fuzzing=0"): the
	// watchdog's budgets by category, "llm" or "default"; nil if unset.
	Overdue map[string]time.Duration
	// Heartbeat is CRSTEL_HEARTBEAT: the interval, and initial delay, of
	// the lifecycle records of open actions; 0 if unset or "off".
	// HeartbeatOff tells that it is "off".
	Heartbeat    time.Duration
	HeartbeatOff bool
	// HeartbeatMax is CRSTEL_HEARTBEAT_MAX, the most open actions with
	// lifecycle heartbeats; 0 if unset.
	HeartbeatMax int

	// ServiceName is OTEL_SERVICE_NAME.
	ServiceName string
	// Resource holds the attributes of OTEL_RESOURCE_ATTRIBUTES, in order,
	// then service.name from OTEL_SERVICE_NAME: what the SDK's environment
	// resource detector would find. Nil if neither is set.
	Resource []attribute.KeyValue
	// Propagators are the propagators OTEL_PROPAGATORS names, lower-case
	// ("tracecontext", "baggage", "b3"; "none" for none), each one of
	// PropagatorNames; nil if unset. NoBaggage tells that it is set and
	// leaves out baggage, so that task metadata does not cross process
	// boundaries.
	Propagators []string
	NoBaggage   bool
	// TracesExporter is OTEL_TRACES_EXPORTER: "otlp", "console", "none", or "".
	TracesExporter string
	// MetricsExporter is OTEL_METRICS_EXPORTER's OTLP part, and
	// LogsExporter is OTEL_LOGS_EXPORTER: "otlp", "none", or "" (unset).
	// OTEL_METRICS_EXPORTER=prometheus makes MetricsExporter "none" and
	// Prometheus true; "otlp,prometheus" makes it "otlp" and Prometheus
	// true.
	MetricsExporter, LogsExporter string
	// Prometheus tells that OTEL_METRICS_EXPORTER names prometheus: metrics
	// are served on PrometheusHost:PrometheusPort.
	Prometheus bool
	// PrometheusHost is OTEL_EXPORTER_PROMETHEUS_HOST, "" if unset.
	PrometheusHost string
	// PrometheusPort is OTEL_EXPORTER_PROMETHEUS_PORT (0 asks for a free
	// port), and PrometheusPortSet tells that it is set.
	PrometheusPort    int
	PrometheusPortSet bool

	// Traces, Metrics and Logs are the OTLP exporters' settings, each
	// resolved from the signal-specific variable, else the general one.
	// Metrics and logs whose endpoint falls back to the spans' take the
	// other traces-specific settings too (headers, TLS, compression,
	// timeout), so that they go where the spans go, the same way.
	Traces, Metrics, Logs OTLP

	// BSP is the batch span processor's OTEL_BSP_* settings.
	BSP Batch
	// BLRP is the batch log record processor's OTEL_BLRP_* settings.
	BLRP Batch

	// Secrets are the header values of every OTEL_EXPORTER_OTLP_*HEADERS
	// variable, raw and URL-decoded, for scrubbing from messages.
	Secrets []string
}

// OTLP is the configuration of one signal's OTLP/gRPC exporter. Zero
// values mean "not set".
type OTLP struct {
	// Endpoint is the endpoint's URL: http://host:port for plain text,
	// https://host:port for TLS. "" means the exporter's default,
	// localhost:4317.
	Endpoint string
	// EndpointVar is the variable Endpoint comes from, for messages.
	EndpointVar string
	// Insecure is OTEL_EXPORTER_OTLP_INSECURE or its signal's form: true
	// asks for plain text. It agrees with Endpoint's scheme when both are
	// set (Read reports a contradiction), so it matters only for the
	// default endpoint.
	Insecure bool
	// TLS holds the CA certificates of the CERTIFICATE variable and the
	// client certificate of the CLIENT_CERTIFICATE and CLIENT_KEY ones;
	// nil if none is set.
	TLS *tls.Config
	// Headers are the gRPC metadata of the HEADERS variable, URL-decoded;
	// nil if unset.
	Headers map[string]string
	// Compression is "gzip", "none", or "" if unset.
	Compression string
	// Timeout bounds an export with its retries; 0 if unset.
	Timeout time.Duration
}

// Batch is the configuration of a batch processor. Zero values mean "not
// set".
type Batch struct {
	// QueueSize is the MAX_QUEUE_SIZE variable, and BatchSize the
	// MAX_EXPORT_BATCH_SIZE one (not capped to QueueSize here).
	QueueSize, BatchSize int
	// ScheduleDelay is the SCHEDULE_DELAY variable, and ExportTimeout the
	// EXPORT_TIMEOUT one.
	ScheduleDelay, ExportTimeout time.Duration
}

// Read reads the environment through lookup (os.LookupEnv if nil). It
// returns every problem it finds joined in one error, each naming the
// variable, and the Config with the valid parts. An empty value is unset,
// and so is a blank one, except for the variables the SDK reads without
// trimming spaces ([Var.Raw]).
func Read(lookup Lookup) (Config, error) { return read(lookup, nil) }

// ReadVars reads only the variables named, as Read does, for a package
// that needs one setting (strict mode, the journal folder) and not the
// checks of the exporters' files and endpoints.
func ReadVars(lookup Lookup, names ...string) (Config, error) { return read(lookup, names) }

// read reads the variables named, or all of them if names is nil.
func read(lookup Lookup, names []string) (Config, error) {
	if lookup == nil {
		lookup = os.LookupEnv
	}
	r := &reader{set: make(map[string]bool)}
	var errs []string
	for _, v := range Vars {
		if names != nil && !slices.Contains(names, v.Name) {
			continue
		}
		raw, ok := lookup(v.Name)
		if !ok || raw == "" {
			continue
		}
		val := strings.TrimSpace(raw)
		if v.Raw && val != raw {
			errs = append(errs, v.problem(raw, "surrounding spaces: the OpenTelemetry SDK reads this variable as it is and would ignore the value; remove them"))
			continue
		}
		if val == "" {
			continue
		}
		r.set[v.Name] = true
		if err := v.parse(r, val); err != nil {
			errs = append(errs, v.problem(val, err.Error()))
		}
	}
	// A contradiction may concern traces, metrics and logs alike: once.
	var resolved []string
	if names == nil {
		resolved = r.resolve()
	}
	for _, e := range resolved {
		if !slices.Contains(errs, e) {
			errs = append(errs, e)
		}
	}
	if len(errs) > 0 {
		return r.c, fmt.Errorf("crstel: invalid environment: %s", strings.Join(errs, "; "))
	}
	return r.c, nil
}

// problem formats what is wrong with a value of v.
func (v Var) problem(value, what string) string { return v.show(value) + ": " + what }

// show returns NAME="value", with the value unless it may hold a
// credential: a header's is left out, an endpoint's user info and query
// removed.
func (v Var) show(value string) string {
	switch {
	case v.Secret:
		return v.Name
	case v.redact:
		return v.Name + "=" + strconv.Quote(RedactEndpoint(value))
	default:
		return v.Name + "=" + strconv.Quote(value)
	}
}
