package crswatchdogconnector

import (
	"context"
	"strconv"
	"sync"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/crstel/crstel/collector/connector/crswatchdogconnector/internal/metadata"
	"github.com/crstel/crstel/crs"
)

// Resource and span attribute keys the connector reads.
const (
	serviceInstanceKey = "service.instance.id"
	hostNameKey        = "host.name"
	processPIDKey      = "process.pid"
	serviceNameKey     = "service.name"
	categoryKey        = "crs.action.category"
	actionNameKey      = "crs.action.name"
	genAIOperationKey  = "gen_ai.operation.name"
)

// maxServiceNames bounds the distinct service.name values of the metrics.
const maxServiceNames = 100

// minRemember is the shortest time an action closed is remembered, so that
// a heartbeat retried after its end or its report does not open it again.
const minRemember = time.Hour

// watchdog is the state of one crs_watchdog connector, shared by its
// logs → traces, logs → metrics and traces → traces instances.
type watchdog struct {
	cfg      *Config
	budgets  map[string]time.Duration
	remember time.Duration
	logger   *zap.Logger
	tel      *metadata.TelemetryBuilder
	id       component.ID

	mu       sync.Mutex
	actions  map[actionID]*action
	procs    map[string]*process
	head     *action // least recently heard of
	tail     *action
	done     map[actionID]time.Time
	doneQ    []doneEntry // in the order closed; doneQ[doneHead:] is live
	doneHead int
	labels   map[labelKey]*labelSet
	services map[string]struct{}
	pending  []actionID // found overdue, reported at the next check
	dirty    map[actionID]struct{}
	started  time.Time

	// Set when the instances are created, before they start.
	reports consumer.Traces  // of the logs → traces instance
	metrics consumer.Metrics // of the logs → metrics instance

	life   sync.Mutex // guards stop and client's lifetime
	refs   int        // guarded by shared
	stop   chan struct{}
	wg     sync.WaitGroup
	client storage.Client
}

func newWatchdog(set component.TelemetrySettings, id component.ID, cfg *Config) (*watchdog, error) {
	budgets, err := parseBudgets(cfg.Budgets)
	if err != nil {
		return nil, err
	}
	tel, err := metadata.NewTelemetryBuilder(set)
	if err != nil {
		return nil, err
	}
	w := &watchdog{
		cfg:      cfg,
		budgets:  budgets,
		remember: max(minRemember, 10*cfg.LostAfter),
		logger:   set.Logger,
		tel:      tel,
		id:       id,
		actions:  make(map[actionID]*action),
		procs:    make(map[string]*process),
		done:     make(map[actionID]time.Time),
		labels:   make(map[labelKey]*labelSet),
		services: make(map[string]struct{}),
		dirty:    make(map[actionID]struct{}),
	}
	if err := tel.RegisterConnectorCrsWatchdogOpenActionsCallback(w.observeOpen); err != nil {
		tel.Shutdown()
		return nil, err
	}
	return w, nil
}

// observeOpen reports the open actions by labels.
func (w *watchdog) observeOpen(_ context.Context, o metric.Int64Observer) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, ls := range w.labels {
		o.Observe(ls.open, metric.WithAttributes(ls.attrs()...))
	}
	return nil
}

func (ls *labelSet) attrs() []attribute.KeyValue {
	return []attribute.KeyValue{
		attribute.String(serviceNameKey, ls.service),
		attribute.String(categoryKey, ls.category),
	}
}

// consumeLogs tracks the span lifecycle records of ld.
func (w *watchdog) consumeLogs(ctx context.Context, ld plog.Logs) {
	now := time.Now()
	var bad int64
	w.mu.Lock()
	defer func() {
		w.mu.Unlock()
		if bad > 0 {
			w.tel.ConnectorCrsWatchdogBadRecords.Add(ctx, bad)
		}
	}()
	for _, rl := range ld.ResourceLogs().All() {
		res := rl.Resource()
		pkey := processKey(res.Attributes())
		service := "unknown_service"
		if v, ok := res.Attributes().Get(serviceNameKey); ok && v.AsString() != "" {
			service = v.AsString()
		}
		for _, sl := range rl.ScopeLogs().All() {
			for _, lr := range sl.LogRecords().All() {
				kind, err := kindOf(lr)
				if err == nil && kind == notLifecycle {
					continue
				}
				if err == nil {
					err = w.record(kind, pkey, service, lr, now)
				}
				if err != nil {
					bad++
					w.logger.Warn("crs_watchdog: unreadable span lifecycle record",
						zap.String("service.name", service),
						zap.String("trace_id", lr.TraceID().String()),
						zap.String("span_id", lr.SpanID().String()),
						zap.Error(err))
				}
			}
		}
	}
}

