package crstel

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"

	"github.com/crstel/crstel/crs"
	"github.com/crstel/crstel/internal/actionref"
	"github.com/crstel/crstel/internal/envconfig"
	"github.com/crstel/crstel/internal/export"
	"github.com/crstel/crstel/internal/otlp"
	"github.com/crstel/crstel/internal/pipeline"
	"github.com/crstel/crstel/internal/provider"
	"github.com/crstel/crstel/internal/watchdog"
)

// Metrics that Setup's meter provider exports.
const (
	// MetricOpenActions is the number of actions open now.
	MetricOpenActions = "crstel.actions.open"
	// MetricOverdueActions is the number of actions open now past their
	// budget (WithOverdueAfter, CRSTEL_OVERDUE) or their context's
	// deadline; the operations inside them with a budget of their own,
	// such as LLM calls, count too.
	MetricOverdueActions = "crstel.actions.overdue"
	// MetricWatchdogReports counts watchdog reports, by
	// crstel.watchdog.state (overdue, stalled, abandoned, over_budget).
	MetricWatchdogReports = "crstel.watchdog.reports"
	// MetricSpansLost counts spans that ended but were not exported, by
	// crstel.reason: "queue_full", "export_failed", or "shutdown" (still
	// queued when a bounded Shutdown gave up). Each span is counted once,
	// when its fate is decided: the counter never goes down.
	MetricSpansLost = "crstel.spans.lost"
	// MetricActionDuration is the duration of actions, in seconds, by
	// crs.action.category (one of the nine, or "invalid") and
	// crstel.action.outcome ("error" if the span's status is Error, as
	// for an action abandoned at Shutdown; else "ok"): a histogram,
	// recorded when an action of Setup's pipeline ends. Its count is the
	// number of actions ended, by category and outcome.
	MetricActionDuration = "crstel.action.duration"
	// MetricQueueSize is the number of items waiting in an export queue
	// or being sent, by crstel.signal: "spans" or "log_records".
	MetricQueueSize = "crstel.export.queue.size"
	// MetricQueueAge is the age of the oldest item of an export queue, in
	// seconds, by crstel.signal; 0 when the queue is empty. It is
	// estimated from one item in every 1/2048th of the queue's bound.
	MetricQueueAge = "crstel.export.queue.age"
	// MetricLogRecordsLost counts the log records of Setup's
	// LoggerProvider that were not exported, by crstel.reason as
	// MetricSpansLost.
	MetricLogRecordsLost = "crstel.log_records.lost"
)

// reasonKey says why spans were lost, on MetricSpansLost.
const reasonKey = attribute.Key("crstel.reason")

// signalKey names the export queue of MetricQueueSize and MetricQueueAge.
const signalKey = attribute.Key("crstel.signal")

// outcomeKey says how an action ended, on MetricActionDuration.
const outcomeKey = attribute.Key("crstel.action.outcome")

// durationBounds are the buckets of MetricActionDuration, in seconds: from
// a few milliseconds (a lookup) to two hours (a fuzzing campaign).
var durationBounds = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200}

// durationRecorder records MetricActionDuration, with the options of each
// category and outcome made once, so that an action's end allocates
// nothing for them.
type durationRecorder struct {
	hist    metric.Float64Histogram
	opts    map[string]*[2][]metric.RecordOption // by category; [0] ok, [1] error
	invalid *[2][]metric.RecordOption
}

// outcomes are the values of outcomeKey, in the order of
// durationRecorder's options.
var outcomes = [2]string{"ok", "error"}

// recordOptions returns the options of the series of category, by outcome.
func recordOptions(category string) *[2][]metric.RecordOption {
	var o [2][]metric.RecordOption
	for i, outcome := range outcomes {
		o[i] = []metric.RecordOption{metric.WithAttributeSet(attribute.NewSet(categoryKey.String(category), outcomeKey.String(outcome)))}
	}
	return &o
}

func newDurationRecorder(m metric.Meter) (*durationRecorder, error) {
	h, err := m.Float64Histogram(MetricActionDuration,
		metric.WithDescription("Duration of CRS actions"), metric.WithUnit("s"),
		metric.WithExplicitBucketBoundaries(durationBounds...))
	if err != nil {
		return nil, err
	}
	r := &durationRecorder{hist: h, opts: make(map[string]*[2][]metric.RecordOption), invalid: recordOptions("invalid")}
	for _, c := range crs.Categories() {
		r.opts[string(c)] = recordOptions(string(c))
	}
	return r, nil
}

