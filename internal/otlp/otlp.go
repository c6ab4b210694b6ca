// Package otlp makes crstel's three OTLP/gRPC exporters (spans, metrics,
// log records) from the options of crstel.Setup and the environment as
// package envconfig checked it. Each signal's settings are resolved once,
// the same way, and passed to its exporter as options: the three exporters
// read the environment each in their own way, and would otherwise disagree.
//
// Every exporter rides out an outage of the collector: an export is
// retried for up to the outage (crstel.DefaultOutage, or the timeout the
// environment sets), at least every 5 s, and the connection re-tried as
// often, so that what ends meanwhile waits in the queue and arrives once
// the collector is back.
package otlp

import (
	"cmp"
	"context"
	"crypto/tls"
	"fmt"
	"strings"
	"time"

	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploggrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetricgrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/crstel/crstel/internal/envconfig"
)

// Options are the options of crstel.Setup that override the environment
// for every signal.
type Options struct {
	Endpoint string            // WithEndpoint: "host:port" (TLS) or a URL; "" if not given
	Insecure bool              // WithInsecure
	Headers  map[string]string // WithHeaders, WithBasicAuth; nil if not given
	// Outage is how long an export is retried while the collector is
	// unreachable, unless the environment's timeout says otherwise.
	Outage time.Duration
}

// Target is where and how one signal's exporter sends: the options, then
// the environment.
type Target struct {
	endpoint    string // a URL, or "" for the exporter's default
	plain       bool   // no TLS
	display     string // the endpoint for messages, without credentials
	creds       credentials.TransportCredentials
	headers     map[string]string // nil if none is configured
	compression string            // "gzip", "none" or ""
	timeout     time.Duration     // of an export with its retries; 0 if unset
	outage      time.Duration
}

// NewTarget resolves a signal's target: the options override the
// environment o. The endpoint's scheme decides between TLS and plain text;
// "host:port" means TLS.
func NewTarget(opts Options, o envconfig.OTLP) Target {
	t := Target{endpoint: o.Endpoint, plain: o.Insecure, headers: o.Headers, compression: o.Compression,
		timeout: o.Timeout, outage: opts.Outage}
	if opts.Endpoint != "" {
		t.endpoint = EndpointURL(opts.Endpoint)
		t.plain = strings.HasPrefix(strings.ToLower(t.endpoint), "http://")
	}
	if opts.Insecure {
		t.plain = true
	}
	if opts.Headers != nil {
		t.headers = opts.Headers
	}
	if t.plain {
		t.creds = insecure.NewCredentials()
	} else {
		t.creds = credentials.NewTLS(cmp.Or(o.TLS, &tls.Config{MinVersion: tls.VersionTLS12}))
	}
	t.display = envconfig.RedactEndpoint(cmp.Or(t.endpoint, "localhost:4317"))
	return t
}

// EndpointURL returns endpoint as a URL: "host:port" means TLS.
func EndpointURL(endpoint string) string {
	if strings.Contains(endpoint, "://") {
		return endpoint
	}
	return "https://" + endpoint
}

// Display returns the endpoint for messages, without credentials.
func (t Target) Display() string { return t.display }

// Timeout returns the timeout of one export with its retries: the
// environment's, else the outage and 10 s more.
func (t Target) Timeout() time.Duration { return cmp.Or(t.timeout, t.outage+10*time.Second) }

// url returns the endpoint as a URL, the default one if none is
// configured.
func (t Target) url() string {
	switch {
	case t.endpoint != "":
		return t.endpoint
	case t.plain:
		return "http://localhost:4317"
	}
	return "https://localhost:4317"
}

// retryPolicy is the retry configuration of the three OTLP exporters, each
// of which has its own named type for it.
type retryPolicy = struct {
	Enabled         bool
	InitialInterval time.Duration
	MaxInterval     time.Duration
	MaxElapsedTime  time.Duration
}

// retry returns the exporter's outage policy: retry for the outage, or for
// the whole timeout the environment sets, which bounds an export with its
// retries; at least every 5 s.
func (t Target) retry() retryPolicy {
	return retryPolicy{true, time.Second, 5 * time.Second, cmp.Or(t.timeout, t.outage)}
}

// reconnect re-tries the connection to an unreachable collector at least
// every 5 s.
var reconnect = grpc.WithConnectParams(grpc.ConnectParams{
	Backoff:           backoff.Config{BaseDelay: time.Second, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 5 * time.Second},
	MinConnectTimeout: 5 * time.Second,
})

// options returns the endpoint, headers and compression options of t for
// the span or metric exporter, made by its own option functions. (The log
// exporter, which needs every setting passed, makes its own.)
func options[O any](t Target, endpointURL func(string) O, headers func(map[string]string) O, compressor func(string) O) []O {
	var opts []O
	if t.endpoint != "" {
		opts = append(opts, endpointURL(t.endpoint))
	}
	if t.headers != nil {
		opts = append(opts, headers(t.headers))
	}
	if t.compression == "gzip" {
		opts = append(opts, compressor("gzip"))
	}
	return opts
}

// NewSpanExporter makes the OTLP/gRPC span exporter for t.
func NewSpanExporter(ctx context.Context, t Target) (sdktrace.SpanExporter, error) {
	opts := []otlptracegrpc.Option{
		otlptracegrpc.WithRetry(otlptracegrpc.RetryConfig(t.retry())),
		otlptracegrpc.WithDialOption(reconnect),
		otlptracegrpc.WithTLSCredentials(t.creds),
		// The exporter's timeout bounds its retries too.
		otlptracegrpc.WithTimeout(t.Timeout()),
	}
	opts = append(opts, options(t, otlptracegrpc.WithEndpointURL, otlptracegrpc.WithHeaders, otlptracegrpc.WithCompressor)...)
	exp, err := otlptracegrpc.New(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("crstel: creating the OTLP gRPC exporter for %s: %w", t.display, err)
	}
	return exp, nil
}

// NewMetricExporter makes the OTLP/gRPC metric exporter for t.
func NewMetricExporter(ctx context.Context, t Target) (sdkmetric.Exporter, error) {
	opts := append(options(t, otlpmetricgrpc.WithEndpointURL, otlpmetricgrpc.WithHeaders, otlpmetricgrpc.WithCompressor),
		otlpmetricgrpc.WithTLSCredentials(t.creds))
	if t.timeout != 0 {
		opts = append(opts, otlpmetricgrpc.WithTimeout(t.timeout))
	}
	exp, err := otlpmetricgrpc.New(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("crstel: creating the OTLP gRPC metric exporter for %s: %w", t.display, err)
	}
	return exp, nil
}

// NewLogExporter makes the OTLP/gRPC log exporter for t, with every
// setting passed as an option.
func NewLogExporter(ctx context.Context, t Target) (sdklog.Exporter, error) {
	headers := t.headers
	if headers == nil {
		headers = map[string]string{}
	}
	opts := []otlploggrpc.Option{
		otlploggrpc.WithRetry(otlploggrpc.RetryConfig(t.retry())),
		otlploggrpc.WithDialOption(reconnect),
		otlploggrpc.WithEndpointURL(t.url()),
		otlploggrpc.WithTLSCredentials(t.creds),
		otlploggrpc.WithHeaders(headers),
		otlploggrpc.WithCompressor(cmp.Or(t.compression, "none")),
		otlploggrpc.WithTimeout(t.Timeout()),
	}
	exp, err := otlploggrpc.New(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("crstel: creating the OTLP gRPC log exporter for %s: %w", t.display, err)
	}
	return exp, nil
}
