package crstel_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc/codes"

	"github.com/crstel/crstel"
	"github.com/crstel/crstel/crsteltest"
	"github.com/crstel/crstel/internal/otlptest"
)

// End-to-end tests of Setup against an in-process OTLP gRPC server
// (internal/otlptest), configured by options or by the environment, in plain
// text and over TLS. The tests against the real OpenTelemetry Collector are
// in collector_test.go and faults_test.go.

// checkReceived checks what srv received from runTask.
func checkReceived(t *testing.T, srv *otlptest.Server, action trace.SpanContext, wantAuth string) {
	t.Helper()
	got := srv.Received() // no waiting: Shutdown has flushed
	if len(got) != 2 {
		t.Fatalf("server received %d spans, want 2: %+v", len(got), got)
	}
	var act, child otlptest.Span
	for _, s := range got {
		switch s.Name {
		case "generate_patch":
			act = s
		case "http_call":
			child = s
		}
	}
	if act.Name == "" || child.Name == "" {
		t.Fatalf("received %+v, want generate_patch and http_call", got)
	}
	for _, s := range got {
		want := map[string]any{
			"crs.action.category": "patch_generation",
			"crs.action.name":     "generate_patch",
			"round.id":            "round-1",
			"task.id":             "task-1",
			"team.id":             "team-1",
		}
		for k, v := range want {
			if s.Attributes[k] != v {
				t.Errorf("span %s: %s = %#v, want %#v", s.Name, k, s.Attributes[k], v)
			}
		}
		if s.Resource["service.name"] != "patcher" {
			t.Errorf("span %s: service.name = %#v, want \"patcher\"", s.Name, s.Resource["service.name"])
		}
	}
	if v := act.Attributes["crs.action.effort.weight"]; v != int64(8) {
		t.Errorf("crs.action.effort.weight = %#v (%T), want int64(8)", v, v)
	}
	if v := act.Attributes["crs.action.code.file"]; v != "vuln_module.c" {
		t.Errorf("crs.action.code.file = %#v, want \"vuln_module.c\"", v)
	}
	if act.Scope != crstel.ScopeName || child.Scope != "third-party" {
		t.Errorf("scopes = %q and %q, want %q and \"third-party\"", act.Scope, child.Scope, crstel.ScopeName)
	}
	if act.SpanID != action.SpanID().String() || act.TraceID != action.TraceID().String() {
		t.Errorf("action ids = %s/%s, want %s/%s", act.TraceID, act.SpanID, action.TraceID(), action.SpanID())
	}
	if child.ParentSpanID != act.SpanID || child.TraceID != act.TraceID {
		t.Errorf("child's parent = %s/%s, want the action %s/%s", child.TraceID, child.ParentSpanID, act.TraceID, act.SpanID)
	}
	if child.Kind != int(trace.SpanKindClient) {
		t.Errorf("child kind = %d, want client", child.Kind)
	}

	hs := srv.Headers()
	if len(hs) == 0 {
		t.Fatal("server saw no export call")
	}
	for i, md := range hs {
		if got := md.Get("authorization"); len(got) != 1 || got[0] != wantAuth {
			t.Errorf("export call %d: authorization = %q, want [%q]", i, got, wantAuth)
		}
	}

	crsteltest.AssertConforms(t, otlptest.ToReadOnly(got), crsteltest.WantMetadata(task1))
}

