package envconfig

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/crstel/crstel/internal/pricetable"
)

// Names of crstel's own variables.
const (
	Strict     = "CRSTEL_STRICT"
	QueueFull  = "CRSTEL_QUEUE_FULL"
	QueueBytes = "CRSTEL_QUEUE_BYTES"
	TraceDir   = "CRSTEL_TRACE_DIR"
	// TraceDirOff is the value of CRSTEL_TRACE_DIR that turns the journal
	// off.
	TraceDirOff = "off"
	// AuditDir is the directory of the audit trail.
	AuditDir = "CRSTEL_AUDIT_DIR"
	// AuditDirOff is the value of CRSTEL_AUDIT_DIR that turns the audit
	// trail's files off.
	AuditDirOff = "off"
	Overdue     = "CRSTEL_OVERDUE"
	// Heartbeat is the interval, and initial delay, of the lifecycle
	// records of open actions.
	Heartbeat = "CRSTEL_HEARTBEAT"
	// HeartbeatOff is the value of CRSTEL_HEARTBEAT that turns lifecycle
	// records off.
	HeartbeatOff = "off"
	// HeartbeatMax is the most open actions with lifecycle heartbeats.
	HeartbeatMax = "CRSTEL_HEARTBEAT_MAX"
	// LLMPrices is the file of the price table LLM calls are priced with.
	LLMPrices = "CRSTEL_LLM_PRICES"
)

// Names of the general OpenTelemetry variables.
const (
	ServiceName        = "OTEL_SERVICE_NAME"
	ResourceAttributes = "OTEL_RESOURCE_ATTRIBUTES"
	Propagators        = "OTEL_PROPAGATORS"
	TracesExporter     = "OTEL_TRACES_EXPORTER"
	MetricsExporter    = "OTEL_METRICS_EXPORTER"
	LogsExporter       = "OTEL_LOGS_EXPORTER"
	// PrometheusHost and PrometheusPort are the address of the Prometheus
	// endpoint that OTEL_METRICS_EXPORTER=prometheus serves, with the
	// names of the contrib autoexport package.
	PrometheusHost   = "OTEL_EXPORTER_PROMETHEUS_HOST"
	PrometheusPort   = "OTEL_EXPORTER_PROMETHEUS_PORT"
	TracesSampler    = "OTEL_TRACES_SAMPLER"
	TracesSamplerArg = "OTEL_TRACES_SAMPLER_ARG"
	// GenAICapture is read by package genai itself (genai.EnvCapture);
	// Read only checks it.
	GenAICapture = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
)

// Names of the OTLP exporters' variables: the general form, then the
// traces, metrics and logs forms.
const (
	Endpoint        = "OTEL_EXPORTER_OTLP_ENDPOINT"
	TracesEndpoint  = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
	MetricsEndpoint = "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"
	LogsEndpoint    = "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT"

	Headers        = "OTEL_EXPORTER_OTLP_HEADERS"
	TracesHeaders  = "OTEL_EXPORTER_OTLP_TRACES_HEADERS"
	MetricsHeaders = "OTEL_EXPORTER_OTLP_METRICS_HEADERS"
	LogsHeaders    = "OTEL_EXPORTER_OTLP_LOGS_HEADERS"

	Timeout        = "OTEL_EXPORTER_OTLP_TIMEOUT"
	TracesTimeout  = "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT"
	MetricsTimeout = "OTEL_EXPORTER_OTLP_METRICS_TIMEOUT"
	LogsTimeout    = "OTEL_EXPORTER_OTLP_LOGS_TIMEOUT"

	Compression        = "OTEL_EXPORTER_OTLP_COMPRESSION"
	TracesCompression  = "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION"
	MetricsCompression = "OTEL_EXPORTER_OTLP_METRICS_COMPRESSION"
	LogsCompression    = "OTEL_EXPORTER_OTLP_LOGS_COMPRESSION"

	Certificate        = "OTEL_EXPORTER_OTLP_CERTIFICATE"
	TracesCertificate  = "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE"
	MetricsCertificate = "OTEL_EXPORTER_OTLP_METRICS_CERTIFICATE"
	LogsCertificate    = "OTEL_EXPORTER_OTLP_LOGS_CERTIFICATE"

	ClientCertificate        = "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE"
	TracesClientCertificate  = "OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE"
	MetricsClientCertificate = "OTEL_EXPORTER_OTLP_METRICS_CLIENT_CERTIFICATE"
	LogsClientCertificate    = "OTEL_EXPORTER_OTLP_LOGS_CLIENT_CERTIFICATE"

	ClientKey        = "OTEL_EXPORTER_OTLP_CLIENT_KEY"
	TracesClientKey  = "OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY"
	MetricsClientKey = "OTEL_EXPORTER_OTLP_METRICS_CLIENT_KEY"
	LogsClientKey    = "OTEL_EXPORTER_OTLP_LOGS_CLIENT_KEY"

	Insecure        = "OTEL_EXPORTER_OTLP_INSECURE"
	TracesInsecure  = "OTEL_EXPORTER_OTLP_TRACES_INSECURE"
	MetricsInsecure = "OTEL_EXPORTER_OTLP_METRICS_INSECURE"
	LogsInsecure    = "OTEL_EXPORTER_OTLP_LOGS_INSECURE"

	Protocol        = "OTEL_EXPORTER_OTLP_PROTOCOL"
	TracesProtocol  = "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"
	MetricsProtocol = "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL"
	LogsProtocol    = "OTEL_EXPORTER_OTLP_LOGS_PROTOCOL"

	MetricsTemporality          = "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE"
	MetricsHistogramAggregation = "OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION"
)