// processKey identifies the process of a resource: its
// service.instance.id, else its host.name and process.pid; "" if it has
// none of them, and then each action is a process of its own.
func processKey(attrs pcommon.Map) string {
	if v, ok := attrs.Get(serviceInstanceKey); ok && v.AsString() != "" {
		return "i:" + v.AsString()
	}
	host, hok := attrs.Get(hostNameKey)
	pid, pok := attrs.Get(processPIDKey)
	if !hok && !pok {
		return ""
	}
	var h, p string
	if hok {
		h = host.AsString()
	}
	if pok {
		p = pid.AsString()
	}
	return "h:" + h + "/" + p
}

// record tracks one lifecycle record, under w.mu.
func (w *watchdog) record(kind recordKind, pkey, service string, lr plog.LogRecord, now time.Time) error {
	td, err := decodeBody(lr.Body())
	if err != nil {
		// An ended record still closes the action it names.
		if kind == ended && !lr.TraceID().IsEmpty() && !lr.SpanID().IsEmpty() {
			w.close(idOf(lr.TraceID(), lr.SpanID()), now)
		}
		return err
	}
	beat := int64(lr.Timestamp())
	if beat == 0 {
		beat = int64(lr.ObservedTimestamp())
	}
	if beat == 0 {
		beat = now.UnixNano()
	}
	var errs error
	for _, rs := range td.ResourceSpans().All() {
		for _, ss := range rs.ScopeSpans().All() {
			for _, span := range ss.Spans().All() {
				if span.TraceID().IsEmpty() || span.SpanID().IsEmpty() {
					errs = errNoSpan
					continue
				}
				id := idOf(span.TraceID(), span.SpanID())
				if kind == ended {
					w.close(id, now)
					continue
				}
				if err := w.heartbeat(id, pkey, service, rs.Resource(), ss.Scope(), span, beat, now); err != nil {
					errs = err
				}
			}
		}
	}
	return errs
}

// heartbeat tracks a heartbeat of the action id, under w.mu.
func (w *watchdog) heartbeat(id actionID, pkey, service string, res pcommon.Resource, scope pcommon.InstrumentationScope, span ptrace.Span, beat int64, now time.Time) error {
	if _, closed := w.done[id]; closed {
		return nil // a retry, or a record that arrived late
	}
	snap, err := snapshot(res, scope, span)
	if err != nil {
		return err
	}
	a := w.actions[id]
	if a == nil {
		if pkey == "" {
			pkey = "a:" + id.String()
		}
		p := w.procs[pkey]
		if p == nil {
			p = &process{key: pkey, service: service}
			w.procs[pkey] = p
		}
		a = &action{id: id, labels: w.labelsOf(service, span.Attributes())}
		a.labels.open++
		p.add(a)
		w.actions[id] = a
		w.pushBack(a)
		for len(w.actions) > w.cfg.MaxTracked {
			w.evict()
		}
	} else {
		w.unlink(a)
		w.pushBack(a)
	}
	a.proc.seen = now
	a.snap = snap
	a.start = int64(span.StartTimestamp())
	a.beat = max(a.beat, beat)
	a.heard = now
	a.budget = w.budgetOf(a.labels.category, span.Attributes())
	if !a.overdue && a.budget > 0 && a.start > 0 && time.Duration(a.beat-a.start) > a.budget {
		a.overdue = true
		w.pending = append(w.pending, id)
	}
	w.markDirty(id)
	return nil
}

// labelsOf returns the label set of an action of service whose span has
// attrs.
func (w *watchdog) labelsOf(service string, attrs pcommon.Map) *labelSet {
	category := "unknown"
	if v, ok := attrs.Get(categoryKey); ok {
		category = "other"
		for _, c := range crs.Categories() {
			if string(c) == v.AsString() {
				category = string(c)
			}
		}
	}
	return w.labelsFor(service, category)
}

