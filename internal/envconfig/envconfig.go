// Package envconfig reads the environment variables crstel acts on: its own
// CRSTEL_* variables, and the standard OTEL_* ones that the OpenTelemetry
// exporters do not check themselves. It is the one place where they are
// parsed; every error names the variable and the value.
package envconfig

import (
	"fmt"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/contrib/propagators/autoprop"
	"go.opentelemetry.io/otel/propagation"

	"github.com/crstel/crstel/crs"
)

// Names of the variables read here.
const (
	Strict     = "CRSTEL_STRICT"
	QueueFull  = "CRSTEL_QUEUE_FULL"
	QueueBytes = "CRSTEL_QUEUE_BYTES"
	TraceDir   = "CRSTEL_TRACE_DIR"
	Overdue    = "CRSTEL_OVERDUE"

	ServiceName           = "OTEL_SERVICE_NAME"
	Propagators           = "OTEL_PROPAGATORS"
	TracesExporter        = "OTEL_TRACES_EXPORTER"
	MetricsExporter       = "OTEL_METRICS_EXPORTER"
	LogsExporter          = "OTEL_LOGS_EXPORTER"
	Protocol              = "OTEL_EXPORTER_OTLP_PROTOCOL"
	TracesProtocol        = "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"
	Endpoint              = "OTEL_EXPORTER_OTLP_ENDPOINT"
	TracesEndpoint        = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
	MetricsEndpoint       = "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"
	MetricsHeaders        = "OTEL_EXPORTER_OTLP_METRICS_HEADERS"
	Headers               = "OTEL_EXPORTER_OTLP_HEADERS"
	TracesHeaders         = "OTEL_EXPORTER_OTLP_TRACES_HEADERS"
	BSPMaxQueueSize       = "OTEL_BSP_MAX_QUEUE_SIZE"
	BSPMaxExportBatchSize = "OTEL_BSP_MAX_EXPORT_BATCH_SIZE"
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
	// TraceDir is CRSTEL_TRACE_DIR: the directory of the trace journals, or
	// "" for the default.
	TraceDir string
	// Overdue is CRSTEL_OVERDUE ("llm=10m,building=30m,fuzzing=0"): the
	// watchdog's budgets by category, "llm" or "default"; nil if unset.
	Overdue map[string]time.Duration
	// ServiceName is OTEL_SERVICE_NAME.
	ServiceName string
	// Propagator is the propagator OTEL_PROPAGATORS names
	// ("tracecontext,baggage,b3"; "none" for none), built by
	// go.opentelemetry.io/contrib/propagators/autoprop; nil if unset.
	// NoBaggage tells that it is set and leaves out baggage, so that task
	// metadata does not cross process boundaries.
	Propagator propagation.TextMapPropagator
	NoBaggage  bool
	// TracesExporter is OTEL_TRACES_EXPORTER: "otlp", "console", "none", or "".
	TracesExporter string
	// MetricsExporter is OTEL_METRICS_EXPORTER, and LogsExporter is
	// OTEL_LOGS_EXPORTER: "otlp", "none", or "".
	MetricsExporter, LogsExporter string
	// EndpointSet tells whether an OTLP traces endpoint is configured.
	EndpointSet bool
	// Endpoint is the OTLP traces endpoint as configured (for messages).
	Endpoint string
	// QueueSize and BatchSize are OTEL_BSP_MAX_QUEUE_SIZE and
	// OTEL_BSP_MAX_EXPORT_BATCH_SIZE; 0 if unset.
	QueueSize, BatchSize int
	// TracesOnlyEndpoint and TracesOnlyHeaders are the traces-specific
	// endpoint and headers when no general or metrics-specific ones are set,
	// so that metrics can go where the spans go.
	TracesOnlyEndpoint string
	TracesOnlyHeaders  map[string]string
	// ExportTimeoutSet tells whether OTEL_EXPORTER_OTLP_TIMEOUT or its
	// traces form is set, and BSPExportTimeoutSet whether
	// OTEL_BSP_EXPORT_TIMEOUT is, so that crstel's defaults do not override
	// them.
	ExportTimeoutSet, BSPExportTimeoutSet bool
	// Secrets are the header values of OTEL_EXPORTER_OTLP_HEADERS and
	// OTEL_EXPORTER_OTLP_TRACES_HEADERS, for scrubbing from messages.
	Secrets []string
}

