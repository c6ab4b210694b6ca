package crstel_test

import (
	"context"
	"log"
	"math"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr/funcr"
	"github.com/go-logr/stdr"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	otellog "go.opentelemetry.io/otel/log"
	logglobal "go.opentelemetry.io/otel/log/global"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/crstel/crstel"
	"github.com/crstel/crstel/crsteltest"
	"github.com/crstel/crstel/genai"
	"github.com/crstel/crstel/internal/envconfig"
	"github.com/crstel/crstel/internal/otlptest"
	"github.com/crstel/crstel/internal/violation"
)

// The tests of Setup's environment: every variable crstel or the
// OpenTelemetry SDK reads is checked once, by internal/envconfig, and a bad
// value is one Setup error naming it, never a crash, never a silent
// fallback, never a header value printed.

// envSecret is a credential the tests put in header variables and options.
// Its '/' makes it no valid header key, so that no message may show it.
const envSecret = "sk-live/S3CR3T/0123456789abcdef"

// envOutput is everything Setup could print through: stderr (the file
// descriptor, where the SDK's default logger and error handler write), the
// SDK's logger at its highest verbosity, otel.Handle, and crstel's slog
// logger.
type envOutput struct {
	stderr  func() string
	otelLog *setupBuffer
	errs    *crsteltest.ErrorLog
	slog    *setupBuffer
}

