package crstel_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"

	"go.opentelemetry.io/otel"
	"google.golang.org/grpc/codes"

	"github.com/crstel/crstel"
	"github.com/crstel/crstel/internal/otlptest"
)

// Tests of exports that fail: reported once, never per batch, without the
// credentials.

// failingRun is what a pipeline whose exports are all refused
// reported.
type failingRun struct {
	endpoint    string
	secrets     []string
	handled     []string // otel.Handle errors, during the exports and Shutdown
	flushErrs   []string // ForceFlush errors
	shutdownErr error
	logs        string
	stats       crstel.Stats
}

const refusedPassword = "hunter2-Sup3r-s3cret"

// runFailing makes batches exports to a server that refuses them all,
// one span and one ForceFlush each. how is "server error", "wrong password"
// or "wrong password from env".
func runFailing(t *testing.T, how string, batches int) failingRun {
	t.Helper()
	errs := isolate(t)
	logger, logs := textLogger()
	opts := []crstel.Option{crstel.WithServiceName("patcher"), crstel.WithLogger(logger)}
	var srv *otlptest.Server
	switch how {
	case "server error":
		srv = otlptest.NewServer(t, otlptest.WithError(codes.Unauthenticated))
		opts = append(opts, crstel.WithEndpoint(srv.URL()), crstel.WithBasicAuth("crs", refusedPassword))
	case "wrong password":
		srv = otlptest.NewServer(t, otlptest.WithBasicAuth("crs", "right"))
		opts = append(opts, crstel.WithEndpoint(srv.URL()), crstel.WithBasicAuth("crs", refusedPassword))
	case "wrong password from env":
		srv = otlptest.NewServer(t, otlptest.WithBasicAuth("crs", "right"))
		t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", srv.URL())
		t.Setenv("OTEL_EXPORTER_OTLP_HEADERS", "Authorization="+basicAuth("crs", refusedPassword))
	default:
		t.Fatalf("unknown case %q", how)
	}
	tel := startSetup(t, opts...)

	run := failingRun{
		endpoint: srv.URL(),
		secrets: []string{
			refusedPassword,
			base64.StdEncoding.EncodeToString([]byte("crs:" + refusedPassword)),
			basicAuth("crs", refusedPassword),
		},
	}
	for i := range batches {
		_, s := otel.Tracer("t").Start(context.Background(), "s"+strconv.Itoa(i))
		s.End()
		if err := tel.ForceFlush(context.Background()); err != nil {
			run.flushErrs = append(run.flushErrs, err.Error())
		}
	}
	run.shutdownErr = shutdownTel(t, tel)
	run.handled = errs.Messages()
	run.logs = logs.String()
	run.stats = tel.Stats()
	// The collector refuses the credentials: exports pause (5 s, doubling)
	// instead of trying every batch.
	if n := srv.Requests(); n < 1 || n > 2 {
		t.Errorf("server got %d export calls for %d flushes within a second, want 1 or 2: exports pause after refused credentials", n, batches)
	}
	return run
}

func TestSetupExportFailureReportedOnce(t *testing.T) {
	const batches = 20
	for _, how := range []string{"server error", "wrong password", "wrong password from env"} {
		t.Run(how, func(t *testing.T) {
			run := runFailing(t, how, batches)

			var credentials []string
			for _, e := range run.handled {
				if strings.Contains(e, "credentials") {
					credentials = append(credentials, e)
				}
			}
			if len(credentials) != 1 {
				t.Errorf("otel.Handle got %d errors about the credentials, want exactly 1: %q", len(credentials), credentials)
			} else if !strings.Contains(credentials[0], run.endpoint) {
				t.Errorf("error %q does not name the endpoint %s", credentials[0], run.endpoint)
			}

			if st := run.stats; st != (crstel.Stats{Ended: batches, Failed: batches}) {
				t.Errorf("Stats() = %+v, want %d ended and failed", st, batches)
			}
			if run.shutdownErr == nil || !strings.Contains(run.shutdownErr.Error(), fmt.Sprintf("%d of %d", batches, batches)) {
				t.Errorf("Shutdown = %v, want an error saying %d of %d spans were lost", run.shutdownErr, batches, batches)
			}

			all := slices.Concat(run.handled, run.flushErrs, []string{fmt.Sprint(run.shutdownErr), run.logs})
			for _, text := range all {
				for _, secret := range run.secrets {
					if strings.Contains(text, secret) {
						t.Errorf("secret %q appears in %q", secret, text)
					}
				}
			}
		})
	}
}

// TestSetupExportFailureNotReportedPerFlush checks that a pipeline whose
// every export fails does not report through otel.Handle once per batch,
// even when the program flushes after every batch.
func TestSetupExportFailureNotReportedPerFlush(t *testing.T) {
	const batches = 20
	run := runFailing(t, "server error", batches)
	// One report of the failure, perhaps one more of the loss at Shutdown.
	if n := len(run.handled); n > 2 {
		t.Errorf("otel.Handle was called %d times for %d failed batches of one ongoing failure, want at most 2; first ones:\n%s",
			n, batches, strings.Join(run.handled[:min(n, 4)], "\n"))
	}
}