// Names of the SDK's processor, reader and limit variables.
const (
	BSPScheduleDelay      = "OTEL_BSP_SCHEDULE_DELAY"
	BSPExportTimeout      = "OTEL_BSP_EXPORT_TIMEOUT"
	BSPMaxQueueSize       = "OTEL_BSP_MAX_QUEUE_SIZE"
	BSPMaxExportBatchSize = "OTEL_BSP_MAX_EXPORT_BATCH_SIZE"

	BLRPScheduleDelay      = "OTEL_BLRP_SCHEDULE_DELAY"
	BLRPExportTimeout      = "OTEL_BLRP_EXPORT_TIMEOUT"
	BLRPMaxQueueSize       = "OTEL_BLRP_MAX_QUEUE_SIZE"
	BLRPMaxExportBatchSize = "OTEL_BLRP_MAX_EXPORT_BATCH_SIZE"

	MetricExportInterval  = "OTEL_METRIC_EXPORT_INTERVAL"
	MetricExportTimeout   = "OTEL_METRIC_EXPORT_TIMEOUT"
	MetricsExemplarFilter = "OTEL_METRICS_EXEMPLAR_FILTER"

	AttributeValueLengthLimit          = "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT"
	AttributeCountLimit                = "OTEL_ATTRIBUTE_COUNT_LIMIT"
	SpanAttributeValueLengthLimit      = "OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT"
	SpanAttributeCountLimit            = "OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT"
	SpanEventCountLimit                = "OTEL_SPAN_EVENT_COUNT_LIMIT"
	EventAttributeCountLimit           = "OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT"
	SpanLinkCountLimit                 = "OTEL_SPAN_LINK_COUNT_LIMIT"
	LinkAttributeCountLimit            = "OTEL_LINK_ATTRIBUTE_COUNT_LIMIT"
	LogRecordAttributeCountLimit       = "OTEL_LOGRECORD_ATTRIBUTE_COUNT_LIMIT"
	LogRecordAttributeValueLengthLimit = "OTEL_LOGRECORD_ATTRIBUTE_VALUE_LENGTH_LIMIT"

	// The Go SDK's experimental features.
	GoXObservability            = "OTEL_GO_X_OBSERVABILITY"
	GoXSelfObservability        = "OTEL_GO_X_SELF_OBSERVABILITY"
	GoXResource                 = "OTEL_GO_X_RESOURCE"
	GoXPerSeriesStartTimestamps = "OTEL_GO_X_PER_SERIES_START_TIMESTAMPS"
	GoXCardinalityLimit         = "OTEL_GO_X_CARDINALITY_LIMIT"
)

// A Var is one variable [Read] reads.
type Var struct {
	// Name is the variable's name.
	Name string
	// Want says what values it takes, for the README and messages.
	Want string
	// Secret tells that its value may hold credentials (headers): errors
	// never show it.
	Secret bool
	// Raw tells that an OpenTelemetry SDK reads the value without trimming
	// spaces, and would ignore a padded one: here surrounding spaces are an
	// error, and a blank value is not unset.
	Raw bool

	redact bool                            // an endpoint: shown without user info or query
	parse  func(r *reader, v string) error // checks v and stores it; the error omits v
}