// envCapture starts capturing what a test's Setup prints; errs is the log
// setupIsolate returned.
func envCapture(t *testing.T, errs *crsteltest.ErrorLog) (*envOutput, crstel.Option) {
	t.Helper()
	o := &envOutput{stderr: envCaptureStderr(t), otelLog: &setupBuffer{}, errs: errs}
	otel.SetLogger(funcr.New(func(prefix, args string) {
		_, _ = o.otelLog.Write([]byte(prefix + " " + args + "\n"))
	}, funcr.Options{Verbosity: 100}))
	t.Cleanup(envRestoreLogger)
	logger, buf := setupLogger()
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
// setupIsolate), calls Setup with opts and the capture's logger, and shuts
// the result down. It returns Setup's error and everything printed.
func envSetup(t *testing.T, env map[string]string, opts ...crstel.Option) (error, string) {
	t.Helper()
	errs := setupIsolate(t)
	for k, v := range env {
		t.Setenv(k, v)
	}
	out, logger := envCapture(t, errs)
	before := otel.GetTracerProvider()
	tel, err := crstel.Setup(context.Background(), append(opts, logger)...)
	if err == nil {
		if e := setupShutdown(t, tel); e != nil {
			t.Errorf("Shutdown: %v", e)
		}
	} else if otel.GetTracerProvider() != before {
		t.Error("a failed Setup installed a tracer provider")
	}
	return err, out.all()
}

// envHeaderVars are the variables that hold headers.
var envHeaderVars = []string{envconfig.Headers, envconfig.TracesHeaders, envconfig.MetricsHeaders, envconfig.LogsHeaders}

// TestSetupHeaderValuesNeverAppear backs the README's promise that header
// values and credentials never appear in crstel's errors, logs or output.
// A malformed header variable, or a header option gRPC would refuse, is a
// Setup error naming the variable or option and the key, never the value:
// not the broken entry's, not a valid secret next to it. Nothing reaches
// stderr, the SDK's logger, otel.Handle or the logger. (The OTLP exporters'
// own parsers print the whole value, token included, and Setup used to
// succeed and export without credentials.)
func TestSetupHeaderValuesNeverAppear(t *testing.T) {
	type tc struct {
		name string
		env  map[string]string
		opts []crstel.Option
		want []string // what the error names
	}
	var cases []tc
	for _, v := range envHeaderVars {
		for _, h := range []struct{ name, value, want string }{
			{"colon instead of =", "Authorization: Bearer " + envSecret, "entry 1 has no '='"},
			{"valid secret next to a broken entry", "x-api-key=" + envSecret + ",Authorization: Bearer " + envSecret, "entry 2 has no '='"},
			{"broken entry before a valid secret", "Authorization Bearer,x-api-key=" + envSecret, "entry 1 has no '='"},
			{"secret where the key goes", "Authorization: Basic " + envSecret + "==", "entry 1: the key has a byte gRPC refuses"},
			{"CR LF in the value", "x-api-key=" + envSecret + "%0D%0AX-Injected:%201", `the value of "x-api-key" has a byte gRPC refuses`},
			{"NUL in the value", "x-api-key=%00" + envSecret, `the value of "x-api-key" has a byte gRPC refuses`},
			{"not ASCII", "x-api-key=caf%C3%A9" + envSecret, "not ASCII"},
			{"bad escape", "x-api-key=" + envSecret + "%zz", `the value of "x-api-key" has a bad %-escape`},
			{"trailing comma", "x-api-key=" + envSecret + ",", "entry 2 is empty"},
			{"key twice", "x-api-key=" + envSecret + ",X-API-Key=" + envSecret, `"X-API-Key" is given twice`},
			{"reserved key", "te=" + envSecret, `"te" is reserved`},
		} {
			cases = append(cases, tc{name: v + "/" + h.name, env: map[string]string{v: h.value}, want: []string{v + ": ", h.want}})
		}
	}
	cases = append(cases,
		tc{name: "WithHeaders CR LF", opts: []crstel.Option{crstel.WithHeaders(map[string]string{"x-api-key": envSecret + "\r\nx-injected: 1"})},
			want: []string{"WithHeaders", `"x-api-key"`, "CR, LF"}},
		tc{name: "WithHeaders NUL", opts: []crstel.Option{crstel.WithHeaders(map[string]string{"x-api-key": "\x00" + envSecret})},
			want: []string{"WithHeaders", `"x-api-key"`}},
		tc{name: "WithHeaders not ASCII", opts: []crstel.Option{crstel.WithHeaders(map[string]string{"x-api-key": "é" + envSecret})},
			want: []string{"WithHeaders", `"x-api-key"`}},
		tc{name: "WithHeaders secret as a key", opts: []crstel.Option{crstel.WithHeaders(map[string]string{"Bearer " + envSecret: "x"})},
			want: []string{"WithHeaders", "the key has a byte gRPC refuses"}},
		tc{name: "WithHeaders reserved key", opts: []crstel.Option{crstel.WithHeaders(map[string]string{"Content-Type": envSecret})},
			want: []string{"WithHeaders", `"Content-Type" is reserved`}},
		tc{name: "WithBasicAuth newline", opts: []crstel.Option{crstel.WithBasicAuth("crs", envSecret+"\n")},
			want: []string{"WithBasicAuth", "control character"}},
		tc{name: "WithBasicAuth colon in the user", opts: []crstel.Option{crstel.WithBasicAuth("crs:"+envSecret, "x")},
			want: []string{"WithBasicAuth", "':'"}},
		tc{name: "endpoint with user info", env: map[string]string{envconfig.Endpoint: "http://crs:S3CR3T-pw@127.0.0.1:4317"},
			want: []string{envconfig.Endpoint + `="http://127.0.0.1:4317": credentials in the URL are not sent`}},
		tc{name: "endpoint with a token in the query", env: map[string]string{envconfig.LogsEndpoint: "http://127.0.0.1:4317?token=" + envSecret},
			want: []string{envconfig.LogsEndpoint + `="http://127.0.0.1:4317": a query`}},
		tc{name: "endpoint without scheme, with user info", env: map[string]string{envconfig.TracesEndpoint: "crs:" + envSecret + "@127.0.0.1:4317"},
			want: []string{envconfig.TracesEndpoint + `="127.0.0.1:4317"`}},
		tc{name: "endpoint with user info, unparsable", env: map[string]string{envconfig.Endpoint: "http://crs:" + envSecret + "@127.0.0.1:4317"},
			want: []string{envconfig.Endpoint + `="http://127.0.0.1:4317": want a URL`}},
		tc{name: "WithEndpoint with user info", opts: []crstel.Option{crstel.WithEndpoint("http://crs:S3CR3T-pw@127.0.0.1:4317")},
			want: []string{`WithEndpoint("http://127.0.0.1:4317")`, "credentials in the URL"}},
		tc{name: "WithEndpoint unparsable, with user info", opts: []crstel.Option{crstel.WithEndpoint("http://crs:" + envSecret + "@127.0.0.1:4317/%zz")},
			want: []string{"WithEndpoint"}},
	)
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{envconfig.Endpoint: "http://127.0.0.1:1", envconfig.ServiceName: "patcher"}
			for k, v := range tt.env {
				env[k] = v
			}
			err, out := envSetup(t, env, tt.opts...)
			if err == nil {
				t.Fatalf("Setup succeeded, want an error naming %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %s", err, w)
				}
			}
			if strings.Contains(err.Error(), "S3CR3T") {
				t.Errorf("error %q shows the secret", err)
			}
			if strings.Contains(out, "S3CR3T") {
				t.Errorf("the secret was printed:\n%s", out)
			}
		})
	}
}

