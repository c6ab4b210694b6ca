package crstel_test

import (
	"cmp"
	"context"
	"log"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr/funcr"
	"github.com/go-logr/stdr"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/crstel/crstel"
	"github.com/crstel/crstel/crs"
	"github.com/crstel/crstel/crsteltest"
	"github.com/crstel/crstel/genai"
	"github.com/crstel/crstel/internal/envconfig"
	"github.com/crstel/crstel/internal/otlptest"
)

// The tests of Setup's environment: every variable crstel or the
// OpenTelemetry SDK reads is checked once, by internal/envconfig, and a bad
// value is one Setup error naming it, never a crash, never a silent
// fallback, never a header value printed.

// envOutput is everything Setup could print through: stderr (the file
// descriptor, where the SDK's default logger and error handler write), the
// SDK's logger at its highest verbosity, otel.Handle, and crstel's slog
// logger.
type envOutput struct {
	stderr  func() string
	otelLog *syncBuffer
	errs    *crsteltest.ErrorLog
	slog    *syncBuffer
}

// envCapture starts capturing what a test's Setup prints; errs is the log
// isolate returned.
func envCapture(t *testing.T, errs *crsteltest.ErrorLog) (*envOutput, crstel.Option) {
	t.Helper()
	o := &envOutput{stderr: envCaptureStderr(t), otelLog: &syncBuffer{}, errs: errs}
	otel.SetLogger(funcr.New(func(prefix, args string) {
		_, _ = o.otelLog.Write([]byte(prefix + " " + args + "\n"))
	}, funcr.Options{Verbosity: 100}))
	t.Cleanup(envRestoreLogger)
	logger, buf := textLogger()
	o.slog = buf
	return o, crstel.WithLogger(logger)
}

// envRestoreLogger puts back the SDK's default logger.
func envRestoreLogger() {
	otel.SetLogger(stdr.New(log.New(os.Stderr, "", log.LstdFlags|log.Lshortfile)))
}

// all stops the capture of stderr and returns everything printed.
func (o *envOutput) all() string {
	return strings.Join([]string{
		"stderr: " + o.stderr(),
		"otel logger: " + o.otelLog.String(),
		"otel.Handle: " + strings.Join(o.errs.Messages(), "\n"),
		"slog: " + o.slog.String(),
	}, "\n")
}

// envSetup sets the variables of env (on top of a clean environment; see
// isolate), calls Setup with opts and the capture's logger, and shuts
// the result down. It returns everything printed and Setup's error.
func envSetup(t *testing.T, env map[string]string, opts ...crstel.Option) (printed string, err error) {
	t.Helper()
	errs := isolate(t)
	for k, v := range env {
		t.Setenv(k, v)
	}
	out, logger := envCapture(t, errs)
	before := otel.GetTracerProvider()
	tel, err := crstel.Setup(context.Background(), append(opts, logger)...)
	if err == nil {
		if e := shutdownTel(t, tel); e != nil {
			t.Errorf("Shutdown: %v", e)
		}
	} else if otel.GetTracerProvider() != before {
		t.Error("a failed Setup installed a tracer provider")
	}
	return out.all(), err
}

