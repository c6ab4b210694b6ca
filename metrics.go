package crstel

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"

	"github.com/crstel/crstel/internal/envconfig"
	"github.com/crstel/crstel/internal/otlp"
	"github.com/crstel/crstel/internal/watchdog"
)

// Metrics that Setup's meter provider exports.
const (
	// MetricOpenActions is the number of actions open now.
	MetricOpenActions = "crstel.actions.open"
	// MetricWatchdogReports counts watchdog reports, by
	// crstel.watchdog.state (overdue, stalled, abandoned).
	MetricWatchdogReports = "crstel.watchdog.reports"
	// MetricSpansLost counts spans that ended but were not exported, by
	// crstel.reason: "queue_full", "export_failed", or "shutdown" (still
	// queued when a bounded Shutdown gave up). Each span is counted once,
	// when its fate is decided: the counter never goes down.
	MetricSpansLost = "crstel.spans.lost"
	// MetricLogRecordsLost counts the log records of Setup's
	// LoggerProvider that were not exported, by crstel.reason as
	// MetricSpansLost.
	MetricLogRecordsLost = "crstel.log_records.lost"
)

// reasonKey says why spans were lost, on MetricSpansLost.
const reasonKey = attribute.Key("crstel.reason")

// newMetricReader returns the reader of Setup's meter provider: the one of
// WithMetricReader; else a periodic reader exporting over OTLP gRPC with
// the same settings as the spans, when OTEL_METRICS_EXPORTER is "otlp", or
// is unset and spans go to an OTLP collector; else nil, and metrics are
// not exported.
func newMetricReader(ctx context.Context, cfg config, env envconfig.Config) (sdkmetric.Reader, error) {
	switch {
	case cfg.metricReader != nil:
		return cfg.metricReader, nil
	case env.MetricsExporter == "otlp" || env.MetricsExporter == "" && cfg.otlp(env):
		// The exporter reads the OTEL_EXPORTER_OTLP_* variables itself,
		// after envconfig checked them; the settings are passed on too,
		// with the options, and the traces-specific ones when the metrics
		// endpoint falls back to the spans', so that metrics go where the
		// spans go.
		exp, err := otlp.NewMetricExporter(ctx, otlp.NewTarget(cfg.otlpOptions(), env.Metrics))
		if err != nil {
			return nil, err
		}
		return sdkmetric.NewPeriodicReader(exp), nil
	}
	return nil, nil
}

// newMeterProvider makes the meter provider, for crstel's own metrics and
// any other instrumentation's (such as the GenAI metrics), read by reader
// (none if nil).
func newMeterProvider(res *resource.Resource, reader sdkmetric.Reader) *sdkmetric.MeterProvider {
	opts := []sdkmetric.Option{sdkmetric.WithResource(res)}
	if reader != nil {
		opts = append(opts, sdkmetric.WithReader(reader))
	}
	return sdkmetric.NewMeterProvider(opts...)
}

// registerMetrics registers crstel's instruments. They are observed when
// the reader collects, so the actions themselves pay nothing for them.
func registerMetrics(m metric.Meter, t *Telemetry) error {
	open, err := m.Int64ObservableUpDownCounter(MetricOpenActions,
		metric.WithDescription("CRS actions open now"), metric.WithUnit("{action}"))
	if err != nil {
		return err
	}
	reports, err := m.Int64ObservableCounter(MetricWatchdogReports,
		metric.WithDescription("Reports of actions overdue, stalled or abandoned"), metric.WithUnit("{report}"))
	if err != nil {
		return err
	}
	lost, err := m.Int64ObservableCounter(MetricSpansLost,
		metric.WithDescription("Spans that ended but were not exported"), metric.WithUnit("{span}"))
	if err != nil {
		return err
	}
	lostRecords, err := m.Int64ObservableCounter(MetricLogRecordsLost,
		metric.WithDescription("Log records that were emitted but not exported"), metric.WithUnit("{log_record}"))
	if err != nil {
		return err
	}
	states := []watchdog.State{watchdog.Overdue, watchdog.Stalled, watchdog.Abandoned}
	stateSets := make([]metric.ObserveOption, len(states))
	for i, s := range states {
		stateSets[i] = metric.WithAttributes(watchdog.StateKey.String(s.String()))
	}
	queueFull := metric.WithAttributes(reasonKey.String("queue_full"))
	exportFailed := metric.WithAttributes(reasonKey.String("export_failed"))
	shutdown := metric.WithAttributes(reasonKey.String("shutdown"))
	observeLost := func(o metric.Observer, c metric.Int64Observable, st Stats) {
		o.ObserveInt64(c, st.Dropped, queueFull)
		o.ObserveInt64(c, st.Failed, exportFailed)
		o.ObserveInt64(c, st.Unsent, shutdown)
	}
	_, err = m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		o.ObserveInt64(open, t.pipeline.Open())
		for i, s := range states {
			o.ObserveInt64(reports, t.pipeline.Reports(s), stateSets[i])
		}
		observeLost(o, lost, statsOf(t.acc.Counts()))
		if t.logs != nil && t.logs.acc != nil {
			observeLost(o, lostRecords, statsOf(t.logs.acc.Counts()))
		}
		return nil
	}, open, reports, lost, lostRecords)
	return err
}