// labelsFor returns the label set of service and category, bounding the
// service names, under w.mu.
func (w *watchdog) labelsFor(service, category string) *labelSet {
	if _, ok := w.services[service]; !ok {
		if len(w.services) < maxServiceNames {
			w.services[service] = struct{}{}
		} else {
			service = "other"
		}
	}
	k := labelKey{service, category}
	ls := w.labels[k]
	if ls == nil {
		ls = &labelSet{labelKey: k}
		w.labels[k] = ls
	}
	return ls
}

// budgetOf returns an action's budget: its crstel.watchdog.budget
// attribute (seconds), else the budgets setting's entry for llm (a span
// with gen_ai.operation.name) or its category, else its default.
func (w *watchdog) budgetOf(category string, attrs pcommon.Map) time.Duration {
	if v, ok := attrs.Get(budgetKey); ok {
		var s float64
		switch v.Type() {
		case pcommon.ValueTypeDouble:
			s = v.Double()
		case pcommon.ValueTypeInt:
			s = float64(v.Int())
		case pcommon.ValueTypeStr:
			s, _ = strconv.ParseFloat(v.Str(), 64)
		}
		if s > 0 && s < 1e9 {
			return time.Duration(s * float64(time.Second))
		}
	}
	if _, ok := attrs.Get(genAIOperationKey); ok {
		if d, ok := w.budgets["llm"]; ok {
			return d
		}
	}
	if d, ok := w.budgets[category]; ok {
		return d
	}
	return w.budgets["default"]
}

// remove forgets a tracked action, under w.mu.
func (w *watchdog) remove(a *action) {
	delete(w.actions, a.id)
	w.unlink(a)
	p := a.proc
	p.remove(a)
	if p.actions == 0 {
		delete(w.procs, p.key)
	}
	a.labels.open--
	w.markDirty(a.id)
}

// evict forgets the action heard of least recently, under w.mu.
func (w *watchdog) evict() {
	a := w.head
	w.remove(a)
	w.tel.ConnectorCrsWatchdogEvictions.Add(context.Background(), 1)
	w.logger.Warn("crs_watchdog: max_tracked actions tracked; forgetting the action heard of least recently",
		zap.Int("max_tracked", w.cfg.MaxTracked),
		zap.String("trace_id", a.id.traceID().String()),
		zap.String("span_id", a.id.spanID().String()))
}

// close forgets the action id, which ended, and remembers that it did,
// under w.mu.
func (w *watchdog) close(id actionID, now time.Time) {
	if a := w.actions[id]; a != nil {
		w.remove(a)
	}
	w.markDone(id, now)
}

// markDone remembers that the action id is closed, under w.mu.
func (w *watchdog) markDone(id actionID, now time.Time) {
	if _, ok := w.done[id]; ok {
		return
	}
	w.done[id] = now
	w.doneQ = append(w.doneQ, doneEntry{id, now})
	w.markDirty(id)
	for len(w.done) > w.cfg.MaxTracked {
		w.forgetOldestDone()
	}
}

// forgetOldestDone forgets the action closed first, under w.mu.
func (w *watchdog) forgetOldestDone() {
	e := w.doneQ[w.doneHead]
	w.doneQ[w.doneHead] = doneEntry{}
	w.doneHead++
	if at, ok := w.done[e.id]; ok && at.Equal(e.at) {
		delete(w.done, e.id)
		w.markDirty(e.id)
	}
	if w.doneHead > 1024 && w.doneHead > len(w.doneQ)/2 {
		w.doneQ = append(w.doneQ[:0], w.doneQ[w.doneHead:]...)
		w.doneHead = 0
	}
}

func (w *watchdog) markDirty(id actionID) {
	if w.client != nil {
		w.dirty[id] = struct{}{}
	}
}

// consumeSpans forgets the actions whose real spans are in td.
func (w *watchdog) consumeSpans(td ptrace.Traces) {
	now := time.Now()
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.actions) == 0 {
		return
	}
	for _, rs := range td.ResourceSpans().All() {
		for _, ss := range rs.ScopeSpans().All() {
			for _, span := range ss.Spans().All() {
				id := idOf(span.TraceID(), span.SpanID())
				if a := w.actions[id]; a != nil {
					w.remove(a)
					w.markDone(id, now)
				}
			}
		}
	}
}

