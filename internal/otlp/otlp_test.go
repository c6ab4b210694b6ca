package otlp

import (
	"crypto/tls"
	"crypto/x509"
	"testing"
	"time"

	"github.com/crstel/crstel/internal/envconfig"
)

// outage is crstel.outage.
const outage = 2 * time.Minute

// TestOTLPTarget: the transport, endpoint, headers and outage policy each
// exporter gets: the options override the environment, the endpoint's
// scheme decides between TLS and plain text, and a timeout from the
// environment bounds the retries, as OTEL_EXPORTER_OTLP_TIMEOUT=abc once
// silently did not.
func TestOTLPTarget(t *testing.T) {
	pool := x509.NewCertPool()
	envTLS := envconfig.OTLP{Endpoint: "https://collector:4317", TLS: &tls.Config{RootCAs: pool}}
	for _, tt := range []struct {
		name        string
		opts        Options
		env         envconfig.OTLP
		wantURL     string
		wantPlain   bool
		wantHeaders map[string]string
		wantDisplay string
		wantRetry   time.Duration
	}{
		{name: "default", wantURL: "https://localhost:4317", wantDisplay: "localhost:4317", wantRetry: outage},
		{name: "INSECURE=true, default endpoint", env: envconfig.OTLP{Insecure: true}, wantURL: "http://localhost:4317", wantPlain: true,
			wantDisplay: "localhost:4317", wantRetry: outage},
		{name: "env http://", env: envconfig.OTLP{Endpoint: "http://collector:4317", Insecure: true, Timeout: 10 * time.Minute},
			wantURL: "http://collector:4317", wantPlain: true, wantDisplay: "http://collector:4317", wantRetry: 10 * time.Minute},
		{name: "env https:// with a CA", env: envTLS, wantURL: "https://collector:4317",
			wantDisplay: "https://collector:4317", wantRetry: outage},
		{name: "WithEndpoint host:port is TLS", opts: Options{Endpoint: "collector:4317"}, env: envconfig.OTLP{Endpoint: "http://other:4317", Insecure: true},
			wantURL: "https://collector:4317", wantDisplay: "https://collector:4317", wantRetry: outage},
		{name: "WithEndpoint http:// over the env's CA", opts: Options{Endpoint: "http://collector:4317"}, env: envTLS,
			wantURL: "http://collector:4317", wantPlain: true, wantDisplay: "http://collector:4317", wantRetry: outage},
		{name: "WithInsecure", opts: Options{Insecure: true}, env: envTLS, wantURL: "https://collector:4317", wantPlain: true,
			wantDisplay: "https://collector:4317", wantRetry: outage},
		{name: "WithHeaders over the env's", opts: Options{Headers: map[string]string{"a": "1"}}, env: envconfig.OTLP{Headers: map[string]string{"b": "2"}},
			wantURL: "https://localhost:4317", wantHeaders: map[string]string{"a": "1"}, wantDisplay: "localhost:4317", wantRetry: outage},
		{name: "env headers", env: envconfig.OTLP{Headers: map[string]string{"b": "2"}, Timeout: time.Second},
			wantURL: "https://localhost:4317", wantHeaders: map[string]string{"b": "2"}, wantDisplay: "localhost:4317", wantRetry: time.Second},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts.Outage = outage
			got := NewTarget(tt.opts, tt.env)
			if got.url() != tt.wantURL || got.plain != tt.wantPlain || got.display != tt.wantDisplay {
				t.Errorf("url %q, plain %t, display %q; want %q, %t, %q", got.url(), got.plain, got.display, tt.wantURL, tt.wantPlain, tt.wantDisplay)
			}
			if proto := got.creds.Info().SecurityProtocol; (proto == "insecure") != tt.wantPlain {
				t.Errorf("credentials %q, want plain text %t", proto, tt.wantPlain)
			}
			if len(got.headers) != len(tt.wantHeaders) {
				t.Errorf("headers %v, want %v", got.headers, tt.wantHeaders)
			}
			for k, v := range tt.wantHeaders {
				if got.headers[k] != v {
					t.Errorf("headers %v, want %v", got.headers, tt.wantHeaders)
				}
			}
			if r := got.retry(); r.MaxElapsedTime != tt.wantRetry || !r.Enabled {
				t.Errorf("retry %+v, want for %v", r, tt.wantRetry)
			}
		})
	}
}