// TestSetupNumericRanges: every numeric setting, from the environment or an
// option, has a range; outside it, Setup fails naming the setting and the
// range. (OTEL_BSP_MAX_QUEUE_SIZE=2000000000 was a fatal out-of-memory
// error, a value near MaxInt64 a panic in makechan, as WithQueueSize was.)
func TestSetupNumericRanges(t *testing.T) {
	for _, tt := range []struct {
		name string
		env  map[string]string
		opts []crstel.Option
		want []string
	}{
		{name: "queue of 2e9 spans", env: map[string]string{"OTEL_BSP_MAX_QUEUE_SIZE": "2000000000"},
			want: []string{`OTEL_BSP_MAX_QUEUE_SIZE="2000000000"`, "from 1 to 4194304 (spans)"}},
		{name: "queue near MaxInt64", env: map[string]string{"OTEL_BSP_MAX_QUEUE_SIZE": "9223372036854775807"},
			want: []string{`OTEL_BSP_MAX_QUEUE_SIZE="9223372036854775807"`, "from 1 to 4194304"}},
		{name: "queue beyond int64", env: map[string]string{"OTEL_BSP_MAX_QUEUE_SIZE": "9223372036854775808"},
			want: []string{`OTEL_BSP_MAX_QUEUE_SIZE="9223372036854775808"`}},
		{name: "batch near MaxInt64", env: map[string]string{"OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "9223372036854775807"},
			want: []string{`OTEL_BSP_MAX_EXPORT_BATCH_SIZE="9223372036854775807"`}},
		{name: "log queue of 2e9 records", env: map[string]string{"OTEL_BLRP_MAX_QUEUE_SIZE": "2000000000"},
			want: []string{`OTEL_BLRP_MAX_QUEUE_SIZE="2000000000"`, "from 1 to 262144 (log records)"}},
		{name: "log batch of 2e9 records", env: map[string]string{"OTEL_BLRP_MAX_EXPORT_BATCH_SIZE": "2000000000"},
			want: []string{`OTEL_BLRP_MAX_EXPORT_BATCH_SIZE="2000000000"`}},
		{name: "queue bytes near MaxInt64", env: map[string]string{"CRSTEL_QUEUE_BYTES": "9223372036854775807"},
			want: []string{`CRSTEL_QUEUE_BYTES="9223372036854775807"`, "from 65536 to 68719476736 (bytes)"}},
		{name: "export timeout overflowing time.Duration", env: map[string]string{"OTEL_EXPORTER_OTLP_TIMEOUT": "9223372036854775807"},
			want: []string{`OTEL_EXPORTER_OTLP_TIMEOUT="9223372036854775807"`, "from 1 to 3600000 (milliseconds)"}},
		{name: "logs timeout 0", env: map[string]string{"OTEL_EXPORTER_OTLP_LOGS_TIMEOUT": "0"},
			want: []string{`OTEL_EXPORTER_OTLP_LOGS_TIMEOUT="0"`}},
		{name: "schedule delay 0", env: map[string]string{"OTEL_BSP_SCHEDULE_DELAY": "0"},
			want: []string{`OTEL_BSP_SCHEDULE_DELAY="0"`}},
		{name: "schedule delay overflowing", env: map[string]string{"OTEL_BLRP_SCHEDULE_DELAY": "9223372036854775807"},
			want: []string{`OTEL_BLRP_SCHEDULE_DELAY="9223372036854775807"`}},
		{name: "metric interval negative", env: map[string]string{"OTEL_METRIC_EXPORT_INTERVAL": "-1000"},
			want: []string{`OTEL_METRIC_EXPORT_INTERVAL="-1000"`}},
		{name: "attribute count 0 would drop the action's attributes", env: map[string]string{"OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT": "0"},
			want: []string{`OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT="0"`, "from 128 to 65536"}},
		{name: "value length 10 would cut metadata", env: map[string]string{"OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT": "10"},
			want: []string{`OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT="10"`}},
		{name: "budget beyond a year", env: map[string]string{"CRSTEL_OVERDUE": "llm=9000h"},
			want: []string{`CRSTEL_OVERDUE="llm=9000h"`, "from 1ms to 8760h"}},
		{name: "padded number the SDK would ignore", env: map[string]string{"OTEL_BSP_MAX_QUEUE_SIZE": " 4096"},
			want: []string{`OTEL_BSP_MAX_QUEUE_SIZE=" 4096"`, "spaces"}},

		{name: "WithQueueSize(MaxInt)", opts: []crstel.Option{crstel.WithQueueSize(math.MaxInt)},
			want: []string{"WithQueueSize(9223372036854775807)", "from 1 to 4194304"}},
		{name: "WithQueueSize(2e9)", opts: []crstel.Option{crstel.WithQueueSize(2_000_000_000)}, want: []string{"WithQueueSize(2000000000)"}},
		{name: "WithQueueSize(0)", opts: []crstel.Option{crstel.WithQueueSize(0)}, want: []string{"WithQueueSize(0)"}},
		{name: "WithBatchSize(MaxInt)", opts: []crstel.Option{crstel.WithBatchSize(math.MaxInt)}, want: []string{"WithBatchSize(9223372036854775807)"}},
		{name: "WithQueueBytes(MaxInt64)", opts: []crstel.Option{crstel.WithQueueBytes(math.MaxInt64)},
			want: []string{"WithQueueBytes(9223372036854775807)", "from 65536 to 68719476736"}},
		{name: "WithQueueBytes(1)", opts: []crstel.Option{crstel.WithQueueBytes(1)}, want: []string{"WithQueueBytes(1)"}},
		{name: "WithWatchdogInterval(-1s)", opts: []crstel.Option{crstel.WithWatchdogInterval(-time.Second)},
			want: []string{"WithWatchdogInterval(-1s)", "from 1ms to 1h"}},
		{name: "WithWatchdogInterval(0)", opts: []crstel.Option{crstel.WithWatchdogInterval(0)}, want: []string{"WithWatchdogInterval(0s)"}},
		{name: "WithBudgets(MaxInt64)", opts: []crstel.Option{crstel.WithBudgets(map[string]time.Duration{"llm": math.MaxInt64})},
			want: []string{"WithBudgets(llm=2562047h47m16.854775807s)", "from 1ms to 8760h"}},
		{name: "WithBudgets(1ns)", opts: []crstel.Option{crstel.WithBudgets(map[string]time.Duration{"building": 1})},
			want: []string{"WithBudgets(building=1ns)"}},
		{name: "every problem at once",
			env:  map[string]string{"OTEL_BSP_MAX_QUEUE_SIZE": "0", "OTEL_BLRP_MAX_QUEUE_SIZE": "-1"},
			opts: []crstel.Option{crstel.WithQueueSize(-1), crstel.WithBatchSize(-2)},
			want: []string{`OTEL_BSP_MAX_QUEUE_SIZE="0"`, `OTEL_BLRP_MAX_QUEUE_SIZE="-1"`, "WithQueueSize(-1)", "WithBatchSize(-2)"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			opts := append([]crstel.Option{crstel.WithExporter(tracetest.NewInMemoryExporter())}, tt.opts...)
			out, err := envSetup(t, tt.env, opts...)
			wantSetupError(t, nil, err, tt.want...)
			if msgs := out; strings.Contains(msgs, "OTEL_") || strings.Contains(msgs, "invalid") {
				t.Errorf("a failed Setup printed:\n%s", msgs)
			}
		})
	}
}

// TestSetupNumericLimits: the bounds of each range themselves are taken.
func TestSetupNumericLimits(t *testing.T) {
	for _, tt := range []struct {
		name string
		env  map[string]string
		opts []crstel.Option
	}{
		{name: "smallest", env: map[string]string{"OTEL_BSP_MAX_QUEUE_SIZE": "1", "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "1",
			"OTEL_BLRP_MAX_QUEUE_SIZE": "1", "OTEL_BLRP_MAX_EXPORT_BATCH_SIZE": "1", "CRSTEL_QUEUE_BYTES": "65536", "OTEL_BSP_SCHEDULE_DELAY": "1",
			"OTEL_LOGS_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1"}},
		{name: "options", opts: []crstel.Option{crstel.WithQueueSize(1), crstel.WithBatchSize(4 << 20), crstel.WithQueueBytes(64 << 30),
			crstel.WithWatchdogInterval(time.Hour), crstel.WithBudgets(map[string]time.Duration{"llm": 0, "building": 365 * 24 * time.Hour})}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			opts := append([]crstel.Option{crstel.WithExporter(tracetest.NewInMemoryExporter())}, tt.opts...)
			if out, err := envSetup(t, tt.env, opts...); err != nil {
				t.Errorf("Setup: %v\n%s", err, out)
			}
		})
	}
}