// Vars lists every variable Read reads: crstel's, and every one the
// OpenTelemetry SDK, its OTLP/gRPC exporters and package genai read.
var Vars = func() []Var {
	vs := []Var{
		{Name: Strict, Want: "1, true, 0 or false", parse: func(r *reader, v string) error {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return fmt.Errorf("want 1, true, 0 or false")
			}
			r.c.Strict, r.c.StrictSet = b, true
			return nil
		}},
		{Name: QueueFull, Want: "block or drop", parse: func(r *reader, v string) error {
			return oneOf(&r.c.QueueFull, strings.ToLower(v), "block", "drop")
		}},
		{Name: QueueBytes, Want: QueueBytesRange.Want(), parse: func(r *reader, v string) error {
			n, err := QueueBytesRange.Parse(v)
			r.c.QueueBytes = n
			return err
		}},
		{Name: TraceDir, Want: `a directory, or "off"`, parse: func(r *reader, v string) error {
			r.c.TraceDir = v
			return nil
		}},
		{Name: AuditDir, Want: `a directory, or "off"`, parse: func(r *reader, v string) error {
			r.c.AuditDir = v
			return nil
		}},
		{Name: Overdue, Want: "key=duration pairs, such as llm=10m,building=30m,fuzzing=0; keys are categories, llm or default; durations 0 (none) or " + BudgetRange.Want(), parse: func(r *reader, v string) (err error) {
			r.c.Overdue, err = parseBudgets(v)
			return err
		}},
		{Name: Heartbeat, Want: "a duration " + LifecycleIntervalRange.Want() + `, such as 5s, or "off"`, parse: func(r *reader, v string) error {
			if strings.EqualFold(v, HeartbeatOff) {
				r.c.Heartbeat, r.c.HeartbeatOff = 0, true
				return nil
			}
			d, err := time.ParseDuration(v)
			if err != nil {
				return fmt.Errorf(`want a duration %s, such as 5s, or "off"`, LifecycleIntervalRange.Want())
			}
			if err := LifecycleIntervalRange.Check(d); err != nil {
				return fmt.Errorf(`%w, or "off"`, err)
			}
			r.c.Heartbeat = d
			return nil
		}},
		rangeVar(HeartbeatMax, LifecycleMaxRange, func(r *reader) *int { return &r.c.HeartbeatMax }),
		{Name: LLMPrices, Want: "the path of a price table file (JSON)", parse: func(r *reader, v string) error {
			// The file is read here, so that a bad one is an error of the
			// variable like any other.
			if _, err := pricetable.Load(v); err != nil {
				return err
			}
			r.c.LLMPrices = v
			return nil
		}},

		{Name: ServiceName, Want: "the service name", parse: func(r *reader, v string) error {
			r.c.ServiceName = v
			return nil
		}},
		{Name: ResourceAttributes, Want: "key=value pairs, values URL-encoded", parse: func(r *reader, v string) (err error) {
			r.resource, err = parseResource(v)
			return err
		}},
		{Name: Propagators, Want: "a list of tracecontext, baggage, b3, b3multi, jaeger, xray, ottrace, or none", parse: func(r *reader, v string) error {
			var names []string
			for n := range strings.SplitSeq(v, ",") {
				if n = strings.ToLower(strings.TrimSpace(n)); n != "" {
					names = append(names, n)
				}
			}
			for _, n := range names {
				if !slices.Contains(PropagatorNames, n) {
					return fmt.Errorf("unknown propagator: %s; want a list of tracecontext, baggage, b3, b3multi, jaeger, xray, ottrace, or \"none\"", n)
				}
			}
			if names == nil {
				names = []string{} // set, and naming none
			}
			r.c.Propagators, r.c.NoBaggage = names, !slices.Contains(names, "baggage") || slices.Contains(names, "none")
			return nil
		}},
		{Name: TracesExporter, Want: "otlp, console or none", parse: func(r *reader, v string) error {
			// The variable is a comma-separated list; crstel takes one exporter.
			if err := oneOf(&r.c.TracesExporter, strings.ToLower(v), "otlp", "console", "none"); err != nil {
				return fmt.Errorf(`crstel supports "otlp", "console" or "none"`)
			}
			return nil
		}},
		{Name: MetricsExporter, Want: "otlp, prometheus, otlp,prometheus or none", parse: func(r *reader, v string) error {
			var otlp, prom, none bool
			for n := range strings.SplitSeq(strings.ToLower(v), ",") {
				var seen *bool
				switch strings.TrimSpace(n) {
				case "otlp":
					seen = &otlp
				case "prometheus":
					seen = &prom
				case "none":
					seen = &none
				default:
					return fmt.Errorf(`crstel supports "otlp", "prometheus", both ("otlp,prometheus") or "none"`)
				}
				if *seen {
					return fmt.Errorf("%s named twice", strings.TrimSpace(n))
				}
				*seen = true
			}
			switch {
			case none && (otlp || prom):
				return fmt.Errorf(`"none" with another exporter`)
			case otlp || none:
				r.c.MetricsExporter = map[bool]string{true: "otlp", false: "none"}[otlp]
			default:
				r.c.MetricsExporter = "none" // no OTLP: Prometheus only
			}
			r.c.Prometheus = prom
			return nil
		}},
		{Name: PrometheusHost, Want: "a host name or IP address", parse: func(r *reader, v string) error {
			if !validHost(v) {
				return fmt.Errorf("want a host name, such as localhost, or an IP address, such as 0.0.0.0 or ::1")
			}
			r.c.PrometheusHost = v
			return nil
		}},
		{Name: PrometheusPort, Want: PortRange.Want(), parse: func(r *reader, v string) error {
			n, err := PortRange.Parse(v)
			if err == nil {
				r.c.PrometheusPort, r.c.PrometheusPortSet = int(n), true
			}
			return err
		}},
		{Name: LogsExporter, Want: "otlp or none", parse: func(r *reader, v string) error {
			if err := oneOf(&r.c.LogsExporter, strings.ToLower(v), "otlp", "none"); err != nil {
				return fmt.Errorf(`crstel supports "otlp" or "none"`)
			}
			return nil
		}},
		{Name: TracesSampler, Want: "always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off or parentbased_traceidratio", parse: func(r *reader, v string) error {
			return oneOf(&r.sampler, strings.ToLower(v), "always_on", "always_off", "traceidratio",
				"parentbased_always_on", "parentbased_always_off", "parentbased_traceidratio")
		}},
		{Name: TracesSamplerArg, Want: "a ratio from 0 to 1, with a traceidratio sampler", parse: func(r *reader, v string) error {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil || !(f >= 0 && f <= 1) { // NaN fails too
				return fmt.Errorf("want a ratio from 0 to 1, such as 0.25")
			}
			return nil
		}},
		{Name: GenAICapture, Want: "true, false, SPAN_ONLY, EVENT_ONLY, SPAN_AND_EVENT or NO_CONTENT", parse: parseCapture},

		{Name: MetricsTemporality, Want: "cumulative, delta or lowmemory", parse: func(r *reader, v string) error {
			var s string
			return oneOf(&s, strings.ToLower(v), "cumulative", "delta", "lowmemory")
		}},
		{Name: MetricsHistogramAggregation, Want: "explicit_bucket_histogram or base2_exponential_bucket_histogram", parse: func(r *reader, v string) error {
			var s string
			return oneOf(&s, strings.ToLower(v), "explicit_bucket_histogram", "base2_exponential_bucket_histogram")
		}},

		rangeVar(BSPMaxQueueSize, QueueSizeRange, func(r *reader) *int { return &r.c.BSP.QueueSize }),
		rangeVar(BSPMaxExportBatchSize, QueueSizeRange, func(r *reader) *int { return &r.c.BSP.BatchSize }),
		msVar(BSPScheduleDelay, func(r *reader) *Batch { return &r.c.BSP }, false),
		msVar(BSPExportTimeout, func(r *reader) *Batch { return &r.c.BSP }, true),
		rangeVar(BLRPMaxQueueSize, LogQueueSizeRange, func(r *reader) *int { return &r.c.BLRP.QueueSize }),
		rangeVar(BLRPMaxExportBatchSize, LogQueueSizeRange, func(r *reader) *int { return &r.c.BLRP.BatchSize }),
		msVar(BLRPScheduleDelay, func(r *reader) *Batch { return &r.c.BLRP }, false),
		msVar(BLRPExportTimeout, func(r *reader) *Batch { return &r.c.BLRP }, true),
		rangeVar(MetricExportInterval, TimeoutRange, nil),
		rangeVar(MetricExportTimeout, TimeoutRange, nil),
		{Name: MetricsExemplarFilter, Want: "always_on, always_off or trace_based", parse: func(r *reader, v string) error {
			var s string
			return oneOf(&s, strings.ToLower(v), "always_on", "always_off", "trace_based")
		}},

		rangeVar(AttributeCountLimit, AttributeCountRange, nil),
		rangeVar(AttributeValueLengthLimit, ValueLengthRange, nil),
		rangeVar(SpanAttributeCountLimit, AttributeCountRange, nil),
		rangeVar(SpanAttributeValueLengthLimit, ValueLengthRange, nil),
		rangeVar(SpanEventCountLimit, CountRange, nil),
		rangeVar(EventAttributeCountLimit, CountRange, nil),
		rangeVar(SpanLinkCountLimit, CountRange, nil),
		rangeVar(LinkAttributeCountLimit, CountRange, nil),
		rangeVar(LogRecordAttributeCountLimit, AttributeCountRange, nil),
		rangeVar(LogRecordAttributeValueLengthLimit, ValueLengthRange, nil),

		featureVar(GoXObservability),
		featureVar(GoXSelfObservability),
		featureVar(GoXResource),
		featureVar(GoXPerSeriesStartTimestamps),
		rangeVar(GoXCardinalityLimit, CardinalityRange, nil),
	}
	for s := range signals {
		vs = append(vs, otlpVars(s)...)
	}
	// The SDK reads these as they are, without trimming spaces.
	for i := range vs {
		switch {
		case vs[i].Name == GoXCardinalityLimit: // trimmed
		case strings.HasPrefix(vs[i].Name, "OTEL_BSP_"), strings.HasPrefix(vs[i].Name, "OTEL_BLRP_"),
			strings.HasPrefix(vs[i].Name, "OTEL_METRIC_EXPORT_"), strings.HasSuffix(vs[i].Name, "_LIMIT"),
			strings.HasPrefix(vs[i].Name, "OTEL_GO_X_"),
			strings.HasSuffix(vs[i].Name, "CERTIFICATE"), strings.HasSuffix(vs[i].Name, "_KEY"):
			vs[i].Raw = true
		}
	}
	return vs
}()

