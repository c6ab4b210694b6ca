package envconfig_test

import (
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/crstel/crstel/internal/envconfig"
)

// names lists every variable Read reads.
var names = []string{
	envconfig.Strict, envconfig.QueueFull, envconfig.QueueBytes, envconfig.TraceDir, envconfig.ServiceName, envconfig.TracesExporter,
	envconfig.Protocol, envconfig.TracesProtocol, envconfig.Endpoint, envconfig.TracesEndpoint,
	envconfig.BSPMaxQueueSize, envconfig.BSPMaxExportBatchSize, envconfig.Propagators,
}

// env is a fake environment; a key present with any value is set.
type env map[string]string

func (e env) lookup(name string) (string, bool) {
	v, ok := e[name]
	return v, ok
}

func TestRead(t *testing.T) {
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
				for i, n := range names {
					e[n] = strings.Repeat(" \t", i%2)
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
		{name: "queue bytes 0", env: env{"CRSTEL_QUEUE_BYTES": "0"}, wantErr: []string{"CRSTEL_QUEUE_BYTES", `"0"`}},
		{name: "queue bytes 64MiB", env: env{"CRSTEL_QUEUE_BYTES": "64MiB"}, wantErr: []string{"CRSTEL_QUEUE_BYTES", `"64MiB"`, "bytes"}},

		{name: "trace dir trimmed", env: env{"CRSTEL_TRACE_DIR": " /var/tmp/crs traces\n"}, want: envconfig.Config{TraceDir: "/var/tmp/crs traces"}},

		{name: "service name trimmed", env: env{"OTEL_SERVICE_NAME": " patcher\n"}, want: envconfig.Config{ServiceName: "patcher"}},

		{name: "exporter otlp", env: env{"OTEL_TRACES_EXPORTER": "otlp"}, want: envconfig.Config{TracesExporter: "otlp"}},
		{name: "exporter Console", env: env{"OTEL_TRACES_EXPORTER": "Console"}, want: envconfig.Config{TracesExporter: "console"}},
		{name: "exporter none", env: env{"OTEL_TRACES_EXPORTER": "none"}, want: envconfig.Config{TracesExporter: "none"}},
		{name: "exporter zipkin", env: env{"OTEL_TRACES_EXPORTER": "zipkin"}, wantErr: []string{"OTEL_TRACES_EXPORTER", `"zipkin"`}},
		{name: "exporter list", env: env{"OTEL_TRACES_EXPORTER": "otlp,console"}, wantErr: []string{"OTEL_TRACES_EXPORTER", `"otlp,console"`}},

		{name: "protocol grpc", env: env{"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, want: envconfig.Config{}},
		{name: "protocol GRPC", env: env{"OTEL_EXPORTER_OTLP_PROTOCOL": "GRPC"}, want: envconfig.Config{}},
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
			name: "traces protocol grpc wins over protocol http/protobuf",
			env:  env{"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "grpc", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"},
			want: envconfig.Config{},
		},
		{
			name:     "traces protocol http/protobuf wins over protocol grpc",
			env:      env{"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/protobuf", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"},
			wantErr:  []string{"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", `"http/protobuf"`},
			notInErr: []string{"OTEL_EXPORTER_OTLP_PROTOCOL="},
		},

		{
			name: "endpoint",
			env:  env{"OTEL_EXPORTER_OTLP_ENDPOINT": " http://collector:4317 "},
			want: envconfig.Config{EndpointSet: true, Endpoint: "http://collector:4317"},
		},
		{
			name: "traces endpoint wins",
			env:  env{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://a:4317", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://b:4317"},
			want: envconfig.Config{EndpointSet: true, Endpoint: "http://b:4317"},
		},
		{
			name: "blank traces endpoint is unset",
			env:  env{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://a:4317", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": " "},
			want: envconfig.Config{EndpointSet: true, Endpoint: "http://a:4317"},
		},

		{
			name:    "endpoint without scheme",
			env:     env{"OTEL_EXPORTER_OTLP_ENDPOINT": "127.0.0.1:4317"},
			wantErr: []string{"OTEL_EXPORTER_OTLP_ENDPOINT", `"127.0.0.1:4317"`, "http://127.0.0.1:4317"},
		},
		{
			name:    "endpoint with credentials redacted",
			env:     env{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "user:pa55w0rd@collector:4317"},
			wantErr: []string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "collector:4317"},
		},
		{
			name: "header values are secrets",
			env:  env{"OTEL_EXPORTER_OTLP_HEADERS": "Authorization=Basic%20Y3JzOnMzY3JldA==,x-key=k1"},
			want: envconfig.Config{Secrets: []string{"Basic%20Y3JzOnMzY3JldA==", "Basic Y3JzOnMzY3JldA==", "k1"}},
		},
		{
			name: "bsp sizes",
			env:  env{"OTEL_BSP_MAX_QUEUE_SIZE": "4096", "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "512"},
			want: envconfig.Config{QueueSize: 4096, BatchSize: 512},
		},
		{name: "bsp queue size 0", env: env{"OTEL_BSP_MAX_QUEUE_SIZE": "0"}, wantErr: []string{"OTEL_BSP_MAX_QUEUE_SIZE", `"0"`}},
		{name: "bsp queue size -1", env: env{"OTEL_BSP_MAX_QUEUE_SIZE": "-1"}, wantErr: []string{"OTEL_BSP_MAX_QUEUE_SIZE", `"-1"`}},
		{name: "bsp batch size abc", env: env{"OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "abc"}, wantErr: []string{"OTEL_BSP_MAX_EXPORT_BATCH_SIZE", `"abc"`}},
		{
			name: "bsp batch size overflow",
			env:  env{"OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "99999999999999999999"},
			wantErr: []string{
				"OTEL_BSP_MAX_EXPORT_BATCH_SIZE", `"99999999999999999999"`,
			},
		},

		{
			name: "every problem reported, valid parts kept",
			env: env{
				"CRSTEL_STRICT":               "maybe",
				"OTEL_TRACES_EXPORTER":        "jaeger",
				"OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
				"OTEL_BSP_MAX_QUEUE_SIZE":     "lots",
				"OTEL_SERVICE_NAME":           "patcher",
				"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317",
				"CRSTEL_QUEUE_FULL":           "block",
			},
			want: envconfig.Config{ServiceName: "patcher", EndpointSet: true, Endpoint: "http://c:4317", QueueFull: "block"},
			wantErr: []string{
				`CRSTEL_STRICT="maybe"`, `OTEL_TRACES_EXPORTER="jaeger"`,
				`OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf"`, `OTEL_BSP_MAX_QUEUE_SIZE="lots"`,
			},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := envconfig.Read(tt.env.lookup)
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("Read: %v, want no error", err)
				}
			} else {
				if err == nil {
					t.Fatalf("Read: no error, want one naming %q", tt.wantErr)
				}
				for _, s := range tt.wantErr {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error %q does not name %s", err, s)
					}
				}
				for _, s := range tt.notInErr {
					if strings.Contains(err.Error(), s) {
						t.Errorf("error %q names %s", err, s)
					}
				}
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Read = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestReadPropagators(t *testing.T) {
	for _, tt := range []struct {
		value      string
		wantFields []string // the propagator's carrier keys, sorted
		noBaggage  bool
		wantErr    string
	}{
		{value: "tracecontext,baggage", wantFields: []string{"baggage", "traceparent", "tracestate"}},
		{value: " TraceContext , baggage ,", wantFields: []string{"baggage", "traceparent", "tracestate"}},
		{value: "b3,baggage", wantFields: []string{"b3", "baggage"}},
		{value: "tracecontext", wantFields: []string{"traceparent", "tracestate"}, noBaggage: true},
		{value: "none", wantFields: nil, noBaggage: true},
		{value: "baggage,none", wantFields: nil, noBaggage: true},
		{value: "tracecontext,zipkin", wantErr: `OTEL_PROPAGATORS="tracecontext,zipkin": unknown propagator: zipkin`},
	} {
		t.Run(tt.value, func(t *testing.T) {
			got, err := envconfig.Read(env{envconfig.Propagators: tt.value}.lookup)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Read: %v, want an error containing %q", err, tt.wantErr)
				}
				if got.Propagator != nil {
					t.Errorf("Propagator = %v after an error, want nil", got.Propagator)
				}
				return
			}
			if err != nil {
				t.Fatalf("Read: %v", err)
			}
			if got.Propagator == nil {
				t.Fatal("Propagator = nil")
			}
			fields := got.Propagator.Fields()
			slices.Sort(fields)
			if !slices.Equal(fields, tt.wantFields) || got.NoBaggage != tt.noBaggage {
				t.Errorf("Fields() = %q, NoBaggage = %t; want %q, %t", fields, got.NoBaggage, tt.wantFields, tt.noBaggage)
			}
		})
	}
}

func TestReadNilLookupUsesEnvironment(t *testing.T) {
	for _, n := range names {
		t.Setenv(n, "")
	}
	t.Setenv(envconfig.ServiceName, "from-env")
	t.Setenv(envconfig.TracesExporter, "none")
	got, err := envconfig.Read(nil)
	if err != nil {
		t.Fatalf("Read(nil): %v", err)
	}
	if want := (envconfig.Config{ServiceName: "from-env", TracesExporter: "none"}); !reflect.DeepEqual(got, want) {
		t.Errorf("Read(nil) = %+v, want %+v", got, want)
	}
}

func FuzzRead(f *testing.F) {
	f.Add("1", "block", "svc", "otlp", "grpc", "", "http://a:4317", "", "10", "5")
	f.Add("yes", "wait", "", "zipkin", "http/protobuf", "grpc", "", "http://b", "0", "-1")
	f.Add(" true ", "DROP", " ", "Console", "", "http/json", "a:1", "b:2", "abc", "99999999999999999999")
	f.Add("\x00", "\xff", "\u00a0", "none,otlp", "grpc ", " GRPC", "\n", "\t", "+1", "0x10")
	f.Fuzz(func(t *testing.T, strict, queueFull, service, exporter, proto, tracesProto, endpoint, tracesEndpoint, queueSize, batchSize string) {
		e := env{
			envconfig.Strict:                strict,
			envconfig.QueueFull:             queueFull,
			envconfig.ServiceName:           service,
			envconfig.TracesExporter:        exporter,
			envconfig.Protocol:              proto,
			envconfig.TracesProtocol:        tracesProto,
			envconfig.Endpoint:              endpoint,
			envconfig.TracesEndpoint:        tracesEndpoint,
			envconfig.BSPMaxQueueSize:       queueSize,
			envconfig.BSPMaxExportBatchSize: batchSize,
		}
		got, err := envconfig.Read(e.lookup)

		// Each variable alone: if it is bad, the error of all of them
		// together names it and its value.
		var bad []string
		for _, n := range names {
			if n == envconfig.Protocol && strings.TrimSpace(tracesProto) != "" ||
				n == envconfig.Endpoint && strings.TrimSpace(tracesEndpoint) != "" {
				continue // the traces-specific variable wins; this one is not read
			}
			_, alone := envconfig.Read(env{n: e[n]}.lookup)
			if alone == nil {
				continue
			}
			bad = append(bad, n)
			if !strings.Contains(alone.Error(), n+"=") {
				t.Errorf("error %q of %s alone does not name it", alone, n)
			}
			if err == nil {
				t.Errorf("%s=%q is bad alone (%v) but Read of all variables gave no error", n, e[n], alone)
			} else if want := n + "=" + strconv.Quote(strings.TrimSpace(e[n])); !strings.Contains(err.Error(), want) &&
				!strings.Contains(e[n], "@") { // user info in endpoints is redacted

				t.Errorf("error %q does not name %s", err, want)
			}
		}
		if err != nil && len(bad) == 0 {
			t.Errorf("Read gave error %q, but no variable is bad alone", err)
		}
		if err != nil && !strings.HasPrefix(err.Error(), "crstel: invalid environment: ") {
			t.Errorf("error %q lacks the crstel prefix", err)
		}

		// The Config holds only valid, normalised values.
		switch got.TracesExporter {
		case "", "otlp", "console", "none":
		default:
			t.Errorf("TracesExporter = %q", got.TracesExporter)
		}
		switch got.QueueFull {
		case "", "block", "drop":
		default:
			t.Errorf("QueueFull = %q", got.QueueFull)
		}
		if got.EndpointSet != (got.Endpoint != "") {
			t.Errorf("EndpointSet = %v with Endpoint %q", got.EndpointSet, got.Endpoint)
		}
		if got.Endpoint != strings.TrimSpace(got.Endpoint) || got.ServiceName != strings.TrimSpace(got.ServiceName) {
			t.Errorf("untrimmed values in %+v", got)
		}
		if got.Strict && !got.StrictSet {
			t.Errorf("Strict without StrictSet: %+v", got)
		}
		if got.ServiceName != strings.TrimSpace(service) {
			t.Errorf("ServiceName = %q, want %q", got.ServiceName, strings.TrimSpace(service))
		}
	})
}