// record records the duration of a, which ends now.
func (r *durationRecorder) record(a *watchdog.Action) {
	start := a.Start()
	if start.IsZero() {
		return
	}
	category, _, _ := a.Owner.Describe()
	opts, ok := r.opts[category]
	if !ok {
		opts = r.invalid
	}
	outcome, d := 0, time.Duration(-1)
	if o, ok := a.Owner.(pipeline.Owner); ok {
		if s := o.ReadOnly(); s != nil {
			if s.Status().Code == codes.Error {
				outcome = 1
			}
			// The span's own times, when it has ended: exact also for an
			// action whose span was ended through the span itself, which
			// the watchdog notices later.
			if end := s.EndTime(); !end.IsZero() {
				d = end.Sub(s.StartTime())
			}
		}
	}
	if d < 0 { // a span not recorded (sampled out): ends now
		d = time.Since(start)
	}
	r.hist.Record(context.Background(), d.Seconds(), opts[outcome]...)
}

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
// any other instrumentation's (such as the GenAI metrics), read by
// readers (nil ones left out).
func newMeterProvider(res *resource.Resource, readers ...sdkmetric.Reader) *sdkmetric.MeterProvider {
	opts := []sdkmetric.Option{sdkmetric.WithResource(res)}
	for _, r := range readers {
		if r != nil {
			opts = append(opts, sdkmetric.WithReader(r))
		}
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
	overdue, err := m.Int64ObservableUpDownCounter(MetricOverdueActions,
		metric.WithDescription("CRS actions open now past their budget or deadline"), metric.WithUnit("{action}"))
	if err != nil {
		return err
	}
	reports, err := m.Int64ObservableCounter(MetricWatchdogReports,
		metric.WithDescription("Reports of actions overdue, stalled, abandoned or over budget"), metric.WithUnit("{report}"))
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
	queueSize, err := m.Int64ObservableUpDownCounter(MetricQueueSize,
		metric.WithDescription("Items waiting in an export queue or being sent"), metric.WithUnit("{item}"))
	if err != nil {
		return err
	}
	queueAge, err := m.Float64ObservableGauge(MetricQueueAge,
		metric.WithDescription("Age of the oldest item of an export queue"), metric.WithUnit("s"))
	if err != nil {
		return err
	}
	spansQueue := metric.WithAttributes(signalKey.String("spans"))
	recordsQueue := metric.WithAttributes(signalKey.String("log_records"))
	observeQueue := func(o metric.Observer, acc *export.Account, set metric.ObserveOption, now time.Time) {
		o.ObserveInt64(queueSize, acc.Counts().Queued, set)
		o.ObserveFloat64(queueAge, acc.OldestAge(now).Seconds(), set)
	}
	states := []watchdog.State{watchdog.Overdue, watchdog.Stalled, watchdog.Abandoned, watchdog.OverBudget}
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
		now := time.Now()
		o.ObserveInt64(open, t.pipeline.Open())
		o.ObserveInt64(overdue, t.pipeline.Overdue(now))
		for i, s := range states {
			o.ObserveInt64(reports, t.pipeline.Reports(s), stateSets[i])
		}
		observeLost(o, lost, statsOf(t.acc.Counts()))
		observeQueue(o, t.acc, spansQueue, now)
		if t.logs != nil && t.logs.acc != nil {
			observeLost(o, lostRecords, statsOf(t.logs.acc.Counts()))
			observeQueue(o, t.logs.acc, recordsQueue, now)
		}
		return nil
	}, open, overdue, reports, lost, lostRecords, queueSize, queueAge)
	return err
}

// The cost metrics: counters added to by each LLM call and subprocess
// inside an action, through the global meter provider (Setup's). Their
// attributes are bounded: crs.action.category (the innermost action's),
// gen_ai.request.model (the model priced: the response's, else the
// request's) and crstel.cost.currency; the service is the resource's
// service.name. Task ids stay off them: a label with a new value for each
// task makes a new series each time, which backends keep for weeks and
// bill by; the journal and the spans' roll-ups give the cost of a task
// (`crstel trace costs --by task`).
const (
	// MetricCostLLM is the cost of LLM calls (double), in the currency of
	// its crstel.cost.currency attribute.
	MetricCostLLM = "crstel.cost.llm"
	// MetricCostTokens counts LLM tokens, by gen_ai.token.type: input
	// (cache reads and writes included), output, cache_read, cache_write.
	MetricCostTokens = "crstel.cost.llm.tokens"
	// MetricCostCPU is the user and system CPU time of subprocesses, in
	// seconds.
	MetricCostCPU = "crstel.cost.cpu"
)

