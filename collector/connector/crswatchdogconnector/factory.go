package crswatchdogconnector

import (
	"context"
	"sync"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/connector"
	"go.opentelemetry.io/collector/consumer"

	"github.com/crstel/crstel/collector/connector/crswatchdogconnector/internal/metadata"
)

// NewFactory returns the factory of the crs_watchdog connector: logs →
// traces (the reports), logs → metrics (its metrics) and traces → traces
// (real spans pass through unchanged, and close their actions).
func NewFactory() connector.Factory {
	return connector.NewFactory(
		metadata.Type,
		createDefaultConfig,
		connector.WithLogsToTraces(createLogsToTraces, metadata.LogsToTracesStability),
		connector.WithLogsToMetrics(createLogsToMetrics, metadata.LogsToMetricsStability),
		connector.WithTracesToTraces(createTracesToTraces, metadata.TracesToTracesStability),
	)
}

// shared holds the state of each connector, by its configuration: the
// collector creates one instance per pair of pipeline types, and all of a
// connector's instances share its state.
var shared = struct {
	sync.Mutex
	m map[*Config]*watchdog
}{m: make(map[*Config]*watchdog)}

// acquire returns the state of the connector of cfg, made on first use.
func acquire(set connector.Settings, cfg *Config) (*watchdog, error) {
	shared.Lock()
	defer shared.Unlock()
	w := shared.m[cfg]
	if w == nil {
		var err error
		if w, err = newWatchdog(set.TelemetrySettings, set.ID, cfg); err != nil {
			return nil, err
		}
		shared.m[cfg] = w
	}
	w.refs++
	return w, nil
}

// release drops a reference to w; the last one stops it.
func release(ctx context.Context, w *watchdog) error {
	shared.Lock()
	w.refs--
	last := w.refs == 0
	if last {
		delete(shared.m, w.cfg)
	}
	shared.Unlock()
	if !last {
		return nil
	}
	return w.shutdown(ctx)
}

func createLogsToTraces(_ context.Context, set connector.Settings, cfg component.Config, next consumer.Traces) (connector.Logs, error) {
	w, err := acquire(set, cfg.(*Config))
	if err != nil {
		return nil, err
	}
	w.mu.Lock()
	w.reports = next
	w.mu.Unlock()
	return &instance{w: w, logs: true}, nil
}

func createLogsToMetrics(_ context.Context, set connector.Settings, cfg component.Config, next consumer.Metrics) (connector.Logs, error) {
	w, err := acquire(set, cfg.(*Config))
	if err != nil {
		return nil, err
	}
	w.mu.Lock()
	w.metrics = next
	w.mu.Unlock()
	return &instance{w: w, metricsOnly: true}, nil
}

func createTracesToTraces(_ context.Context, set connector.Settings, cfg component.Config, next consumer.Traces) (connector.Traces, error) {
	w, err := acquire(set, cfg.(*Config))
	if err != nil {
		return nil, err
	}
	return &instance{w: w, next: next}, nil
}