func TestSetupEndToEnd(t *testing.T) {
	for _, tt := range []struct {
		name string
		opts func(srv *otlptest.Server) []crstel.Option
	}{
		{"URL", func(srv *otlptest.Server) []crstel.Option {
			return []crstel.Option{crstel.WithEndpoint(srv.URL())}
		}},
		{"host:port and WithInsecure", func(srv *otlptest.Server) []crstel.Option {
			return []crstel.Option{crstel.WithEndpoint(srv.Endpoint()), crstel.WithInsecure()}
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			errs := isolate(t)
			srv := otlptest.NewServer(t, otlptest.WithBasicAuth("crs", "s3cret"))
			opts := append(tt.opts(srv), crstel.WithBasicAuth("crs", "s3cret"), crstel.WithServiceName("patcher"))
			tel := startSetup(t, opts...)

			action := runTask(context.Background())
			if err := shutdownTel(t, tel); err != nil {
				t.Errorf("Shutdown: %v", err)
			}
			checkReceived(t, srv, action, basicAuth("crs", "s3cret"))
			if srv.MetricRequests() == 0 {
				t.Error("no metrics reached the OTLP server: Setup exports them with the spans' settings")
			}
			if st := tel.Stats(); st != (crstel.Stats{Ended: 2, Exported: 2}) {
				t.Errorf("Stats() = %+v, want 2 ended and exported", st)
			}
			if e := errs.Messages(); len(e) != 0 {
				t.Errorf("otel.Handle got %q, want nothing", e)
			}
		})
	}
}

func TestSetupEndToEndFromEnv(t *testing.T) {
	for _, tt := range []struct {
		name string
		env  func(srv, dead *otlptest.Server) map[string]string
	}{
		{"OTEL_EXPORTER_OTLP_ENDPOINT", func(srv, _ *otlptest.Server) map[string]string {
			return map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": srv.URL()}
		}},
		{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", func(srv, _ *otlptest.Server) map[string]string {
			return map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": srv.URL()}
		}},
		{"traces endpoint wins", func(srv, dead *otlptest.Server) map[string]string {
			return map[string]string{
				"OTEL_EXPORTER_OTLP_ENDPOINT":        dead.URL(),
				"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": srv.URL(),
				"OTEL_METRICS_EXPORTER":              "none", // metrics would rightly go to dead
			}
		}},
		{"OTEL_EXPORTER_OTLP_TRACES_HEADERS", func(srv, _ *otlptest.Server) map[string]string {
			return map[string]string{
				"OTEL_EXPORTER_OTLP_ENDPOINT":       srv.URL(),
				"OTEL_EXPORTER_OTLP_HEADERS":        "Authorization=" + basicAuth("crs", "wrong"),
				"OTEL_EXPORTER_OTLP_TRACES_HEADERS": "Authorization=" + basicAuth("crs", "s3cret"),
				"OTEL_METRICS_EXPORTER":             "none", // metrics would rightly use the wrong header
			}
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			errs := isolate(t)
			srv := otlptest.NewServer(t, otlptest.WithBasicAuth("crs", "s3cret"))
			dead := otlptest.NewServer(t, otlptest.WithError(codes.Unavailable))
			env := map[string]string{
				"OTEL_EXPORTER_OTLP_HEADERS":  "Authorization=" + basicAuth("crs", "s3cret"),
				"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
				"OTEL_SERVICE_NAME":           "patcher",
			}
			for k, v := range tt.env(srv, dead) {
				env[k] = v
			}
			for k, v := range env {
				t.Setenv(k, v)
			}
			tel := startSetup(t)

			action := runTask(context.Background())
			if err := shutdownTel(t, tel); err != nil {
				t.Errorf("Shutdown: %v", err)
			}
			checkReceived(t, srv, action, basicAuth("crs", "s3cret"))
			if n := dead.Requests(); n != 0 {
				t.Errorf("the OTEL_EXPORTER_OTLP_ENDPOINT server got %d calls, want 0", n)
			}
			if e := errs.Messages(); len(e) != 0 {
				t.Errorf("otel.Handle got %q, want nothing", e)
			}
		})
	}
}

