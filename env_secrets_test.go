package crstel_test

import (
	"context"
	"log"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr/funcr"
	"go.opentelemetry.io/otel"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/crstel/crstel"
	"github.com/crstel/crstel/internal/envconfig"
	"github.com/crstel/crstel/internal/otlptest"
	"github.com/crstel/crstel/internal/violation"
)

// The README's promises about the environment, whatever it holds: header
// values and credentials never appear in crstel's errors, logs or output,
// and Setup never panics or exits. FuzzSetupEnv searches for a breach.

// envSecret is a credential the tests put in header variables and options.
// Its '/' makes it no valid header key, so that no message may show it.
const envSecret = "sk-live/S3CR3T/0123456789abcdef"

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
			out, err := envSetup(t, env, tt.opts...)
			wantSetupError(t, nil, err, tt.want...)
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
	errs := isolate(t)
	srv := otlptest.NewServer(t, otlptest.WithBasicAuth("crs", envSecret))
	auth := basicAuth("crs", envSecret)
	t.Setenv(envconfig.Endpoint, srv.URL())
	for _, v := range envHeaderVars {
		t.Setenv(v, "Authorization="+strings.ReplaceAll(auth, " ", "%20")+",x-api-key="+envSecret)
	}
	out, logger := envCapture(t, errs)
	tel, err := crstel.Setup(context.Background(), crstel.WithServiceName("patcher"), logger)
	if err != nil {
		t.Fatalf("Setup: %v", err)
	}
	runTask(context.Background())
	emitLogRecord("a log record")
	if err := shutdownTel(t, tel); err != nil {
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
	{envconfig.MetricsExporter, "Prometheus,otlp", envconfig.Endpoint, "http://127.0.0.1:1"},
	{envconfig.MetricsExporter, "none,prometheus", envconfig.PrometheusHost, "[::1]"},
	{envconfig.PrometheusPort, "65536", envconfig.PrometheusHost, "0.0.0.0"},
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
	isolate(t)
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
	// A Prometheus endpoint listens on 127.0.0.1 only, on a free port: not
	// on another interface, nor on a port another test holds. Its variables
	// are fuzzed without it (and go through TestReadEveryVariable).
	if strings.Contains(strings.ToLower(env[envconfig.MetricsExporter]), "prometheus") {
		env[envconfig.PrometheusHost], env[envconfig.PrometheusPort] = "127.0.0.1", "0"
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
	prevTP, prevMP, prevLP, prevProp := otel.GetTracerProvider(), otel.GetMeterProvider(), otel.GetLoggerProvider(), otel.GetTextMapPropagator()
	var printed syncBuffer
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
	logger, logs := textLogger()

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
	if !sameValue(otel.GetTracerProvider(), prevTP) {
		otel.SetTracerProvider(prevTP)
	}
	if !sameValue(otel.GetMeterProvider(), prevMP) {
		otel.SetMeterProvider(prevMP)
	}
	if !sameValue(otel.GetLoggerProvider(), prevLP) {
		otel.SetLoggerProvider(prevLP)
	}
	if !sameValue(otel.GetTextMapPropagator(), prevProp) {
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
