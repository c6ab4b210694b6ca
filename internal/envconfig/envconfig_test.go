package envconfig_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/contrib/propagators/autoprop"
	"go.opentelemetry.io/otel/attribute"

	"github.com/crstel/crstel/internal/envconfig"
)

// env is a fake environment; a key present with any value is set.
type env map[string]string

func (e env) lookup(name string) (string, bool) {
	v, ok := e[name]
	return v, ok
}

// otlp returns the same settings for traces, metrics and logs.
func otlp(c envconfig.Config, o envconfig.OTLP) envconfig.Config {
	c.Traces, c.Metrics, c.Logs = o, o, o
	return c
}

// checkErr checks that err is nil if want is, and otherwise names every
// string of want and none of notIn.
func checkErr(t *testing.T, err error, want, notIn []string) {
	t.Helper()
	if want == nil {
		if err != nil {
			t.Fatalf("Read: %v, want no error", err)
		}
		return
	}
	if err == nil {
		t.Fatalf("Read: no error, want one naming %q", want)
	}
	for _, s := range want {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not name %s", err, s)
		}
	}
	for _, s := range notIn {
		if strings.Contains(err.Error(), s) {
			t.Errorf("error %q names %s", err, s)
		}
	}
	if !strings.HasPrefix(err.Error(), "crstel: invalid environment: ") {
		t.Errorf("error %q lacks the crstel prefix", err)
	}
}

