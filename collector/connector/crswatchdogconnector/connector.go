package crswatchdogconnector

import (
	"context"
	"errors"
	"sync"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.uber.org/zap"
)

// instance is one of a connector's instances: logs → traces, logs →
// metrics, or traces → traces.
type instance struct {
	w *watchdog
	// logs: it tracks the lifecycle records it consumes. metricsOnly: it
	// does so only if the connector has no logs → traces instance, which
	// otherwise consumes the same records.
	logs, metricsOnly bool
	next              consumer.Traces // of traces → traces
	once              sync.Once
}

// Start starts the connector's state on the first call of its instances:
// it reloads the state from the storage extension, if any, and starts
// checking for lost actions.
func (c *instance) Start(ctx context.Context, host component.Host) error {
	return c.w.start(ctx, host)
}

// Shutdown stops the connector's state on the last call of its instances:
// a last check, and the state written to the storage extension.
func (c *instance) Shutdown(ctx context.Context) error {
	var err error
	c.once.Do(func() { err = release(ctx, c.w) })
	return err
}

// Capabilities says that the connector does not change the data it
// consumes.
func (c *instance) Capabilities() consumer.Capabilities {
	return consumer.Capabilities{MutatesData: false}
}

// ConsumeLogs tracks the span lifecycle records in ld.
func (c *instance) ConsumeLogs(ctx context.Context, ld plog.Logs) error {
	if c.logs || c.metricsOnly && c.w.reports == nil {
		c.w.consumeLogs(ctx, ld)
	}
	return nil
}

// ConsumeTraces forgets the actions whose spans are in td, and passes td
// on unchanged.
func (c *instance) ConsumeTraces(ctx context.Context, td ptrace.Traces) error {
	c.w.consumeSpans(td)
	return c.next.ConsumeTraces(ctx, td)
}

// start starts w once.
func (w *watchdog) start(ctx context.Context, host component.Host) error {
	w.life.Lock()
	defer w.life.Unlock()
	if w.stop != nil {
		return nil
	}
	if w.cfg.Storage != nil {
		client, err := openStorage(ctx, host, w.id, w.cfg)
		if err != nil {
			return err
		}
		w.mu.Lock()
		w.client = client
		err = w.load(ctx, time.Now())
		w.mu.Unlock()
		if err != nil {
			return err
		}
	}
	w.started = time.Now()
	w.stop = make(chan struct{})
	w.wg.Go(w.run)
	return nil
}

// run checks every check interval until w stops.
func (w *watchdog) run() {
	t := time.NewTicker(w.cfg.CheckInterval)
	defer t.Stop()
	for {
		select {
		case <-w.stop:
			return
		case <-t.C:
			w.tick(context.Background())
		}
	}
}

// tick makes one check: it emits the reports and the metrics, and saves
// the state.
func (w *watchdog) tick(ctx context.Context) error { return w.tickAt(ctx, time.Now()) }

// tickAt makes the check of now.
func (w *watchdog) tickAt(ctx context.Context, now time.Time) error {
	reports, md, ops := w.check(now)
	var errs []error
	if reports.SpanCount() > 0 {
		if w.reports == nil {
			w.logger.Warn("crs_watchdog: reports made with no traces pipeline to receive them; use the connector as a receiver of a traces pipeline",
				zap.Int("spans", reports.SpanCount()))
		} else if err := w.reports.ConsumeTraces(ctx, reports); err != nil {
			w.logger.Error("crs_watchdog: reports not sent", zap.Int("spans", reports.SpanCount()), zap.Error(err))
			errs = append(errs, err)
		}
	}
	if w.metrics != nil && md.DataPointCount() > 0 {
		if err := w.metrics.ConsumeMetrics(ctx, md); err != nil {
			w.logger.Warn("crs_watchdog: metrics not sent", zap.Error(err))
		}
	}
	if len(ops) > 0 {
		if err := w.client.Batch(ctx, ops...); err != nil {
			w.logger.Error("crs_watchdog: state not saved", zap.Int("operations", len(ops)), zap.Error(err))
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// shutdown stops w: a last check, then the storage client is closed.
func (w *watchdog) shutdown(ctx context.Context) error {
	w.life.Lock()
	defer w.life.Unlock()
	var errs []error
	if w.stop != nil {
		close(w.stop)
		w.wg.Wait()
		errs = append(errs, w.tick(ctx))
		w.stop = nil
	}
	if w.client != nil {
		errs = append(errs, w.client.Close(ctx))
		w.client = nil
	}
	w.tel.Shutdown()
	return errors.Join(errs...)
}