// TestSetupEnvEndpointWithoutScheme sets OTEL_EXPORTER_OTLP_ENDPOINT to
// "127.0.0.1:PORT", without a scheme. The spans must reach that endpoint,
// or Setup must fail naming the variable: they must not go somewhere else.
func TestSetupEnvEndpointWithoutScheme(t *testing.T) {
	errs := isolate(t)
	shortExportTimeout(t)
	srv := otlptest.NewServer(t)
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", srv.Endpoint())
	t.Setenv("OTEL_EXPORTER_OTLP_INSECURE", "true")
	tel, err := crstel.Setup(context.Background(), crstel.WithServiceName("patcher"))
	if err != nil {
		if !strings.Contains(err.Error(), "OTEL_EXPORTER_OTLP_ENDPOINT") {
			t.Errorf("Setup error %q does not name OTEL_EXPORTER_OTLP_ENDPOINT", err)
		}
		return
	}
	runTask(context.Background())
	shutdownErr := shutdownTel(t, tel)
	if n := len(srv.Received()); n != 2 {
		t.Errorf("OTEL_EXPORTER_OTLP_ENDPOINT=%s accepted, but the server there received %d spans, want 2\nShutdown: %v\notel.Handle: %q",
			srv.Endpoint(), n, shutdownErr, errs.Messages())
	}
}

// TestSetupEndpointOptionKeepsTLS checks WithEndpoint's promise that a
// "host:port" endpoint uses TLS unless WithInsecure is given, even when
// OTEL_EXPORTER_OTLP_ENDPOINT names another, http:// endpoint: the option
// replaces the endpoint, so it must not inherit the variable's plain text.
// The server here has no TLS, so it must receive nothing.
func TestSetupEndpointOptionKeepsTLS(t *testing.T) {
	for _, withEnv := range []bool{false, true} {
		t.Run(fmt.Sprintf("OTEL_EXPORTER_OTLP_ENDPOINT set: %v", withEnv), func(t *testing.T) {
			isolate(t)
			shortExportTimeout(t)
			srv := otlptest.NewServer(t)
			other := otlptest.NewServer(t)
			if withEnv {
				t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", other.URL())
			}
			tel := startSetup(t, crstel.WithServiceName("patcher"), crstel.WithEndpoint(srv.Endpoint()),
				crstel.WithBasicAuth("crs", "s3cret"))
			runTask(context.Background())
			_ = shutdownTel(t, tel)
			if n := len(srv.Received()); n != 0 {
				t.Errorf("WithEndpoint(%q) without WithInsecure sent %d spans, and the credentials, in plain text; want TLS",
					srv.Endpoint(), n)
			}
			if n := other.Requests(); n != 0 {
				t.Errorf("the OTEL_EXPORTER_OTLP_ENDPOINT server got %d calls, want 0: WithEndpoint overrides it", n)
			}
		})
	}
}

// TestSetupTLSFromEnv: an https:// endpoint uses TLS, trusting the CA in
// OTEL_EXPORTER_OTLP_CERTIFICATE; without it the self-signed server is
// refused and the spans are counted as failed.
func TestSetupTLSFromEnv(t *testing.T) {
	for _, withCert := range []bool{true, false} {
		t.Run(fmt.Sprintf("certificate given: %v", withCert), func(t *testing.T) {
			errs := isolate(t)
			shortExportTimeout(t)
			srv := otlptest.NewServer(t, otlptest.WithTLS(), otlptest.WithBasicAuth("crs", "s3cret"))
			t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", srv.URL())
			if withCert {
				t.Setenv("OTEL_EXPORTER_OTLP_CERTIFICATE", srv.CertFile())
			}
			tel := startSetup(t, crstel.WithServiceName("patcher"), crstel.WithBasicAuth("crs", "s3cret"))
			action := runTask(context.Background())
			err := shutdownTel(t, tel)
			if withCert {
				if err != nil {
					t.Errorf("Shutdown: %v", err)
				}
				checkReceived(t, srv, action, basicAuth("crs", "s3cret"))
				return
			}
			if n := len(srv.Received()); n != 0 {
				t.Errorf("server with an untrusted certificate received %d spans, want 0", n)
			}
			if st := tel.Stats(); st.Failed != 2 {
				t.Errorf("Stats() = %+v, want 2 failed", st)
			}
			if errs.Count(srv.Endpoint()) == 0 {
				t.Errorf("no error names the endpoint: %q", errs.Messages())
			}
		})
	}
}