func TestRead(t *testing.T) {
	plain := envconfig.OTLP{Endpoint: "http://collector:4317", EndpointVar: envconfig.Endpoint, Insecure: true}
	for _, tt := range []struct {
		name string
		env  env
		want envconfig.Config
		// wantErr lists what the error must name; nil means no error.
		wantErr []string
		// notInErr lists what the error must not name.
		notInErr []string
	}{
		{name: "nothing set", env: env{}, want: envconfig.Config{}},
		{
			name: "empty and blank values are unset",
			env: func() env {
				e := env{}
				for i, v := range envconfig.Vars {
					if !v.Raw {
						e[v.Name] = strings.Repeat(" \t", i%2)
					} else {
						e[v.Name] = ""
					}
				}
				return e
			}(),
			want: envconfig.Config{},
		},

		{name: "strict 1", env: env{"CRSTEL_STRICT": "1"}, want: envconfig.Config{Strict: true, StrictSet: true}},
		{name: "strict TRUE padded", env: env{"CRSTEL_STRICT": " TRUE "}, want: envconfig.Config{Strict: true, StrictSet: true}},
		{name: "strict 0", env: env{"CRSTEL_STRICT": "0"}, want: envconfig.Config{StrictSet: true}},
		{name: "strict false", env: env{"CRSTEL_STRICT": "false"}, want: envconfig.Config{StrictSet: true}},
		{name: "strict yes", env: env{"CRSTEL_STRICT": "yes"}, wantErr: []string{"CRSTEL_STRICT", `"yes"`}},

		{name: "queue full block", env: env{"CRSTEL_QUEUE_FULL": "block"}, want: envconfig.Config{QueueFull: "block"}},
		{name: "queue full DROP", env: env{"CRSTEL_QUEUE_FULL": "DROP"}, want: envconfig.Config{QueueFull: "drop"}},
		{name: "queue full wait", env: env{"CRSTEL_QUEUE_FULL": "wait"}, wantErr: []string{"CRSTEL_QUEUE_FULL", `"wait"`}},

		{name: "queue bytes", env: env{"CRSTEL_QUEUE_BYTES": "67108864"}, want: envconfig.Config{QueueBytes: 64 << 20}},
		{name: "heartbeat", env: env{"CRSTEL_HEARTBEAT": "2s"}, want: envconfig.Config{Heartbeat: 2 * time.Second}},
		{name: "heartbeat off", env: env{"CRSTEL_HEARTBEAT": " Off "}, want: envconfig.Config{HeartbeatOff: true}},
		{name: "heartbeat 0", env: env{"CRSTEL_HEARTBEAT": "0"}, wantErr: []string{"CRSTEL_HEARTBEAT", `"0"`, "from 100ms to 1h", `"off"`}},
		{name: "heartbeat without unit", env: env{"CRSTEL_HEARTBEAT": "5"}, wantErr: []string{"CRSTEL_HEARTBEAT", `"5"`, "such as 5s"}},
		{name: "heartbeat max", env: env{"CRSTEL_HEARTBEAT_MAX": "50"}, want: envconfig.Config{HeartbeatMax: 50}},
		{name: "heartbeat max 0", env: env{"CRSTEL_HEARTBEAT_MAX": "0"}, wantErr: []string{"CRSTEL_HEARTBEAT_MAX", `"0"`, "1 to 262144 (actions)"}},
		{name: "queue bytes 0", env: env{"CRSTEL_QUEUE_BYTES": "0"}, wantErr: []string{"CRSTEL_QUEUE_BYTES", `"0"`, "65536 to 68719476736"}},
		{name: "queue bytes 64MiB", env: env{"CRSTEL_QUEUE_BYTES": "64MiB"}, wantErr: []string{"CRSTEL_QUEUE_BYTES", `"64MiB"`, "bytes"}},

		{name: "audit dir trimmed", env: env{"CRSTEL_AUDIT_DIR": " /var/tmp/crs audit\n"}, want: envconfig.Config{AuditDir: "/var/tmp/crs audit"}},
		{name: "trace dir trimmed", env: env{"CRSTEL_TRACE_DIR": " /var/tmp/crs traces\n"}, want: envconfig.Config{TraceDir: "/var/tmp/crs traces"}},

		{
			name: "service name trimmed",
			env:  env{"OTEL_SERVICE_NAME": " patcher\n"},
			want: envconfig.Config{ServiceName: "patcher", Resource: []attribute.KeyValue{attribute.String("service.name", "patcher")}},
		},
		{
			name: "resource attributes, then the service name",
			env:  env{"OTEL_RESOURCE_ATTRIBUTES": " team=blue, note = a%20b ,service.name=x", "OTEL_SERVICE_NAME": "patcher"},
			want: envconfig.Config{ServiceName: "patcher", Resource: []attribute.KeyValue{
				attribute.String("team", "blue"), attribute.String("note", "a b"),
				attribute.String("service.name", "x"), attribute.String("service.name", "patcher"),
			}},
		},

		{name: "exporter otlp", env: env{"OTEL_TRACES_EXPORTER": "otlp"}, want: envconfig.Config{TracesExporter: "otlp"}},
		{name: "exporter Console", env: env{"OTEL_TRACES_EXPORTER": "Console"}, want: envconfig.Config{TracesExporter: "console"}},
		{name: "exporter none", env: env{"OTEL_TRACES_EXPORTER": "none"}, want: envconfig.Config{TracesExporter: "none"}},
		{name: "exporter zipkin", env: env{"OTEL_TRACES_EXPORTER": "zipkin"}, wantErr: []string{"OTEL_TRACES_EXPORTER", `"zipkin"`}},
		{name: "exporter list", env: env{"OTEL_TRACES_EXPORTER": "otlp,console"}, wantErr: []string{"OTEL_TRACES_EXPORTER", `"otlp,console"`}},

		{name: "protocol grpc", env: env{"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, want: envconfig.Config{}},
		{
			// The SDK takes "grpc" only, and logs anything else.
			name:    "protocol GRPC",
			env:     env{"OTEL_EXPORTER_OTLP_PROTOCOL": "GRPC"},
			wantErr: []string{`OTEL_EXPORTER_OTLP_PROTOCOL="GRPC"`},
		},
		{
			name:    "protocol http/protobuf",
			env:     env{"OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"},
			wantErr: []string{"OTEL_EXPORTER_OTLP_PROTOCOL", `"http/protobuf"`},
		},
		{
			name:    "traces protocol http/json",
			env:     env{"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/json"},
			wantErr: []string{"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", `"http/json"`},
		},
		{
			name: "traces protocol grpc wins over protocol http/protobuf, with no metrics or logs",
			env: env{"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "grpc", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
				"OTEL_METRICS_EXPORTER": "none", "OTEL_LOGS_EXPORTER": "none"},
			want: envconfig.Config{MetricsExporter: "none", LogsExporter: "none"},
		},
		{
			name:     "protocol http/protobuf applies to metrics and logs",
			env:      env{"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "grpc", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"},
			wantErr:  []string{`OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf"`},
			notInErr: []string{"TRACES_PROTOCOL"},
		},
		{
			name: "every signal's own protocol grpc",
			env: env{"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "grpc", "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL": "grpc",
				"OTEL_EXPORTER_OTLP_LOGS_PROTOCOL": "grpc", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"},
			want: envconfig.Config{},
		},
		{
			name:     "traces protocol http/protobuf wins over protocol grpc",
			env:      env{"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/protobuf", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"},
			wantErr:  []string{"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", `"http/protobuf"`},
			notInErr: []string{"OTEL_EXPORTER_OTLP_PROTOCOL="},
		},
		{
			name: "traces protocol http/protobuf with traces to the console",
			env:  env{"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/protobuf", "OTEL_TRACES_EXPORTER": "console"},
			want: envconfig.Config{TracesExporter: "console"},
		},

		{name: "endpoint", env: env{"OTEL_EXPORTER_OTLP_ENDPOINT": " http://collector:4317 "}, want: otlp(envconfig.Config{}, plain)},
		{
			name: "traces endpoint wins for traces",
			env:  env{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://a:4317", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "https://b:4317"},
			want: envconfig.Config{
				Traces:  envconfig.OTLP{Endpoint: "https://b:4317", EndpointVar: envconfig.TracesEndpoint},
				Metrics: envconfig.OTLP{Endpoint: "http://a:4317", EndpointVar: envconfig.Endpoint, Insecure: true},
				Logs:    envconfig.OTLP{Endpoint: "http://a:4317", EndpointVar: envconfig.Endpoint, Insecure: true},
			},
		},
		{
			name: "blank traces endpoint is unset",
			env:  env{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4317", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": " "},
			want: otlp(envconfig.Config{}, plain),
		},
		{
			name:    "endpoint without scheme",
			env:     env{"OTEL_EXPORTER_OTLP_ENDPOINT": "127.0.0.1:4317"},
			wantErr: []string{"OTEL_EXPORTER_OTLP_ENDPOINT", `"127.0.0.1:4317"`, "http://127.0.0.1:4317"},
		},
		{
			name:     "endpoint with credentials redacted",
			env:      env{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "user:pa55w0rd@collector:4317"},
			wantErr:  []string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "collector:4317"},
			notInErr: []string{"pa55w0rd", "user"},
		},
		{
			name: "header values are secrets",
			env:  env{"OTEL_EXPORTER_OTLP_HEADERS": "Authorization=Basic%20Y3JzOnMzY3JldA==,x-key=k1"},
			want: otlp(envconfig.Config{Secrets: []string{"Basic%20Y3JzOnMzY3JldA==", "Basic Y3JzOnMzY3JldA==", "k1"}},
				envconfig.OTLP{Headers: map[string]string{"Authorization": "Basic Y3JzOnMzY3JldA==", "x-key": "k1"}}),
		},
		{
			name: "timeout and compression",
			env:  env{"OTEL_EXPORTER_OTLP_TIMEOUT": "2500", "OTEL_EXPORTER_OTLP_COMPRESSION": "gzip"},
			want: otlp(envconfig.Config{}, envconfig.OTLP{Timeout: 2500 * time.Millisecond, Compression: "gzip"}),
		},
		{
			name: "bsp sizes and times",
			env: env{"OTEL_BSP_MAX_QUEUE_SIZE": "4096", "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "512",
				"OTEL_BSP_SCHEDULE_DELAY": "250", "OTEL_BSP_EXPORT_TIMEOUT": "30000"},
			want: envconfig.Config{BSP: envconfig.Batch{QueueSize: 4096, BatchSize: 512, ScheduleDelay: 250 * time.Millisecond, ExportTimeout: 30 * time.Second}},
		},
		{
			name: "blrp sizes and times",
			env: env{"OTEL_BLRP_MAX_QUEUE_SIZE": "4096", "OTEL_BLRP_MAX_EXPORT_BATCH_SIZE": "512",
				"OTEL_BLRP_SCHEDULE_DELAY": "250", "OTEL_BLRP_EXPORT_TIMEOUT": "30000"},
			want: envconfig.Config{BLRP: envconfig.Batch{QueueSize: 4096, BatchSize: 512, ScheduleDelay: 250 * time.Millisecond, ExportTimeout: 30 * time.Second}},
		},
		{name: "bsp queue size 0", env: env{"OTEL_BSP_MAX_QUEUE_SIZE": "0"}, wantErr: []string{"OTEL_BSP_MAX_QUEUE_SIZE", `"0"`}},
		{name: "bsp queue size -1", env: env{"OTEL_BSP_MAX_QUEUE_SIZE": "-1"}, wantErr: []string{"OTEL_BSP_MAX_QUEUE_SIZE", `"-1"`}},
		{name: "bsp batch size abc", env: env{"OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "abc"}, wantErr: []string{"OTEL_BSP_MAX_EXPORT_BATCH_SIZE", `"abc"`}},
		{
			name:    "bsp batch size overflow",
			env:     env{"OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "99999999999999999999"},
			wantErr: []string{"OTEL_BSP_MAX_EXPORT_BATCH_SIZE", `"99999999999999999999"`},
		},

		{
			name: "every problem reported, valid parts kept",
			env: env{
				"CRSTEL_STRICT":               "maybe",
				"OTEL_TRACES_EXPORTER":        "jaeger",
				"OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
				"OTEL_BSP_MAX_QUEUE_SIZE":     "lots",
				"OTEL_SERVICE_NAME":           "patcher",
				"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4317",
				"CRSTEL_QUEUE_FULL":           "block",
				"OTEL_EXPORTER_OTLP_TIMEOUT":  "abc",
			},
			want: otlp(envconfig.Config{
				ServiceName: "patcher", Resource: []attribute.KeyValue{attribute.String("service.name", "patcher")}, QueueFull: "block",
			}, plain),
			wantErr: []string{
				`CRSTEL_STRICT="maybe"`, `OTEL_TRACES_EXPORTER="jaeger"`,
				`OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf"`, `OTEL_BSP_MAX_QUEUE_SIZE="lots"`,
				`OTEL_EXPORTER_OTLP_TIMEOUT="abc"`,
			},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := envconfig.Read(tt.env.lookup)
			checkErr(t, err, tt.wantErr, tt.notInErr)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Read = %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestReadPropagators(t *testing.T) {
	for _, tt := range []struct {
		value     string
		want      []string
		noBaggage bool
		wantErr   string
	}{
		{value: "tracecontext,baggage", want: []string{"tracecontext", "baggage"}},
		{value: " TraceContext , baggage ,", want: []string{"tracecontext", "baggage"}},
		{value: "b3,baggage", want: []string{"b3", "baggage"}},
		{value: "tracecontext", want: []string{"tracecontext"}, noBaggage: true},
		{value: "none", want: []string{"none"}, noBaggage: true},
		{value: "baggage,none", want: []string{"baggage", "none"}, noBaggage: true},
		{value: "tracecontext,zipkin", wantErr: `OTEL_PROPAGATORS="tracecontext,zipkin": unknown propagator: zipkin`},
	} {
		t.Run(tt.value, func(t *testing.T) {
			got, err := envconfig.Read(env{envconfig.Propagators: tt.value}.lookup)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Read: %v, want an error containing %q", err, tt.wantErr)
				}
				if got.Propagators != nil {
					t.Errorf("Propagators = %q after an error, want nil", got.Propagators)
				}
				return
			}
			if err != nil {
				t.Fatalf("Read: %v", err)
			}
			if !slices.Equal(got.Propagators, tt.want) || got.NoBaggage != tt.noBaggage {
				t.Errorf("Propagators = %q, NoBaggage = %t; want %q, %t", got.Propagators, got.NoBaggage, tt.want, tt.noBaggage)
			}
		})
	}
}

// TestPropagatorNames: the names envconfig accepts are those autoprop
// builds, and no other.
func TestPropagatorNames(t *testing.T) {
	for _, n := range envconfig.PropagatorNames {
		if _, err := autoprop.TextMapPropagator(n); err != nil {
			t.Errorf("autoprop does not build %q: %v", n, err)
		}
	}
	if _, err := autoprop.TextMapPropagator("zipkin"); err == nil {
		t.Error("autoprop builds zipkin, which envconfig refuses")
	}
}

func TestReadNilLookupUsesEnvironment(t *testing.T) {
	for _, v := range envconfig.Vars {
		t.Setenv(v.Name, "")
	}
	t.Setenv(envconfig.ServiceName, "from-env")
	t.Setenv(envconfig.TracesExporter, "none")
	got, err := envconfig.Read(nil)
	if err != nil {
		t.Fatalf("Read(nil): %v", err)
	}
	want := envconfig.Config{ServiceName: "from-env", TracesExporter: "none",
		Resource: []attribute.KeyValue{attribute.String("service.name", "from-env")}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Read(nil) = %+v, want %+v", got, want)
	}
}

// pemFiles are PEM files for the certificate variables.
type pemFiles struct {
	ca, cert, key, garbage, empty, big string
}

// writePEM writes a self-signed certificate (as CA and as client
// certificate), its key, and files that are not PEM, to a temporary folder.
func writePEM(t *testing.T) pemFiles {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "crstel test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	f := pemFiles{
		ca: filepath.Join(dir, "ca.pem"), cert: filepath.Join(dir, "cert.pem"), key: filepath.Join(dir, "key.pem"),
		garbage: filepath.Join(dir, "garbage.pem"), empty: filepath.Join(dir, "empty.pem"), big: filepath.Join(dir, "big.pem"),
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	for path, b := range map[string][]byte{
		f.ca: certPEM, f.cert: certPEM,
		f.key:     pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}),
		f.garbage: []byte("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n"),
		f.empty:   nil,
		f.big:     append([]byte("-----BEGIN CERTIFICATE-----\n"), make([]byte, 5<<20)...),
	} {
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

// varCase is how a test goes through one variable: values it takes and
// values it refuses, each alone, with the variables of with set too.
type varCase struct {
	valid, invalid []string
	with           env
}

// varCases returns a case for every variable of envconfig.Vars.
func varCases(t *testing.T) map[string]varCase {
	f := writePEM(t)
	queue := varCase{valid: []string{"1", "2048", "4194304", "+5"}, invalid: []string{"0", "-1", "4194305", "2000000000", "9223372036854775807", "99999999999999999999", "abc", "1e3", "0x10", "1_000", " 5", "5 "}}
	logQueue := varCase{valid: []string{"1", "2048", "262144"}, invalid: []string{"0", "-1", "262145", "2000000000", "9223372036854775807", "abc", " 5"}}
	ms := varCase{valid: []string{"1", "500", "3600000"}, invalid: []string{"0", "-1", "3600001", "9223372036854775807", "abc", "1s", "1.5", " 5"}}
	attrCount := varCase{valid: []string{"128", "-1", "65536"}, invalid: []string{"0", "127", "-2", "65537", "abc", " 200"}}
	count := varCase{valid: []string{"0", "-1", "65536"}, invalid: []string{"-2", "65537", "abc", " 5"}}
	valueLength := varCase{valid: []string{"4096", "-1", "67108864"}, invalid: []string{"0", "4095", "67108865", "abc", " 5000"}}
	feature := varCase{valid: []string{"true", "TRUE", "false", "False"}, invalid: []string{"1", "yes", "on", " true"}}
	endpoint := varCase{
		valid:   []string{"http://127.0.0.1:4317", "https://collector.example:4317", "HTTP://collector:4317/", "http://[::1]:4317", "https://collector"},
		invalid: []string{"127.0.0.1:4317", "collector", "grpc://collector:4317", "unix:///tmp/otlp.sock", "http://", "http://:4317", "http://collector:0", "http://collector:65536", "http://collector:", "http://collector:abc", "http://user:secret@collector:4317", "http://collector:4317/v1/traces", "http://collector:4317?token=x", "http://collector:4317#x", "http://a b:4317", "http://[::1:4317"},
	}
	headers := varCase{
		valid:   []string{"Authorization=Basic%20Y3JzOnMzY3JldA==", "a=1, b = 2 ", "x-key=", "api-key=a%2Cb", "x-data-bin=%00%01"},
		invalid: []string{"Authorization: Bearer sk-secret", "a=1,", ",a=1", "a=1,,b=2", "=v", " =v", "bad key=v", "k:=v", "k=%zz", "k=%", "k=a%0Db", "k=a%0Ab", "k=%00", "k=caf%C3%A9", "k=\x7f", "a=1,A=2", "content-type=x", "Grpc-Timeout=1S", "te=trailers", "ünï=v"},
	}
	timeout := varCase{valid: []string{"1", "10000", "3600000"}, invalid: []string{"abc", "0", "-5", "10s", "3600001", "9223372036854775807"}}
	compression := varCase{valid: []string{"gzip", "none"}, invalid: []string{"zstd", "GZIP", "deflate", "snappy"}}
	certificate := varCase{valid: []string{f.ca}, invalid: []string{"/nonexistent", f.garbage, f.empty, f.big, f.key, os.TempDir(), "/dev/zero", "/dev/null"}}
	insecure := varCase{valid: []string{"true", "false", "TRUE", "False"}, invalid: []string{"maybe", "1", "yes", "on"}}
	protocol := varCase{valid: []string{"grpc"}, invalid: []string{"http/protobuf", "http/json", "GRPC", "grpc/protobuf"}}

	cases := map[string]varCase{
		envconfig.Strict:     {valid: []string{"1", "true", "0", "false", "TRUE"}, invalid: []string{"yes", "on", "2"}},
		envconfig.QueueFull:  {valid: []string{"block", "drop", "DROP"}, invalid: []string{"wait", "blocking"}},
		envconfig.QueueBytes: {valid: []string{"65536", "268435456", "68719476736"}, invalid: []string{"0", "-1", "65535", "68719476737", "9223372036854775807", "64MiB", "1e9"}},
		envconfig.TraceDir:   {valid: []string{"/var/tmp/crstel", "off", "relative/dir"}},
		envconfig.AuditDir:   {valid: []string{"/var/tmp/crstel-audit", "off", "relative/dir"}},
		envconfig.LLMPrices:  {valid: []string{"../../genai/prices.json"}, invalid: []string{"/nonexistent/prices.json", "../../go.mod", "."}},
		envconfig.Overdue: {
			valid:   []string{"llm=10m,building=30m,fuzzing=0", "default=1ms", "default=8760h", " llm = 5s , "},
			invalid: []string{"llm", "compile=5m", "llm=soon", "llm=-5m", "llm=0.5ms", "llm=8761h", "llm=9223372036854775807ns", "llm=5"},
		},
		envconfig.Heartbeat: {
			valid:   []string{"5s", "100ms", "1h", "off", "OFF", "1m30s"},
			invalid: []string{"0", "0s", "5", "99ms", "-5s", "61m", "soon", "on"},
		},
		envconfig.HeartbeatMax:       {valid: []string{"1", "1000", "262144"}, invalid: []string{"0", "-1", "262145", "1e3", "many"}},
		envconfig.ServiceName:        {valid: []string{"patcher", "a b"}},
		envconfig.ResourceAttributes: {valid: []string{"a=b", "a=b,c=d%20e", "a=", "k=%E2%9C%93"}, invalid: []string{"a", "a=b,", "=b", " =b", "a=%zz", "a=b,c", "a=b,,c=d"}},
		envconfig.Propagators:        {valid: []string{"tracecontext,baggage", "none", "b3"}, invalid: []string{"zipkin", "tracecontext,foo"}},
		envconfig.TracesExporter:     {valid: []string{"otlp", "console", "none", "OTLP"}, invalid: []string{"zipkin", "otlp,console", "jaeger"}},
		envconfig.MetricsExporter: {
			valid:   []string{"otlp", "none", "prometheus", "otlp,prometheus", "Prometheus, OTLP"},
			invalid: []string{"console", "otlp,none", "none,prometheus", "prometheus,prometheus", "otlp,", "prom"},
		},
		envconfig.PrometheusHost: {valid: []string{"localhost", "127.0.0.1", "0.0.0.0", "::1", "metrics.example"}, invalid: []string{"[::1]", "localhost:9464", "http://localhost", "a b", "-x", "1.2.3.4/8"}},
		envconfig.PrometheusPort: {valid: []string{"0", "9464", "65535"}, invalid: []string{"-1", "65536", "http", "94 64", "1e3"}},
		envconfig.LogsExporter:   {valid: []string{"otlp", "none"}, invalid: []string{"console", "otlp,none"}},
		envconfig.TracesSampler: {
			valid:   []string{"always_on", "always_off", "traceidratio", "parentbased_always_on", "parentbased_always_off", "PARENTBASED_TRACEIDRATIO"},
			invalid: []string{"jaeger_remote", "xray", "parentbased_jaeger_remote", "sometimes"},
		},
		envconfig.TracesSamplerArg: {
			valid:   []string{"0", "0.25", "1", "1e-3"},
			invalid: []string{"-0.1", "1.5", "NaN", "Inf", "abc", "0x1p-2x"},
			with:    env{envconfig.TracesSampler: "parentbased_traceidratio"},
		},
		envconfig.GenAICapture: {valid: []string{"true", "false", "SPAN_ONLY", "event_only", "SPAN_AND_EVENT", "NO_CONTENT", "1", "0"}, invalid: []string{"yes", "ture", "SPAN", "all"}},

		envconfig.MetricsTemporality:          {valid: []string{"cumulative", "delta", "LowMemory"}, invalid: []string{"both", "deltas"}},
		envconfig.MetricsHistogramAggregation: {valid: []string{"explicit_bucket_histogram", "base2_exponential_bucket_histogram"}, invalid: []string{"exponential", "none"}},
		envconfig.MetricsExemplarFilter:       {valid: []string{"always_on", "always_off", "trace_based"}, invalid: []string{"sometimes", "on"}},

		envconfig.BSPMaxQueueSize: queue, envconfig.BSPMaxExportBatchSize: queue,
		envconfig.BSPScheduleDelay: ms, envconfig.BSPExportTimeout: ms,
		envconfig.BLRPMaxQueueSize: logQueue, envconfig.BLRPMaxExportBatchSize: logQueue,
		envconfig.BLRPScheduleDelay: ms, envconfig.BLRPExportTimeout: ms,
		envconfig.MetricExportInterval: ms, envconfig.MetricExportTimeout: ms,

		envconfig.AttributeCountLimit: attrCount, envconfig.SpanAttributeCountLimit: attrCount, envconfig.LogRecordAttributeCountLimit: attrCount,
		envconfig.AttributeValueLengthLimit: valueLength, envconfig.SpanAttributeValueLengthLimit: valueLength,
		envconfig.LogRecordAttributeValueLengthLimit: valueLength,
		envconfig.SpanEventCountLimit:                count, envconfig.EventAttributeCountLimit: count,
		envconfig.SpanLinkCountLimit: count, envconfig.LinkAttributeCountLimit: count,

		envconfig.GoXObservability: feature, envconfig.GoXSelfObservability: feature, envconfig.GoXResource: feature,
		envconfig.GoXPerSeriesStartTimestamps: feature,
		envconfig.GoXCardinalityLimit:         {valid: []string{"1", "2000", "-1", " 100 "}, invalid: []string{"0", "-2", "1000001", "abc"}},
	}
	for _, form := range []string{"", "TRACES_", "METRICS_", "LOGS_"} {
		name := func(s string) string { return "OTEL_EXPORTER_OTLP_" + form + s }
		cases[name("ENDPOINT")] = endpoint
		cases[name("HEADERS")] = headers
		cases[name("TIMEOUT")] = timeout
		cases[name("COMPRESSION")] = compression
		cases[name("CERTIFICATE")] = certificate
		cases[name("INSECURE")] = insecure
		cases[name("PROTOCOL")] = protocol
		cases[name("CLIENT_CERTIFICATE")] = varCase{
			valid: []string{f.cert}, invalid: []string{"/nonexistent", f.garbage, f.key, f.empty, "/dev/zero"},
			with: env{name("CLIENT_KEY"): f.key},
		}
		cases[name("CLIENT_KEY")] = varCase{
			valid: []string{f.key}, invalid: []string{"/nonexistent", f.garbage, f.cert, f.empty, "/dev/zero"},
			with: env{name("CLIENT_CERTIFICATE"): f.cert},
		}
	}
	return cases
}

// TestReadEveryVariable goes through every variable Read reads: values it
// takes, alone, and values it refuses, each an error naming the variable
// (and its value, unless it may hold a secret). A variable added to
// envconfig.Vars without a case here fails the test.
func TestReadEveryVariable(t *testing.T) {
	cases := varCases(t)
	for name := range cases {
		if _, ok := envconfig.LookupVar(name); !ok {
			t.Errorf("case for %s, which Read does not read", name)
		}
	}
	for _, v := range envconfig.Vars {
		c, ok := cases[v.Name]
		if !ok {
			t.Errorf("no case for %s", v.Name)
			continue
		}
		if len(c.valid) == 0 {
			t.Errorf("%s: no valid value", v.Name)
		}
		if v.Want == "" {
			t.Errorf("%s: Want is empty", v.Name)
		}
		t.Run(v.Name, func(t *testing.T) {
			for _, val := range c.valid {
				e := env{v.Name: val}
				for k, w := range c.with {
					e[k] = w
				}
				if _, err := envconfig.Read(e.lookup); err != nil {
					t.Errorf("%s=%q: %v, want no error", v.Name, val, err)
				}
			}
			for _, val := range c.invalid {
				e := env{v.Name: val}
				for k, w := range c.with {
					e[k] = w
				}
				_, err := envconfig.Read(e.lookup)
				if err == nil {
					t.Errorf("%s=%q: no error", v.Name, val)
					continue
				}
				msg := err.Error()
				if !strings.Contains(msg, v.Name) {
					t.Errorf("%s=%q: error %q does not name the variable", v.Name, val, msg)
				}
				switch {
				case v.Secret:
					if len(val) >= 6 && strings.Contains(msg, val) {
						t.Errorf("%s=%q: error %q shows the value", v.Name, val, msg)
					}
				case strings.Contains(val, "@"):
					if strings.Contains(msg, "secret") {
						t.Errorf("%s=%q: error %q shows the credentials", v.Name, val, msg)
					}
				case val == "" || strings.TrimSpace(val) != val && v.Raw:
				default:
					val = strings.TrimSpace(val)
					if !strings.Contains(msg, strconv.Quote(val)) && !strings.Contains(msg, strconv.Quote(envconfig.RedactEndpoint(val))) {
						t.Errorf("%s=%q: error %q does not show the value", v.Name, val, msg)
					}
				}
			}
		})
	}
}

// TestReadRawVariables: the SDK reads some variables without trimming
// spaces, and ignores a padded value; a blank one it takes for a bad value.
// Both are errors, while other variables are trimmed, and blank is unset.
func TestReadRawVariables(t *testing.T) {
	cases := varCases(t)
	for _, v := range envconfig.Vars {
		valid := cases[v.Name].valid[0]
		e := env{v.Name: " " + valid + " "}
		for k, w := range cases[v.Name].with {
			e[k] = w
		}
		_, padded := envconfig.Read(e.lookup)
		_, blank := envconfig.Read(env{v.Name: " \t"}.lookup)
		if v.Raw {
			if padded == nil || !strings.Contains(padded.Error(), v.Name) || !strings.Contains(padded.Error(), "spaces") {
				t.Errorf("%s=%q: %v, want an error about the spaces", v.Name, e[v.Name], padded)
			}
			if blank == nil {
				t.Errorf("%s=%q: no error, want one", v.Name, " \t")
			}
			continue
		}
		if padded != nil || blank != nil {
			t.Errorf("%s padded: %v; blank: %v; want no errors", v.Name, padded, blank)
		}
	}
}

// TestReadHeaders: a headers variable is parsed once, here; no error shows
// a header's value, not even a valid secret next to a broken entry.
func TestReadHeaders(t *testing.T) {
	const secret = "sk-TEST-s3cr3t-0123456789"
	for _, tt := range []struct {
		value   string
		want    map[string]string
		wantErr []string
	}{
		{value: "Authorization=Bearer%20" + secret, want: map[string]string{"Authorization": "Bearer " + secret}},
		{value: " a = 1 , b=%20two%20 ", want: map[string]string{"a": "1", "b": "two"}},
		{value: "k=v=w", want: map[string]string{"k": "v=w"}},
		{value: "k=a%2Cb", want: map[string]string{"k": "a,b"}},
		{value: "x-bin=%00%FF", want: map[string]string{"x-bin": "\x00\xff"}},
		{value: "Authorization: Bearer " + secret, wantErr: []string{"entry 1 has no '='"}},
		{value: "x-ok=" + secret + ",Authorization: Bearer " + secret, wantErr: []string{"entry 2 has no '='"}},
		{value: "Authorization: Basic " + secret + "==", wantErr: []string{"entry 1", "byte gRPC refuses"}},
		{value: "x-ok=" + secret + ",", wantErr: []string{"entry 2 is empty"}},
		{value: "x-key=" + secret + "%0D%0AInjected: 1", wantErr: []string{`"x-key"`, "CR, LF"}},
		{value: "x-key=" + secret + "%zz", wantErr: []string{`"x-key"`, "%-escape"}},
		{value: "x-key=" + secret + "%", wantErr: []string{`"x-key"`, "%-escape"}},
		{value: "x-key=" + secret + "%00", wantErr: []string{`"x-key"`, "byte gRPC refuses"}},
		{value: "x-key=caf%C3%A9" + secret, wantErr: []string{`"x-key"`, "not ASCII"}},
		{value: "x-key=" + secret + ",X-Key=" + secret, wantErr: []string{`"X-Key" is given twice`}},
		{value: "content-type=" + secret, wantErr: []string{`"content-type" is reserved`}},
		{value: secret + "/x=1", wantErr: []string{"entry 1", "key"}},
	} {
		t.Run(tt.value, func(t *testing.T) {
			for _, name := range []string{envconfig.Headers, envconfig.TracesHeaders, envconfig.MetricsHeaders, envconfig.LogsHeaders} {
				got, err := envconfig.Read(env{name: tt.value}.lookup)
				if tt.wantErr == nil {
					if err != nil {
						t.Fatalf("%s: %v", name, err)
					}
					if h := headersOf(got, name); !reflect.DeepEqual(h, tt.want) {
						t.Errorf("%s: headers %q, want %q", name, h, tt.want)
					}
					continue
				}
				checkErr(t, err, append([]string{name + ": "}, tt.wantErr...), []string{secret, "s3cr3t", "Bearer"})
			}
		})
	}
}

// headersOf returns the headers the variable name gave.
func headersOf(c envconfig.Config, name string) map[string]string {
	switch name {
	case envconfig.TracesHeaders:
		return c.Traces.Headers
	case envconfig.MetricsHeaders:
		return c.Metrics.Headers
	case envconfig.LogsHeaders:
		return c.Logs.Headers
	}
	return c.Traces.Headers
}

// TestCheckHeader: the same grammar for the options' headers.
func TestCheckHeader(t *testing.T) {
	const secret = "hunter2-s3cr3t"
	for _, tt := range []struct {
		key, value string
		wantErr    string // "" for none
	}{
		{key: "Authorization", value: "Basic " + secret},
		{key: "x-api-key", value: secret},
		{key: "x-bin", value: "\x00\r\n"},
		{key: "x-api-key", value: secret + "\r\n", wantErr: `"x-api-key"`},
		{key: "x-api-key", value: secret + "\n", wantErr: "offset 14"},
		{key: "x-api-key", value: "\x00" + secret, wantErr: "CR, LF, NUL"},
		{key: "x-api-key", value: secret + "\x7f", wantErr: "printable ASCII"},
		{key: "x-api-key", value: "é" + secret, wantErr: "not ASCII"},
		{key: "Authorization:", value: secret, wantErr: "offset 13"},
		{key: "", value: secret, wantErr: "empty key"},
		{key: "has space", value: secret, wantErr: "offset 3"},
		{key: "User-Agent", value: secret, wantErr: "reserved"},
		{key: "grpc-status", value: secret, wantErr: "reserved"},
	} {
		err := envconfig.CheckHeader(tt.key, tt.value)
		if tt.wantErr == "" {
			if err != nil {
				t.Errorf("CheckHeader(%q, ...): %v", tt.key, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("CheckHeader(%q, ...) = %v, want an error containing %q", tt.key, err, tt.wantErr)
		} else if strings.Contains(err.Error(), secret) {
			t.Errorf("CheckHeader(%q, ...) = %v: shows the value", tt.key, err)
		}
	}
}

// TestReadTLS: the certificate variables, and the endpoint's scheme, which
// decides between TLS and plain text: contradictions are errors.
func TestReadTLS(t *testing.T) {
	f := writePEM(t)
	for _, tt := range []struct {
		name    string
		env     env
		check   func(t *testing.T, c envconfig.Config)
		wantErr []string
	}{
		{
			name: "CA for every signal",
			env:  env{envconfig.Certificate: f.ca, envconfig.Endpoint: "https://collector:4317"},
			check: func(t *testing.T, c envconfig.Config) {
				for _, o := range []envconfig.OTLP{c.Traces, c.Metrics, c.Logs} {
					if o.TLS == nil || o.TLS.RootCAs == nil || o.Insecure {
						t.Errorf("TLS = %+v, Insecure = %t; want the CA pool, TLS", o.TLS, o.Insecure)
					}
				}
			},
		},
		{
			name: "client certificate of the logs",
			env:  env{envconfig.LogsClientCertificate: f.cert, envconfig.LogsClientKey: f.key},
			check: func(t *testing.T, c envconfig.Config) {
				if c.Logs.TLS == nil || len(c.Logs.TLS.Certificates) != 1 || c.Traces.TLS != nil || c.Metrics.TLS != nil {
					t.Errorf("TLS of traces, metrics, logs = %v, %v, %v; want a client certificate for logs only", c.Traces.TLS, c.Metrics.TLS, c.Logs.TLS)
				}
			},
		},
		{name: "certificate without key", env: env{envconfig.ClientCertificate: f.cert}, wantErr: []string{envconfig.ClientCertificate + ": set without " + envconfig.ClientKey}},
		{name: "key without certificate", env: env{envconfig.TracesClientKey: f.key}, wantErr: []string{envconfig.TracesClientKey + ": set without " + envconfig.TracesClientCertificate}},
		{name: "certificate and key swapped", env: env{envconfig.ClientCertificate: f.key, envconfig.ClientKey: f.cert}, wantErr: []string{envconfig.ClientCertificate}},
		{name: "key of another certificate", env: env{envconfig.ClientCertificate: f.cert, envconfig.ClientKey: writePEM(t).key}, wantErr: []string{envconfig.ClientCertificate, "private key"}},
		{name: "nonexistent CA", env: env{envconfig.Certificate: "/nonexistent"}, wantErr: []string{`OTEL_EXPORTER_OTLP_CERTIFICATE="/nonexistent": no such file`}},
		{name: "FIFO as CA", env: env{envconfig.Certificate: mkfifo(t)}, wantErr: []string{"not a regular file"}},
		{name: "certificate with http://", env: env{envconfig.Certificate: f.ca, envconfig.Endpoint: "http://collector:4317"}, wantErr: []string{envconfig.Certificate + " is set", "plain text"}},
		{name: "INSECURE=true with https://", env: env{envconfig.Insecure: "true", envconfig.Endpoint: "https://collector:4317"}, wantErr: []string{envconfig.Insecure + `="true" contradicts ` + envconfig.Endpoint}},
		{name: "INSECURE=false with http://", env: env{envconfig.TracesInsecure: "false", envconfig.Endpoint: "http://collector:4317"}, wantErr: []string{envconfig.TracesInsecure + `="false" contradicts`}},
		{
			name: "INSECURE=true with the default endpoint",
			env:  env{envconfig.Insecure: "true"},
			check: func(t *testing.T, c envconfig.Config) {
				if !c.Traces.Insecure || !c.Metrics.Insecure || !c.Logs.Insecure {
					t.Errorf("Insecure = %t, %t, %t; want true", c.Traces.Insecure, c.Metrics.Insecure, c.Logs.Insecure)
				}
			},
		},
		{
			name: "INSECURE=true agreeing with http://",
			env:  env{envconfig.Insecure: "TRUE", envconfig.Endpoint: "http://collector:4317"},
			check: func(t *testing.T, c envconfig.Config) {
				if !c.Traces.Insecure {
					t.Error("Insecure = false, want true")
				}
			},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, err := envconfig.Read(tt.env.lookup)
			checkErr(t, err, tt.wantErr, nil)
			if err != nil && strings.Count(err.Error(), tt.wantErr[0]) != 1 {
				t.Errorf("error %q: want %q once, though it concerns every signal", err, tt.wantErr[0])
			}
			if tt.check != nil {
				tt.check(t, c)
			}
		})
	}
}

// mkfifo makes a named pipe: opening it for reading would block.
func mkfifo(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "fifo")
	if err := mkfifoAt(p); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	return p
}

// TestReadFallback: metrics and logs without an endpoint of their own go
// where the spans go, with the spans' credentials and TLS; with their own
// endpoint (or the general one), they never get the traces-specific
// credentials, which belong to another collector.
func TestReadFallback(t *testing.T) {
	f := writePEM(t)
	tracesOnly := env{
		envconfig.TracesEndpoint:    "https://traces:4317",
		envconfig.TracesHeaders:     "Authorization=Basic%20dHJhY2Vz",
		envconfig.TracesCertificate: f.ca,
		envconfig.TracesTimeout:     "5000",
		envconfig.TracesCompression: "gzip",
	}
	c, err := envconfig.Read(tracesOnly.lookup)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range []envconfig.OTLP{c.Metrics, c.Logs} {
		if o.Endpoint != "https://traces:4317" || o.Headers["Authorization"] != "Basic dHJhY2Vz" || o.TLS == nil ||
			o.Timeout != 5*time.Second || o.Compression != "gzip" {
			t.Errorf("with traces-only variables, metrics or logs got %+v, want the traces settings", o)
		}
	}

	for _, own := range []string{envconfig.Endpoint, envconfig.MetricsEndpoint} {
		e := env{own: "https://other:4317"}
		for k, v := range tracesOnly {
			e[k] = v
		}
		c, err := envconfig.Read(e.lookup)
		if err != nil {
			t.Fatal(err)
		}
		if c.Metrics.Endpoint != "https://other:4317" || c.Metrics.Headers != nil || c.Metrics.TLS != nil || c.Metrics.Timeout != 0 {
			t.Errorf("with %s set, metrics got %+v: the traces credentials would go to another collector", own, c.Metrics)
		}
	}
}

// TestReadSampler: the argument goes with a ratio sampler only.
func TestReadSampler(t *testing.T) {
	for _, tt := range []struct {
		env     env
		wantErr []string
	}{
		{env: env{envconfig.TracesSampler: "traceidratio", envconfig.TracesSamplerArg: "0.5"}},
		{env: env{envconfig.TracesSampler: "always_on", envconfig.TracesSamplerArg: "0.5"}, wantErr: []string{envconfig.TracesSamplerArg, "takes no argument"}},
		{env: env{envconfig.TracesSamplerArg: "0.5"}, wantErr: []string{envconfig.TracesSamplerArg, "takes no argument"}},
		{env: env{envconfig.TracesSampler: "traceidratio", envconfig.TracesSamplerArg: "NaN"}, wantErr: []string{`OTEL_TRACES_SAMPLER_ARG="NaN"`}},
	} {
		_, err := envconfig.Read(tt.env.lookup)
		checkErr(t, err, tt.wantErr, nil)
	}
}

func TestRedactEndpoint(t *testing.T) {
	for in, want := range map[string]string{
		"http://collector:4317":                "http://collector:4317",
		"http://user:pass@collector:4317":      "http://collector:4317",
		"http://user:p@ss@collector:4317/x":    "http://collector:4317/x",
		"http://u:p?ss#x@collector:4317?k=v#f": "http://collector:4317",
		"user:pass@collector:4317":             "collector:4317",
		"https://collector:4317?token=abc":     "https://collector:4317",
	} {
		if got := envconfig.RedactEndpoint(in); got != want {
			t.Errorf("RedactEndpoint(%q) = %q, want %q", in, got, want)
		}
	}
}

// fuzzMarker is a secret the fuzz targets put in every headers variable.
// Its '/' makes it no valid key, so no message may show it.
const fuzzMarker = "FUZZ/S3CR3T/7f3a"

func FuzzRead(f *testing.F) {
	seed := func(pairs ...string) {
		var b strings.Builder
		for i := 0; i+1 < len(pairs); i += 2 {
			j := slices.IndexFunc(envconfig.Vars, func(v envconfig.Var) bool { return v.Name == pairs[i] })
			b.WriteByte(byte(j + 1))
			b.WriteString(pairs[i+1])
			b.WriteByte(0)
		}
		f.Add(b.String())
	}
	seed(envconfig.Strict, "1", envconfig.QueueFull, "block", envconfig.ServiceName, "svc", envconfig.TracesExporter, "otlp")
	seed(envconfig.Headers, "Authorization: Bearer "+fuzzMarker, envconfig.TracesHeaders, "a=%zz", envconfig.Endpoint, "http://u:p@h:1")
	seed(envconfig.BSPMaxQueueSize, "2000000000", envconfig.BSPMaxExportBatchSize, "9223372036854775807", envconfig.Timeout, "abc")
	seed(envconfig.Compression, "zstd", envconfig.Certificate, "/nonexistent", envconfig.Insecure, "maybe", envconfig.ResourceAttributes, "a=%zz")
	seed(envconfig.Protocol, "http/protobuf", envconfig.TracesProtocol, "grpc", envconfig.TracesSamplerArg, "NaN", envconfig.TracesSampler, "traceidratio")
	f.Fuzz(func(t *testing.T, data string) {
		// Each NUL-terminated part is a variable's index plus 1 in a byte,
		// then its value.
		e := env{}
		for part := range strings.SplitSeq(data, "\x00") {
			if part != "" {
				e[envconfig.Vars[(int(part[0])-1)%len(envconfig.Vars)].Name] = part[1:]
			}
		}
		public := ""
		for name, v := range e {
			if vr, _ := envconfig.LookupVar(name); vr.Secret {
				e[name] = v + ",x-fuzz=" + fuzzMarker
			} else {
				public += v
			}
		}
		got, err := envconfig.Read(e.lookup)
		if err != nil {
			msg := err.Error()
			if !strings.HasPrefix(msg, "crstel: invalid environment: ") {
				t.Errorf("error %q lacks the crstel prefix", msg)
			}
			if strings.Contains(msg, fuzzMarker) && !strings.Contains(public, fuzzMarker) {
				t.Errorf("error %q shows a header value", msg)
			}
			return
		}
		// Accepted: the values are those the SDK takes.
		switch got.TracesExporter {
		case "", "otlp", "console", "none":
		default:
			t.Errorf("TracesExporter = %q", got.TracesExporter)
		}
		for _, o := range []envconfig.OTLP{got.Traces, got.Metrics, got.Logs} {
			if o.Endpoint != "" && envconfig.CheckEndpoint(o.Endpoint) != nil {
				t.Errorf("Endpoint %q accepted", o.Endpoint)
			}
			for k, v := range o.Headers {
				if envconfig.CheckHeader(k, v) != nil {
					t.Errorf("header %q accepted with a bad value", k)
				}
			}
		}
		for _, b := range []envconfig.Batch{got.BSP, got.BLRP} {
			if b.QueueSize < 0 || b.QueueSize > 1<<22 || b.BatchSize < 0 || b.BatchSize > 1<<22 ||
				b.ScheduleDelay < 0 || b.ScheduleDelay > time.Hour || b.ExportTimeout < 0 || b.ExportTimeout > time.Hour {
				t.Errorf("batch settings %+v out of range", b)
			}
		}
	})
}