// TestSetupInvalidSettings: a value the SDK would ignore, log (five times,
// without naming the variable), or fall back from is one Setup error that
// names every bad variable, and nothing is printed.
func TestSetupInvalidSettings(t *testing.T) {
	five := map[string]string{
		"OTEL_EXPORTER_OTLP_TIMEOUT":     "abc",
		"OTEL_EXPORTER_OTLP_COMPRESSION": "zstd",
		"OTEL_EXPORTER_OTLP_CERTIFICATE": "/nonexistent",
		"OTEL_EXPORTER_OTLP_INSECURE":    "maybe",
		"OTEL_RESOURCE_ATTRIBUTES":       "team=blue,note=100%",
	}
	for _, tt := range []struct {
		name string
		env  map[string]string
		want []string
	}{
		// TIMEOUT=abc made crstel skip its outage policy; the exporter
		// logged it and took 10 s.
		{name: "timeout abc", env: map[string]string{"OTEL_EXPORTER_OTLP_TIMEOUT": "abc"},
			want: []string{`OTEL_EXPORTER_OTLP_TIMEOUT="abc"`, "milliseconds"}},
		{name: "compression zstd", env: map[string]string{"OTEL_EXPORTER_OTLP_COMPRESSION": "zstd"},
			want: []string{`OTEL_EXPORTER_OTLP_COMPRESSION="zstd"`, `want "gzip" or "none"`}},
		{name: "compression GZIP", env: map[string]string{"OTEL_EXPORTER_OTLP_TRACES_COMPRESSION": "GZIP"},
			want: []string{`OTEL_EXPORTER_OTLP_TRACES_COMPRESSION="GZIP"`}},
		{name: "certificate /nonexistent", env: map[string]string{"OTEL_EXPORTER_OTLP_CERTIFICATE": "/nonexistent"},
			want: []string{`OTEL_EXPORTER_OTLP_CERTIFICATE="/nonexistent"`, "no such file"}},
		{name: "certificate /dev/zero", env: map[string]string{"OTEL_EXPORTER_OTLP_LOGS_CERTIFICATE": "/dev/zero"},
			want: []string{`OTEL_EXPORTER_OTLP_LOGS_CERTIFICATE="/dev/zero"`, "not a regular file"}},
		{name: "client certificate without key", env: map[string]string{"OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE": otlptest.NewServer(t, otlptest.WithTLS()).CertFile()},
			want: []string{"OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE: set without OTEL_EXPORTER_OTLP_CLIENT_KEY"}},
		{name: "insecure maybe", env: map[string]string{"OTEL_EXPORTER_OTLP_INSECURE": "maybe"},
			want: []string{`OTEL_EXPORTER_OTLP_INSECURE="maybe"`, `want "true" or "false"`}},
		{name: "insecure contradicting https", env: map[string]string{"OTEL_EXPORTER_OTLP_INSECURE": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": "https://127.0.0.1:1"},
			want: []string{`OTEL_EXPORTER_OTLP_INSECURE="true" contradicts OTEL_EXPORTER_OTLP_ENDPOINT="https://127.0.0.1:1"`}},
		{name: "resource attribute bad escape", env: map[string]string{"OTEL_RESOURCE_ATTRIBUTES": "team=blue,note=100%"},
			want: []string{"OTEL_RESOURCE_ATTRIBUTES", `the value of "note" has a bad %-escape`}},
		{name: "resource attribute without =", env: map[string]string{"OTEL_RESOURCE_ATTRIBUTES": "team=blue,ci"},
			want: []string{"OTEL_RESOURCE_ATTRIBUTES", "entry 2 has no '='"}},
		{name: "metrics endpoint without scheme", env: map[string]string{"OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": "127.0.0.1:4317"},
			want: []string{`OTEL_EXPORTER_OTLP_METRICS_ENDPOINT="127.0.0.1:4317"`, "http://127.0.0.1:4317"}},
		{name: "logs endpoint with an HTTP path", env: map[string]string{"OTEL_EXPORTER_OTLP_LOGS_ENDPOINT": "http://127.0.0.1:4318/v1/logs"},
			want: []string{`OTEL_EXPORTER_OTLP_LOGS_ENDPOINT="http://127.0.0.1:4318/v1/logs"`, "path"}},
		{name: "logs protocol http/protobuf", env: map[string]string{"OTEL_EXPORTER_OTLP_LOGS_PROTOCOL": "http/protobuf"},
			want: []string{`OTEL_EXPORTER_OTLP_LOGS_PROTOCOL="http/protobuf"`}},
		{name: "sampler unknown", env: map[string]string{"OTEL_TRACES_SAMPLER": "jaeger_remote"},
			want: []string{`OTEL_TRACES_SAMPLER="jaeger_remote"`}},
		{name: "sampler ratio NaN", env: map[string]string{"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "NaN"},
			want: []string{`OTEL_TRACES_SAMPLER_ARG="NaN"`}},
		{name: "exemplar filter unknown", env: map[string]string{"OTEL_METRICS_EXEMPLAR_FILTER": "sometimes"},
			want: []string{`OTEL_METRICS_EXEMPLAR_FILTER="sometimes"`}},
		{name: "temporality unknown", env: map[string]string{"OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE": "both"},
			want: []string{`OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE="both"`}},
		{name: "experimental feature yes", env: map[string]string{"OTEL_GO_X_OBSERVABILITY": "yes"},
			want: []string{`OTEL_GO_X_OBSERVABILITY="yes"`}},
		{name: "GenAI capture typo", env: map[string]string{"OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "ture"},
			want: []string{`OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT="ture"`}},
		{name: "the five at once", env: five, want: []string{
			`OTEL_EXPORTER_OTLP_TIMEOUT="abc"`, `OTEL_EXPORTER_OTLP_COMPRESSION="zstd"`, `OTEL_EXPORTER_OTLP_CERTIFICATE="/nonexistent"`,
			`OTEL_EXPORTER_OTLP_INSECURE="maybe"`, "OTEL_RESOURCE_ATTRIBUTES",
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1"}
			for k, v := range tt.env {
				env[k] = v
			}
			if env["OTEL_EXPORTER_OTLP_INSECURE"] == "true" {
				env["OTEL_EXPORTER_OTLP_ENDPOINT"] = tt.env["OTEL_EXPORTER_OTLP_ENDPOINT"]
			}
			out, err := envSetup(t, env, crstel.WithServiceName("patcher"))
			wantSetupError(t, nil, err, tt.want...)
			if n := strings.Count(err.Error(), "crstel: invalid environment"); n != 1 {
				t.Errorf("error %q: want one error", err)
			}
			if strings.Contains(out, "OTEL_") || strings.Contains(out, "invalid") || strings.Contains(out, "escape") {
				t.Errorf("a failed Setup printed:\n%s", out)
			}
		})
	}
}

// TestSetupEveryVariable: Setup checks every variable envconfig knows (the
// table of every value each takes and refuses is envconfig's
// TestReadEveryVariable): a value none of them takes is an error naming it.
func TestSetupEveryVariable(t *testing.T) {
	anything := []string{envconfig.ServiceName, envconfig.TraceDir, envconfig.AuditDir} // any value is valid
	for _, v := range envconfig.Vars {
		if slices.Contains(anything, v.Name) {
			continue
		}
		t.Run(v.Name, func(t *testing.T) {
			isolate(t)
			t.Setenv(v.Name, "!not valid!")
			tel, err := crstel.Setup(context.Background(), crstel.WithExporter(tracetest.NewInMemoryExporter()))
			if err == nil {
				_ = shutdownTel(t, tel)
				t.Fatalf("%s=%q: Setup succeeded", v.Name, "!not valid!")
			}
			if !strings.Contains(err.Error(), v.Name) {
				t.Errorf("error %q does not name %s", err, v.Name)
			}
		})
	}
}

// TestSetupGenAICaptureAgrees: Setup takes the values of
// OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT that package genai
// takes, and refuses the others, which genai would silently take as "no
// content". Package genai itself is unchanged.
func TestSetupGenAICaptureAgrees(t *testing.T) {
	for _, v := range []string{"true", "TRUE", "false", "1", "0", "SPAN_ONLY", "span_only", "EVENT_ONLY", "SPAN_AND_EVENT",
		"NO_CONTENT", " true ", "yes", "ture", "on", "SPAN", "EVENT", "all", "2"} {
		_, genaiOK := genai.ParseCapture(v)
		_, err := envconfig.Read(func(name string) (string, bool) {
			return v, name == envconfig.GenAICapture
		})
		if (err == nil) != genaiOK {
			t.Errorf("%q: envconfig error %v, genai.ParseCapture ok %t: want them to agree", v, err, genaiOK)
		}
	}
}

// TestSetupProtocolEnv: OTLP goes over gRPC only, for every signal
// exported; the signal-specific variable wins over the general one.
func TestSetupProtocolEnv(t *testing.T) {
	for _, tt := range []struct {
		name    string
		env     map[string]string
		wantErr string // "" for success
	}{
		{name: "grpc", env: map[string]string{"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}},
		{name: "http/protobuf", env: map[string]string{"OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"}, wantErr: `OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf"`},
		{name: "http/json", env: map[string]string{"OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"}, wantErr: `OTEL_EXPORTER_OTLP_PROTOCOL="http/json"`},
		{name: "GRPC, which the SDK logs", env: map[string]string{"OTEL_EXPORTER_OTLP_PROTOCOL": "GRPC"}, wantErr: `OTEL_EXPORTER_OTLP_PROTOCOL="GRPC"`},
		{name: "traces grpc wins, no metrics or logs", env: map[string]string{"OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
			"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "grpc", "OTEL_METRICS_EXPORTER": "none", "OTEL_LOGS_EXPORTER": "none"}},
		{name: "every signal's grpc wins", env: map[string]string{"OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
			"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "grpc", "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL": "grpc", "OTEL_EXPORTER_OTLP_LOGS_PROTOCOL": "grpc"}},
		{name: "traces grpc, metrics and logs http/protobuf", env: map[string]string{"OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
			"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "grpc"}, wantErr: `OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf"`},
		{name: "traces http/protobuf wins", env: map[string]string{"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
			"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/protobuf"}, wantErr: `OTEL_EXPORTER_OTLP_TRACES_PROTOCOL="http/protobuf"`},
		{name: "metrics http/json", env: map[string]string{"OTEL_EXPORTER_OTLP_METRICS_PROTOCOL": "http/json"}, wantErr: `OTEL_EXPORTER_OTLP_METRICS_PROTOCOL="http/json"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			isolate(t)
			srv := otlptest.NewServer(t)
			t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", srv.URL())
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			tel, err := crstel.Setup(context.Background(), crstel.WithServiceName("patcher"))
			if tt.wantErr != "" {
				wantSetupError(t, tel, err, tt.wantErr)
				return
			}
			if err != nil {
				t.Fatalf("Setup: %v", err)
			}
			runTask(context.Background())
			if err := shutdownTel(t, tel); err != nil {
				t.Errorf("Shutdown: %v", err)
			}
			if n := len(srv.Received()); n != 2 {
				t.Errorf("server received %d spans, want 2", n)
			}
		})
	}
}

// TestSetupMetricsAndLogsFollowTraces: with traces-specific variables only,
// metrics and logs go where the spans go, with the same credentials.
func TestSetupMetricsAndLogsFollowTraces(t *testing.T) {
	errs := isolate(t)
	srv := otlptest.NewServer(t, otlptest.WithBasicAuth("crs", "s3cret"))
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", srv.URL())
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "Authorization="+strings.ReplaceAll(basicAuth("crs", "s3cret"), " ", "%20"))
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "gzip")
	tel := startSetup(t, crstel.WithServiceName("patcher"))
	runTask(context.Background())
	emitLogRecord("a log record")
	if err := shutdownTel(t, tel); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if n := len(srv.Received()); n != 2 {
		t.Errorf("server received %d spans, want 2", n)
	}
	if n := len(srv.Logs()); n != 1 {
		t.Errorf("server accepted %d log records, want 1", n)
	}
	if n := srv.MetricRequests(); n == 0 {
		t.Error("server got no metric export")
	}
	if e := errs.Messages(); len(e) != 0 {
		t.Errorf("otel.Handle got %q, want nothing: every signal was accepted", e)
	}
}

// TestSetupMetricsExporterOTLP: OTEL_METRICS_EXPORTER=otlp exports
// metrics even when the spans go elsewhere, as OTEL_LOGS_EXPORTER=otlp does
// for logs; it was silently ignored.
func TestSetupMetricsExporterOTLP(t *testing.T) {
	errs := isolate(t)
	srv := otlptest.NewServer(t)
	t.Setenv("OTEL_TRACES_EXPORTER", "none")
	t.Setenv("OTEL_METRICS_EXPORTER", "otlp")
	t.Setenv("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", srv.URL())
	tel := startSetup(t, crstel.WithServiceName("patcher"))
	if err := shutdownTel(t, tel); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if n := srv.MetricRequests(); n == 0 {
		t.Error("OTEL_METRICS_EXPORTER=otlp: the server got no metrics")
	}
	if e := errs.Messages(); len(e) != 0 {
		t.Errorf("otel.Handle got %q, want nothing", e)
	}
}

// TestSetupContradictingOptions: options that contradict each other are an
// error, as contradicting variables are.
func TestSetupContradictingOptions(t *testing.T) {
	_, err := envSetup(t, nil, crstel.WithEndpoint("https://127.0.0.1:1"), crstel.WithInsecure())
	if err == nil || !strings.Contains(err.Error(), `WithInsecure contradicts WithEndpoint("https://127.0.0.1:1")`) {
		t.Errorf("Setup: %v, want an error naming WithInsecure and WithEndpoint", err)
	}
	if out, err := envSetup(t, nil, crstel.WithEndpoint("127.0.0.1:1"), crstel.WithInsecure(), crstel.WithMetricReader(sdkmetric.NewManualReader())); err != nil {
		t.Errorf("WithEndpoint(host:port) with WithInsecure: %v\n%s", err, out)
	}
}

func TestSetupTracesExporterEnv(t *testing.T) {
	t.Run("none", func(t *testing.T) {
		errs := isolate(t)
		t.Setenv("OTEL_TRACES_EXPORTER", "none")
		run := runPrinting(t, crstel.WithServiceName("patcher"))
		if out := run.stderr; out != "" {
			t.Errorf("stderr got %q, want nothing", out)
		}
		if l := run.logs; l != "" {
			t.Errorf("logger got %q, want nothing", l)
		}
		if e := errs.Messages(); len(e) != 0 {
			t.Errorf("otel.Handle got %q, want nothing", e)
		}
	})
	t.Run("console", func(t *testing.T) {
		isolate(t)
		t.Setenv("OTEL_TRACES_EXPORTER", "console")
		run := runPrinting(t, crstel.WithServiceName("patcher"))
		if out := run.stderr; !strings.Contains(out, "span generate_patch (patch_generation) ") {
			t.Errorf("stderr got %q, want the spans", out)
		}
		if l := run.logs; l != "" {
			t.Errorf("logger got %q, want no warning when the console is asked for", l)
		}
	})
	t.Run("otlp", func(t *testing.T) {
		isolate(t)
		srv := otlptest.NewServer(t)
		t.Setenv("OTEL_TRACES_EXPORTER", "otlp")
		t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", srv.URL())
		tel := startSetup(t, crstel.WithServiceName("patcher"))
		runTask(context.Background())
		if err := shutdownTel(t, tel); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if n := len(srv.Received()); n != 2 {
			t.Errorf("server received %d spans, want 2", n)
		}
	})
	for _, v := range []string{"zipkin", "jaeger", "otlp,console"} {
		t.Run(v, func(t *testing.T) {
			isolate(t)
			t.Setenv("OTEL_TRACES_EXPORTER", v)
			before := otel.GetTracerProvider()
			tel, err := crstel.Setup(context.Background(), crstel.WithServiceName("patcher"))
			wantSetupError(t, tel, err, "OTEL_TRACES_EXPORTER="+strconv.Quote(v))
			if otel.GetTracerProvider() != before {
				t.Error("a failed Setup installed a tracer provider")
			}
		})
	}
}

// TestSetupPropagatorsEnv: OTEL_PROPAGATORS chooses the propagators, as in
// every OpenTelemetry SDK; leaving out baggage draws a warning, and an
// unknown name an error.
func TestSetupPropagatorsEnv(t *testing.T) {
	for _, tt := range []struct {
		value    string
		wantKeys []string // carrier keys an action's context injects
		warn     bool
		wantErr  string
	}{
		{value: "", wantKeys: []string{"baggage", "traceparent"}},
		{value: "b3,baggage", wantKeys: []string{"b3", "baggage"}},
		{value: "tracecontext", wantKeys: []string{"traceparent"}, warn: true},
		{value: "none", wantKeys: nil, warn: true},
		{value: "tracecontext,zipkin", wantErr: `OTEL_PROPAGATORS="tracecontext,zipkin": unknown propagator: zipkin`},
	} {
		t.Run(cmp.Or(tt.value, "unset"), func(t *testing.T) {
			isolate(t)
			if tt.value != "" {
				t.Setenv("OTEL_PROPAGATORS", tt.value)
			}
			logger, logs := textLogger()
			tel, err := crstel.Setup(context.Background(), crstel.WithExporter(tracetest.NewInMemoryExporter()), crstel.WithLogger(logger))
			if tt.wantErr != "" {
				wantSetupError(t, tel, err, tt.wantErr)
				return
			}
			if err != nil {
				t.Fatalf("Setup: %v", err)
			}
			defer shutdownTel(t, tel)
			ctx, span := crstel.Action(crstel.WithTask(context.Background(), task1), crs.Building, "build", nil)
			defer span.End()
			carrier := propagation.MapCarrier{}
			otel.GetTextMapPropagator().Inject(ctx, carrier)
			keys := carrier.Keys()
			slices.Sort(keys)
			if !slices.Equal(keys, tt.wantKeys) {
				t.Errorf("injected %q, want %q", keys, tt.wantKeys)
			}
			if got := strings.Contains(logs.String(), "leaves out baggage"); got != tt.warn {
				t.Errorf("logger got %q; want a warning about baggage: %t", logs.String(), tt.warn)
			}
		})
	}
}
