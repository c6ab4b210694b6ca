package crstel

import (
	"cmp"
	"crypto/tls"
	"strings"
	"time"

	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/crstel/crstel/internal/envconfig"
)

// otlpTarget is where and how one signal's OTLP/gRPC exporter sends: the
// options, then the environment as envconfig resolved it. Setup passes all
// of it to the exporter as options, so that the three exporters, which read
// the environment each in their own way, agree.
type otlpTarget struct {
	endpoint    string // a URL, or "" for the exporter's default
	plain       bool   // no TLS
	display     string // the endpoint for messages, without credentials
	creds       credentials.TransportCredentials
	headers     map[string]string // nil if none is configured
	compression string            // "gzip", "none" or ""
	timeout     time.Duration     // 0 if unset
}

// newOTLPTarget resolves a signal's target: WithEndpoint, WithInsecure and
// WithHeaders override the environment. The endpoint's scheme decides
// between TLS and plain text; "host:port" means TLS.
func newOTLPTarget(cfg config, o envconfig.OTLP) otlpTarget {
	t := otlpTarget{endpoint: o.Endpoint, plain: o.Insecure, headers: o.Headers, compression: o.Compression, timeout: o.Timeout}
	if cfg.endpoint != "" {
		t.endpoint = endpointURL(cfg.endpoint)
		t.plain = strings.HasPrefix(strings.ToLower(t.endpoint), "http://")
	}
	if cfg.insecure {
		t.plain = true
	}
	if cfg.headers != nil {
		t.headers = cfg.headers
	}
	if t.plain {
		t.creds = insecure.NewCredentials()
	} else {
		t.creds = credentials.NewTLS(cmp.Or(o.TLS, &tls.Config{MinVersion: tls.VersionTLS12}))
	}
	t.display = envconfig.RedactEndpoint(cmp.Or(t.endpoint, "localhost:4317"))
	return t
}

// url returns the endpoint as a URL, the default one if none is
// configured.
func (t otlpTarget) url() string {
	switch {
	case t.endpoint != "":
		return t.endpoint
	case t.plain:
		return "http://localhost:4317"
	}
	return "https://localhost:4317"
}

// retry returns the exporter's outage policy: retry for DefaultOutage, or
// for the whole timeout OTEL_EXPORTER_OTLP_TIMEOUT (or its signal's form)
// sets, which bounds an export with its retries.
func (t otlpTarget) retry() retryPolicy {
	r := outageRetry
	if t.timeout != 0 {
		r.MaxElapsedTime = t.timeout
	}
	return r
}

// options returns the endpoint, headers and compression options of t for
// the span or metric exporter, made by its own option functions. (The log
// exporter, which needs every setting passed, makes its own.)
func options[O any](t otlpTarget, endpointURL func(string) O, headers func(map[string]string) O, compressor func(string) O) []O {
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