// Read reads the environment through lookup (os.LookupEnv if nil). It
// returns every problem it finds joined in one error, and the Config with
// the valid parts.
func Read(lookup Lookup) (Config, error) {
	if lookup == nil {
		lookup = os.LookupEnv
	}
	get := func(name string) (string, bool) {
		v, ok := lookup(name)
		return strings.TrimSpace(v), ok && strings.TrimSpace(v) != ""
	}
	var c Config
	var errs []string
	bad := func(name, value, want string) {
		errs = append(errs, fmt.Sprintf("%s=%s: %s", name, strconv.Quote(value), want))
	}

	if v, ok := get(Strict); ok {
		b, err := strconv.ParseBool(v)
		if err != nil {
			bad(Strict, v, "want 1, true, 0 or false")
		} else {
			c.Strict, c.StrictSet = b, true
		}
	}
	if v, ok := get(QueueFull); ok {
		switch lv := strings.ToLower(v); lv {
		case "block", "drop":
			c.QueueFull = lv
		default:
			bad(QueueFull, v, `want "block" or "drop"`)
		}
	}
	if v, ok := get(QueueBytes); ok {
		if n, err := strconv.ParseInt(v, 10, 64); err != nil || n <= 0 {
			bad(QueueBytes, v, "want a positive number of bytes")
		} else {
			c.QueueBytes = n
		}
	}
	c.TraceDir, _ = get(TraceDir)
	if v, ok := get(Overdue); ok {
		var err error
		if c.Overdue, err = parseBudgets(v); err != nil {
			bad(Overdue, v, err.Error())
		}
	}
	c.ServiceName, _ = get(ServiceName)
	if v, ok := get(Propagators); ok {
		var names []string
		for n := range strings.SplitSeq(v, ",") {
			if n = strings.ToLower(strings.TrimSpace(n)); n != "" {
				names = append(names, n)
			}
		}
		if p, err := autoprop.TextMapPropagator(names...); err != nil {
			bad(Propagators, v, err.Error()+`; want a list of tracecontext, baggage, b3, b3multi, jaeger, xray, ottrace, or "none"`)
		} else {
			c.Propagator, c.NoBaggage = p, !slices.Contains(names, "baggage") || slices.Contains(names, "none")
		}
	}
	if v, ok := get(TracesExporter); ok {
		// The variable is a comma-separated list; crstel takes one exporter.
		switch lv := strings.ToLower(v); lv {
		case "otlp", "console", "none":
			c.TracesExporter = lv
		default:
			bad(TracesExporter, v, `crstel supports "otlp", "console" or "none"`)
		}
	}
	for _, e := range []struct {
		name string
		dst  *string
	}{{MetricsExporter, &c.MetricsExporter}, {LogsExporter, &c.LogsExporter}} {
		if v, ok := get(e.name); ok {
			switch lv := strings.ToLower(v); lv {
			case "otlp", "none":
				*e.dst = lv
			default:
				bad(e.name, v, `crstel supports "otlp" or "none"`)
			}
		}
	}
	for _, name := range []string{TracesProtocol, Protocol} {
		if v, ok := get(name); ok {
			if !strings.EqualFold(v, "grpc") {
				bad(name, v, `crstel exports OTLP over gRPC only: set it to "grpc" or unset it`)
			}
			break // the signal-specific variable wins
		}
	}
	for _, name := range []string{TracesEndpoint, Endpoint} {
		if v, ok := get(name); ok {
			// The exporter reads the value itself, but silently falls back to
			// localhost:4317 when it is not a URL, such as 127.0.0.1:4317.
			if u, err := url.Parse(v); err != nil || !strings.Contains(v, "://") || u.Host == "" {
				host := v
				if i := strings.Index(v, "://"); i >= 0 {
					host = v[i+3:]
				}
				bad(name, redact(v), fmt.Sprintf("want a URL: http://%s for plain text, https://%s for TLS", redact(host), redact(host)))
			} else {
				c.EndpointSet, c.Endpoint = true, v
			}
			break // the signal-specific variable wins
		}
	}
	for _, p := range []struct {
		name string
		n    *int
	}{{BSPMaxQueueSize, &c.QueueSize}, {BSPMaxExportBatchSize, &c.BatchSize}} {
		if v, ok := get(p.name); ok {
			if n, err := strconv.Atoi(v); err != nil || n <= 0 {
				bad(p.name, v, "want a positive integer")
			} else {
				*p.n = n
			}
		}
	}
	for _, name := range []string{Headers, TracesHeaders} {
		if v, ok := get(name); ok {
			c.Secrets = append(c.Secrets, headerValues(v)...)
		}
	}
	_, timeout := get("OTEL_EXPORTER_OTLP_TIMEOUT")
	_, tracesTimeout := get("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT")
	c.ExportTimeoutSet = timeout || tracesTimeout
	_, c.BSPExportTimeoutSet = get("OTEL_BSP_EXPORT_TIMEOUT")
	_, general := get(Endpoint)
	_, metrics := get(MetricsEndpoint)
	if v, ok := get(TracesEndpoint); ok && !general && !metrics && c.EndpointSet {
		c.TracesOnlyEndpoint = v
	}
	_, general = get(Headers)
	_, metrics = get(MetricsHeaders)
	if v, ok := get(TracesHeaders); ok && !general && !metrics {
		c.TracesOnlyHeaders = parseHeaders(v)
	}
	if len(errs) > 0 {
		return c, fmt.Errorf("crstel: invalid environment: %s", strings.Join(errs, "; "))
	}
	return c, nil
}

