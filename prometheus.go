package crstel

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/otlptranslator"
	"go.opentelemetry.io/otel/attribute"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.41.0"

	"github.com/crstel/crstel/internal/envconfig"
)

// Defaults of the Prometheus endpoint, those of the contrib autoexport
// package.
const (
	// DefaultPrometheusHost is the host the Prometheus endpoint listens on
	// when OTEL_EXPORTER_PROMETHEUS_HOST is unset.
	DefaultPrometheusHost = "localhost"
	// DefaultPrometheusPort is the port the Prometheus endpoint listens on
	// when OTEL_EXPORTER_PROMETHEUS_PORT is unset.
	DefaultPrometheusPort = 9464
)

// promServer serves the metrics of a Prometheus reader on /metrics, from
// its own registry, until shutdown.
type promServer struct {
	reader sdkmetric.Reader
	addr   string // bound, such as 127.0.0.1:9464
	srv    *http.Server
	done   chan struct{} // closed when Serve returned
}

// newPromServer listens on the address of the OTEL_EXPORTER_PROMETHEUS_*
// variables and makes the reader whose metrics it serves. The server
// starts with start, so that a Setup that fails later only closes the
// listener.
func newPromServer(env envconfig.Config) (*promServer, net.Listener, error) {
	host := env.PrometheusHost
	if host == "" {
		host = DefaultPrometheusHost
	}
	port := DefaultPrometheusPort
	if env.PrometheusPortSet {
		port = env.PrometheusPort
	}
	addr := net.JoinHostPort(host, strconv.Itoa(port))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, nil, fmt.Errorf("crstel: %s=prometheus: serving metrics on %s (%s, %s): %w",
			envconfig.MetricsExporter, addr, envconfig.PrometheusHost, envconfig.PrometheusPort, err)
	}
	// An isolated registry: only the meter provider's metrics, not the
	// process's or another library's, and no clash with the default one.
	reg := prometheus.NewRegistry()
	exp, err := otelprom.New(
		otelprom.WithRegisterer(reg),
		otelprom.WithTranslationStrategy(otlptranslator.UnderscoreEscapingWithSuffixes),
		// service.name on every series (service_name), not only on
		// target_info: a dashboard filters and groups by it with no join.
		// One value per process, so no series more.
		otelprom.WithResourceAsConstantLabels(attribute.NewAllowKeysFilter(semconv.ServiceNameKey)),
	)
	if err != nil {
		return nil, nil, errors.Join(fmt.Errorf("crstel: the Prometheus exporter: %w", err), ln.Close())
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	return &promServer{
		reader: exp,
		addr:   ln.Addr().String(),
		srv:    &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second},
		done:   make(chan struct{}),
	}, ln, nil
}

// start serves on ln until shutdown.
func (s *promServer) start(ln net.Listener) {
	go func() {
		defer close(s.done)
		_ = s.srv.Serve(ln) // http.ErrServerClosed after shutdown
	}()
}

// shutdown stops the server, waiting for the requests being served until
// ctx ends, and for its goroutine.
func (s *promServer) shutdown(ctx context.Context) error {
	err := s.srv.Shutdown(ctx)
	if err != nil {
		err = errors.Join(fmt.Errorf("crstel: stopping the Prometheus endpoint: %w", err), s.srv.Close())
	}
	<-s.done
	return err
}

// PrometheusAddr returns the address the Prometheus endpoint listens on,
// such as "127.0.0.1:9464" (its metrics are at /metrics), or "" if Setup
// serves none. With OTEL_EXPORTER_PROMETHEUS_PORT=0 it tells the free port
// taken.
func (t *Telemetry) PrometheusAddr() string {
	if t.prom == nil {
		return ""
	}
	return t.prom.addr
}