// Attribute keys of the cost metrics.
const (
	costCurrencyKey  = attribute.Key("crstel.cost.currency")
	costModelKey     = attribute.Key("gen_ai.request.model")
	costTokenTypeKey = attribute.Key("gen_ai.token.type")
	categoryKey      = attribute.Key("crs.action.category")
)

// costInstruments are the cost counters of one meter provider.
type costInstruments struct {
	provider metric.MeterProvider
	amount   metric.Float64Counter
	tokens   metric.Int64Counter
	cpu      metric.Float64Counter
}

// cachedCost holds the counters of the provider used last, so that an
// event does not look them up, and a new global provider is still
// followed.
var cachedCost atomic.Pointer[costInstruments]

func costInstrumentsFor(mp metric.MeterProvider) *costInstruments {
	if in := cachedCost.Load(); in != nil && provider.Same(in.provider, mp) {
		return in
	}
	m := mp.Meter(ScopeName)
	in := &costInstruments{provider: mp}
	var err error
	var errs []error
	in.amount, err = m.Float64Counter(MetricCostLLM,
		metric.WithDescription("Cost of LLM calls, in the currency of crstel.cost.currency"), metric.WithUnit("{currency_unit}"))
	errs = append(errs, err)
	in.tokens, err = m.Int64Counter(MetricCostTokens,
		metric.WithDescription("LLM tokens, by gen_ai.token.type"), metric.WithUnit("{token}"))
	errs = append(errs, err)
	in.cpu, err = m.Float64Counter(MetricCostCPU,
		metric.WithDescription("User and system CPU time of subprocesses"), metric.WithUnit("s"))
	errs = append(errs, err)
	if err := errors.Join(errs...); err != nil {
		otel.Handle(err)
	}
	cachedCost.Store(in)
	return in
}

// costLabels are the labels of one series of the cost metrics.
type costLabels struct{ category, model, currency string }

// costOptions are the options that label the points of one costLabels:
// made once, so that an event allocates nothing for its labels.
// Each is a slice of one, passed on as it is: a variadic call with one
// option would allocate the slice each time.
type costOptions struct {
	amount, cpu []metric.AddOption
	tokens      [4][]metric.AddOption // input, output, cache_read, cache_write
}

var (
	costOptionsCache sync.Map // costLabels → *costOptions
	costOptionsCount atomic.Int64
)

// maxCostOptions bounds the cache of costOptions; past it, options are made
// for each event.
const maxCostOptions = 4096

var tokenTypes = [4]string{"input", "output", "cache_read", "cache_write"}

func optionsFor(l costLabels) *costOptions {
	if o, ok := costOptionsCache.Load(l); ok {
		return o.(*costOptions)
	}
	cat := categoryKey.String(l.category)
	model := costModelKey.String(l.model)
	o := &costOptions{
		cpu:    []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(cat))},
		amount: []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(cat, model, costCurrencyKey.String(l.currency)))},
	}
	for i, t := range tokenTypes {
		o.tokens[i] = []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(cat, model, costTokenTypeKey.String(t)))}
	}
	if costOptionsCount.Load() < maxCostOptions {
		if prev, loaded := costOptionsCache.LoadOrStore(l, o); loaded {
			return prev.(*costOptions)
		}
		costOptionsCount.Add(1)
	}
	return o
}

// recordCostMetrics counts one cost event of an action of category.
func recordCostMetrics(category string, c *actionref.Cost) {
	in := costInstrumentsFor(otel.GetMeterProvider())
	ctx := context.Background()
	if c.Subprocesses > 0 && c.CPU > 0 && in.cpu != nil {
		in.cpu.Add(ctx, c.CPU.Seconds(), optionsFor(costLabels{category: category}).cpu...)
	}
	if c.LLMCalls == 0 {
		return
	}
	// The currency labels the amount only; the tokens' series leave it out.
	o := optionsFor(costLabels{category, c.Model, c.Currency})
	if c.Priced && in.amount != nil {
		in.amount.Add(ctx, c.Amount, o.amount...)
	}
	if in.tokens == nil {
		return
	}
	for i, n := range [4]int64{c.InputTokens, c.OutputTokens, c.CacheReadTokens, c.CacheWriteTokens} {
		if n > 0 {
			in.tokens.Add(ctx, n, o.tokens[i]...)
		}
	}
}