// LookupVar returns the Var named name, and false if Read does not read it.
func LookupVar(name string) (Var, bool) {
	i := slices.IndexFunc(Vars, func(v Var) bool { return v.Name == name })
	if i < 0 {
		return Var{}, false
	}
	return Vars[i], true
}

// oneOf stores v in dst if it is one of valid, and otherwise says what is.
func oneOf(dst *string, v string, valid ...string) error {
	if !slices.Contains(valid, v) {
		return fmt.Errorf("want %s", orList(valid))
	}
	*dst = v
	return nil
}

// validHost reports whether v is an IP address (IPv6 without brackets) or
// a host name of letters, digits, '-', '_' and '.'.
func validHost(v string) bool {
	if _, err := netip.ParseAddr(v); err == nil {
		return true
	}
	if len(v) > 253 || strings.HasPrefix(v, ".") || strings.HasPrefix(v, "-") {
		return false
	}
	for _, c := range v {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// orList returns `"a", "b" or "c"`.
func orList(valid []string) string {
	q := make([]string, len(valid))
	for i, s := range valid {
		q[i] = strconv.Quote(s)
	}
	if len(q) == 1 {
		return q[0]
	}
	return strings.Join(q[:len(q)-1], ", ") + " or " + q[len(q)-1]
}

// rangeVar is a variable holding an integer of rng; dst, if not nil, says
// where it goes.
func rangeVar(name string, rng Range, dst func(*reader) *int) Var {
	return Var{Name: name, Want: rng.Want(), parse: func(r *reader, v string) error {
		n, err := rng.Parse(v)
		if err == nil && dst != nil {
			*dst(r) = int(n)
		}
		return err
	}}
}

// msVar is a processor's SCHEDULE_DELAY (timeout false) or EXPORT_TIMEOUT
// variable, in milliseconds.
func msVar(name string, dst func(*reader) *Batch, timeout bool) Var {
	return Var{Name: name, Want: TimeoutRange.Want(), parse: func(r *reader, v string) error {
		n, err := TimeoutRange.Parse(v)
		if err != nil {
			return err
		}
		if b := dst(r); timeout {
			b.ExportTimeout = TimeoutRange.Duration(n)
		} else {
			b.ScheduleDelay = TimeoutRange.Duration(n)
		}
		return nil
	}}
}

// featureVar is an OTEL_GO_X_* switch: the SDK turns the feature on for
// "true", in any case, and off for anything else.
func featureVar(name string) Var {
	return Var{Name: name, Want: "true or false", parse: func(_ *reader, v string) error {
		if !strings.EqualFold(v, "true") && !strings.EqualFold(v, "false") {
			return fmt.Errorf(`want "true" or "false"`)
		}
		return nil
	}}
}

// PropagatorNames are the names OTEL_PROPAGATORS may list: those of the
// OpenTelemetry contrib autoprop package, which builds them.
var PropagatorNames = []string{"tracecontext", "baggage", "b3", "b3multi", "jaeger", "xray", "ottrace", "none"}