// parseHeaders parses a headers variable ("k1=v1,k2=v2", values
// URL-encoded) as the OTLP exporters do.
func parseHeaders(v string) map[string]string {
	out := make(map[string]string)
	for kv := range strings.SplitSeq(v, ",") {
		k, val, ok := strings.Cut(kv, "=")
		if !ok || strings.TrimSpace(k) == "" {
			continue
		}
		if dec, err := url.PathUnescape(strings.TrimSpace(val)); err == nil {
			val = dec
		}
		out[strings.TrimSpace(k)] = strings.TrimSpace(val)
	}
	return out
}

// headerValues returns the values of a headers variable ("k1=v1,k2=v2"),
// raw and URL-decoded, as the exporter may show either.
func headerValues(v string) []string {
	var out []string
	for _, kv := range strings.Split(v, ",") {
		_, val, ok := strings.Cut(kv, "=")
		if !ok {
			continue
		}
		val = strings.TrimSpace(val)
		out = append(out, val)
		if dec, err := url.PathUnescape(val); err == nil && dec != val {
			out = append(out, dec)
		}
	}
	return out
}

// redact removes user info (user:password@) from an endpoint.
func redact(endpoint string) string {
	if i := strings.LastIndex(endpoint, "@"); i >= 0 {
		if j := strings.Index(endpoint, "://"); j >= 0 && j < i {
			return endpoint[:j+3] + endpoint[i+1:]
		}
		return endpoint[i+1:]
	}
	return endpoint
}

// parseBudgets parses "key=duration,key=duration", where a key is a
// category, "llm" or "default", and a duration is a Go duration or 0.
func parseBudgets(v string) (map[string]time.Duration, error) {
	valid := []string{"default", "llm"}
	for _, c := range crs.Categories() {
		valid = append(valid, string(c))
	}
	out := make(map[string]time.Duration)
	for item := range strings.SplitSeq(v, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		k, d, ok := strings.Cut(item, "=")
		k, d = strings.TrimSpace(k), strings.TrimSpace(d)
		if !ok {
			return nil, fmt.Errorf("%s: want key=duration, such as building=30m", strconv.Quote(item))
		}
		if !slices.Contains(valid, k) {
			return nil, fmt.Errorf("unknown key %s: want one of %s", strconv.Quote(k), strings.Join(valid, ", "))
		}
		dur, err := time.ParseDuration(d)
		if d == "0" {
			dur, err = 0, nil
		}
		if err != nil || dur < 0 {
			return nil, fmt.Errorf("%s=%s: want a duration such as 30m, or 0 for none", k, strconv.Quote(d))
		}
		out[k] = dur
	}
	return out, nil
}