// TestSetupValidHeadersNeverAppear: valid credentials in every header
// variable reach the collector with spans, metrics and logs, and appear
// nowhere, not even in the SDK's most verbose logs.
func TestSetupValidHeadersNeverAppear(t *testing.T) {
	errs := setupIsolate(t)
	srv := otlptest.NewServer(t, otlptest.WithBasicAuth("crs", envSecret))
	auth := setupBasic("crs", envSecret)
	t.Setenv(envconfig.Endpoint, srv.URL())
	for _, v := range envHeaderVars {
		t.Setenv(v, "Authorization="+strings.ReplaceAll(auth, " ", "%20")+",x-api-key="+envSecret)
	}
	out, logger := envCapture(t, errs)
	tel, err := crstel.Setup(context.Background(), crstel.WithServiceName("patcher"), logger)
	if err != nil {
		t.Fatalf("Setup: %v", err)
	}
	setupRunTask(context.Background())
	var rec otellog.Record
	rec.SetBody(attribute.StringValue("a log record"))
	logglobal.GetLoggerProvider().Logger("t").Emit(context.Background(), rec)
	if err := setupShutdown(t, tel); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	printed := out.all()
	if n := len(srv.Received()); n != 2 {
		t.Errorf("server received %d spans, want 2", n)
	}
	for i, md := range srv.Headers() {
		if got := md.Get("authorization"); len(got) != 1 || got[0] != auth {
			t.Errorf("export call %d: authorization = %q, want the header of the variables", i, got)
		}
	}
	if n := len(srv.Logs()); n != 1 {
		t.Errorf("server accepted %d log records, want 1 (with the credentials)", n)
	}
	if n := srv.MetricRequests(); n == 0 {
		t.Error("server got no metric export")
	}
	if strings.Contains(printed, "S3CR3T") {
		t.Errorf("the secret was printed:\n%s", printed)
	}
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
			err, out := envSetup(t, tt.env, opts...)
			if err == nil {
				t.Fatalf("Setup succeeded, want an error naming %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %s", err, w)
				}
			}
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
			if err, out := envSetup(t, tt.env, opts...); err != nil {
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
			err, out := envSetup(t, env, crstel.WithServiceName("patcher"))
			if err == nil {
				t.Fatalf("Setup succeeded, want an error naming %q", tt.want)
			}
			if n := strings.Count(err.Error(), "crstel: invalid environment"); n != 1 {
				t.Errorf("error %q: want one error", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %s", err, w)
				}
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
	anything := []string{envconfig.ServiceName, envconfig.TraceDir} // any value is valid
	for _, v := range envconfig.Vars {
		if slices.Contains(anything, v.Name) {
			continue
		}
		t.Run(v.Name, func(t *testing.T) {
			setupIsolate(t)
			t.Setenv(v.Name, "!not valid!")
			tel, err := crstel.Setup(context.Background(), crstel.WithExporter(tracetest.NewInMemoryExporter()))
			if err == nil {
				_ = setupShutdown(t, tel)
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
			setupIsolate(t)
			srv := otlptest.NewServer(t)
			t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", srv.URL())
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			tel, err := crstel.Setup(context.Background(), crstel.WithServiceName("patcher"))
			if tt.wantErr != "" {
				if err == nil {
					_ = setupShutdown(t, tel)
					t.Fatalf("Setup succeeded, want an error naming %s", tt.wantErr)
				}
				if !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("error %q does not name %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Setup: %v", err)
			}
			setupRunTask(context.Background())
			if err := setupShutdown(t, tel); err != nil {
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
	errs := setupIsolate(t)
	srv := otlptest.NewServer(t, otlptest.WithBasicAuth("crs", "s3cret"))
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", srv.URL())
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "Authorization="+strings.ReplaceAll(setupBasic("crs", "s3cret"), " ", "%20"))
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "gzip")
	tel := setupStart(t, crstel.WithServiceName("patcher"))
	setupRunTask(context.Background())
	var rec otellog.Record
	rec.SetBody(attribute.StringValue("a log record"))
	logglobal.GetLoggerProvider().Logger("t").Emit(context.Background(), rec)
	if err := setupShutdown(t, tel); err != nil {
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
	errs := setupIsolate(t)
	srv := otlptest.NewServer(t)
	t.Setenv("OTEL_TRACES_EXPORTER", "none")
	t.Setenv("OTEL_METRICS_EXPORTER", "otlp")
	t.Setenv("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", srv.URL())
	tel := setupStart(t, crstel.WithServiceName("patcher"))
	if err := setupShutdown(t, tel); err != nil {
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
	err, _ := envSetup(t, nil, crstel.WithEndpoint("https://127.0.0.1:1"), crstel.WithInsecure())
	if err == nil || !strings.Contains(err.Error(), `WithInsecure contradicts WithEndpoint("https://127.0.0.1:1")`) {
		t.Errorf("Setup: %v, want an error naming WithInsecure and WithEndpoint", err)
	}
	if err, out := envSetup(t, nil, crstel.WithEndpoint("127.0.0.1:1"), crstel.WithInsecure(), crstel.WithMetricReader(sdkmetric.NewManualReader())); err != nil {
		t.Errorf("WithEndpoint(host:port) with WithInsecure: %v\n%s", err, out)
	}
}

// envSeeds are the seed corpus of FuzzSetupEnv and the inputs of
// TestSetupEnvNeverPanics: the cases of the hardening issue and their
// kin, each a list of variables and values.
var envSeeds = [][]string{
	{envconfig.Headers, "Authorization: Bearer " + envSecret, envconfig.Endpoint, "http://127.0.0.1:1"},
	{envconfig.TracesHeaders, "x-ok=" + envSecret + ",Authorization: Bearer " + envSecret, envconfig.TracesEndpoint, "http://127.0.0.1:1"},
	{envconfig.MetricsHeaders, "k=%zz", envconfig.LogsHeaders, "k=a%0D%0Ab", envconfig.TracesExporter, "otlp"},
	{envconfig.Headers, "Authorization=Bearer%20" + envSecret, envconfig.Endpoint, "http://127.0.0.1:1"},
	{envconfig.BSPMaxQueueSize, "2000000000"},
	{envconfig.BSPMaxQueueSize, "9223372036854775807", envconfig.BSPMaxExportBatchSize, "9223372036854775807"},
	{envconfig.BLRPMaxQueueSize, "2000000000", envconfig.LogsExporter, "otlp"},
	{envconfig.QueueBytes, "9223372036854775807"},
	{envconfig.Timeout, "abc", envconfig.Endpoint, "http://127.0.0.1:1"},
	{envconfig.Compression, "zstd"},
	{envconfig.Certificate, "/nonexistent"},
	{envconfig.Certificate, "/dev/zero", envconfig.Endpoint, "https://127.0.0.1:1"},
	{envconfig.Insecure, "maybe"},
	{envconfig.ResourceAttributes, "a=%zz"},
	{envconfig.Endpoint, "http://crs:" + envSecret + "@127.0.0.1:1"},
	{envconfig.TracesSampler, "traceidratio", envconfig.TracesSamplerArg, "NaN"},
	{envconfig.TracesSampler, "parentbased_traceidratio", envconfig.TracesSamplerArg, "0.5", envconfig.Endpoint, "http://127.0.0.1:1"},
	{envconfig.SpanAttributeCountLimit, "-1", envconfig.MetricExportInterval, "1", envconfig.BSPScheduleDelay, "1"},
	{envconfig.Overdue, "llm=10m,building=0", envconfig.Strict, "1", envconfig.QueueFull, "block"},
	{envconfig.TracesExporter, "console", envconfig.Propagators, "b3,baggage"},
	{envconfig.GenAICapture, "ture", envconfig.GoXObservability, "true"},
}

// envSeed encodes pairs as FuzzSetupEnv takes them: for each variable, its
// index in envconfig.Vars plus 1 in a byte, its value, and a NUL (which no
// variable holds).
func envSeed(pairs ...string) string {
	var b strings.Builder
	for i := 0; i+1 < len(pairs); i += 2 {
		j := slices.IndexFunc(envconfig.Vars, func(v envconfig.Var) bool { return v.Name == pairs[i] })
		b.WriteByte(byte(j + 1))
		b.WriteString(pairs[i+1])
		b.WriteByte(0)
	}
	return b.String()
}

// FuzzSetupEnv sets random values to the variables crstel reads and calls
// Setup: it returns an error or succeeds, never panics or exits, returns an
// error exactly when envconfig.Read does, and never prints a header value
// (each headers variable holds a marker secret besides the random value).
// No connection is made: the span and log exporters dial lazily and have
// nothing to send, and metrics go to a manual reader.
func FuzzSetupEnv(f *testing.F) {
	for _, s := range envSeeds {
		f.Add(envSeed(s...))
	}
	f.Fuzz(func(t *testing.T, data string) {
		envRun(t, data)
	})
}

// TestSetupEnvNeverPanics backs the README's promise that Setup never
// panics or exits, whatever the environment: the seed corpus of
// FuzzSetupEnv, with stderr captured at its file descriptor, and every
// goroutine Setup started ended after Shutdown.
func TestSetupEnvNeverPanics(t *testing.T) {
	setupIsolate(t)
	stderr := envCaptureStderr(t)
	for _, s := range envSeeds {
		envRun(t, envSeed(s...))
	}
	if out := stderr(); strings.Contains(out, "S3CR3T") {
		t.Errorf("stderr shows a secret:\n%s", out)
	}
}

// envRun is one run of FuzzSetupEnv.
func envRun(t *testing.T, data string) {
	for _, v := range envconfig.Vars {
		t.Setenv(v.Name, "")
		os.Unsetenv(v.Name)
	}
	env := map[string]string{}
	for part := range strings.SplitSeq(data, "\x00") {
		if part != "" {
			env[envconfig.Vars[(int(part[0])-1)%len(envconfig.Vars)].Name] = part[1:]
		}
	}
	public := "" // the values that may show
	for name, v := range env {
		if vr, _ := envconfig.LookupVar(name); vr.Secret {
			v += ",x-fuzz=" + envSecret
		} else {
			public += v
		}
		if strings.ContainsRune(v, 0) {
			return
		}
		t.Setenv(name, v)
	}
	_, readErr := envconfig.Read(nil)

	// Everything Setup could print through.
	prevTP, prevMP, prevLP, prevProp := otel.GetTracerProvider(), otel.GetMeterProvider(), logglobal.GetLoggerProvider(), otel.GetTextMapPropagator()
	var printed setupBuffer
	otel.SetLogger(funcr.New(func(prefix, args string) { _, _ = printed.Write([]byte(prefix + " " + args + "\n")) }, funcr.Options{Verbosity: 100}))
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) { _, _ = printed.Write([]byte(err.Error() + "\n")) }))
	stderr := os.Stderr
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	os.Stderr = w
	var wg sync.WaitGroup
	wg.Go(func() {
		b := make([]byte, 4096)
		for {
			n, err := r.Read(b)
			_, _ = printed.Write(b[:n])
			if err != nil {
				return
			}
		}
	})
	logger, logs := setupLogger()

	tel, err := crstel.Setup(context.Background(), crstel.WithLogger(logger), crstel.WithoutJournal(), crstel.WithMetricReader(sdkmetric.NewManualReader()))
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if e := tel.Shutdown(ctx); e != nil && !strings.Contains(e.Error(), "spans were not exported") {
			t.Errorf("Shutdown: %v", e)
		}
		cancel()
		violation.SetStrict(false)
	}

	os.Stderr = stderr
	_ = w.Close()
	wg.Wait()
	_ = r.Close()
	envRestoreLogger()
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) { log.Print(err) }))
	if !setupSame(otel.GetTracerProvider(), prevTP) {
		otel.SetTracerProvider(prevTP)
	}
	if !setupSame(otel.GetMeterProvider(), prevMP) {
		otel.SetMeterProvider(prevMP)
	}
	if !setupSame(logglobal.GetLoggerProvider(), prevLP) {
		logglobal.SetLoggerProvider(prevLP)
	}
	if !setupSame(otel.GetTextMapPropagator(), prevProp) {
		otel.SetTextMapPropagator(prevProp)
	}

	switch {
	case (err == nil) != (readErr == nil):
		t.Errorf("Setup: %v; envconfig.Read: %v; want both to fail or neither", err, readErr)
	case err != nil && !strings.HasPrefix(err.Error(), "crstel: "):
		t.Errorf("error %q lacks the crstel prefix", err)
	}
	if strings.Contains(public, "S3CR3T") {
		return // the secret is in a variable whose value may show
	}
	if err != nil && strings.Contains(err.Error(), "S3CR3T") {
		t.Errorf("Setup error shows a header value: %v", err)
	}
	if out := printed.String() + logs.String(); strings.Contains(out, "S3CR3T") {
		t.Errorf("a header value was printed:\n%s", out)
	}
}