// check finds the lost actions at now, and returns the reports to emit,
// the metrics, and the storage operations that save the state.
func (w *watchdog) check(now time.Time) (ptrace.Traces, pmetric.Metrics, []*storage.Operation) {
	reports := ptrace.NewTraces()
	w.mu.Lock()
	defer w.mu.Unlock()
	// An action whose heartbeats stopped, its process frozen (SIGSTOP, a
	// deadlocked runtime) but not yet lost, is overdue when its elapsed
	// time at its last heartbeat, plus the time since that heartbeat
	// arrived, passes its budget: the process's clock up to the heartbeat,
	// the collector's after, so that no clock skew counts.
	for a := w.head; a != nil; a = a.next {
		if !a.overdue && a.budget > 0 && a.start > 0 && !a.heard.IsZero() && a.elapsedAt(now) > a.budget {
			a.overdue = true
			w.pending = append(w.pending, a.id)
		}
	}
	for _, id := range w.pending {
		if a := w.actions[id]; a != nil {
			if err := appendOverdue(reports, a, now); err != nil {
				w.logger.Error("crs_watchdog: cannot report an overdue action", zap.Error(err))
				continue
			}
			a.labels.overdue++
			w.tel.ConnectorCrsWatchdogOverdueActions.Add(context.Background(), 1, metric.WithAttributes(a.labels.attrs()...))
		}
	}
	w.pending = w.pending[:0]
	for key, p := range w.procs {
		silent := now.Sub(p.seen)
		if silent < w.cfg.LostAfter {
			continue
		}
		for a := p.head; a != nil; {
			next := a.pnext
			if err := appendLost(reports, a, silent, w.cfg.LostAfter, now); err != nil {
				w.logger.Error("crs_watchdog: cannot report a lost action", zap.Error(err))
			}
			a.labels.lost++
			w.tel.ConnectorCrsWatchdogLostActions.Add(context.Background(), 1, metric.WithAttributes(a.labels.attrs()...))
			w.remove(a)
			w.markDone(a.id, now)
			a = next
		}
		delete(w.procs, key)
	}
	for w.doneHead < len(w.doneQ) && now.Sub(w.doneQ[w.doneHead].at) >= w.remember {
		w.forgetOldestDone()
	}
	var md pmetric.Metrics
	if w.metrics != nil {
		md = w.metricsAt(now)
	}
	return reports, md, w.flushOps()
}

// metricsAt returns the connector's metrics at now, for the logs → metrics
// pipeline, under w.mu.
func (w *watchdog) metricsAt(now time.Time) pmetric.Metrics {
	md := pmetric.NewMetrics()
	sm := md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty()
	sm.Scope().SetName(scopeName)
	open := sm.Metrics().AppendEmpty()
	open.SetName("crstel.watchdog.open_actions")
	open.SetUnit("{actions}")
	open.SetDescription("Open actions tracked, from their span lifecycle records.")
	gauge := open.SetEmptyGauge()
	sum := func(name, desc string) pmetric.Sum {
		m := sm.Metrics().AppendEmpty()
		m.SetName(name)
		m.SetUnit("{actions}")
		m.SetDescription(desc)
		s := m.SetEmptySum()
		s.SetIsMonotonic(true)
		s.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
		return s
	}
	lost := sum("crstel.watchdog.lost_actions", "Actions reported lost, their process silent for lost_after.")
	overdue := sum("crstel.watchdog.overdue_actions", "Actions reported overdue, still beating past their budget.")
	ts := pcommon.NewTimestampFromTime(now)
	start := pcommon.NewTimestampFromTime(w.started)
	for _, ls := range w.labels {
		for _, p := range []struct {
			dps   pmetric.NumberDataPointSlice
			value int64
			sum   bool
		}{{gauge.DataPoints(), ls.open, false}, {lost.DataPoints(), ls.lost, true}, {overdue.DataPoints(), ls.overdue, true}} {
			dp := p.dps.AppendEmpty()
			dp.SetTimestamp(ts)
			if p.sum {
				dp.SetStartTimestamp(start)
			}
			dp.SetIntValue(p.value)
			dp.Attributes().PutStr(serviceNameKey, ls.service)
			dp.Attributes().PutStr(categoryKey, ls.category)
		}
	}
	return md
}
