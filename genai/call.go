package genai

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/crstel/crstel/crs"
	"github.com/crstel/crstel/internal/actionref"
)

// ScopeName is the instrumentation scope of the spans and metrics of this
// package.
const ScopeName = "github.com/crstel/crstel/genai"

// Request describes an LLM call as it starts. Zero fields are not recorded.
type Request struct {
	// Operation is gen_ai.operation.name; the default is OperationChat.
	Operation string
	// Provider is gen_ai.provider.name, such as ProviderOpenAI.
	Provider string
	// Model is gen_ai.request.model.
	Model string
	// ServerAddress and ServerPort say where the request goes.
	ServerAddress string
	ServerPort    int

	MaxTokens        int
	Temperature      *float64
	TopP             *float64
	TopK             *float64
	FrequencyPenalty *float64
	PresencePenalty  *float64
	StopSequences    []string
	Seed             *int
	ChoiceCount      int
	Stream           bool
	EncodingFormats  []string

	// SystemInstructions and InputMessages are the content sent; recorded
	// only when content capture is on (see Capture).
	SystemInstructions []Part
	InputMessages      []Message
}

// Response describes the outcome of an LLM call. Zero fields are not
// recorded.
type Response struct {
	// ID is gen_ai.response.id. It also becomes crs.action.gen_ai.id on the
	// call's span and on the enclosing CRS action's span.
	ID            string
	Model         string
	FinishReasons []string

	InputTokens              int
	OutputTokens             int
	CacheReadInputTokens     int
	CacheCreationInputTokens int
	ReasoningOutputTokens    int

	// ProviderCost is the call's cost as the provider reported it (such
	// as OpenRouter's usage.cost), recorded with source "provider"; nil
	// when it reported none, and the tokens are priced with the price
	// table (source "local").
	ProviderCost *Cost

	// OutputMessages is the content received; recorded only when content
	// capture is on.
	OutputMessages []Message
}

// Message is a message in the JSON shape of gen_ai.input.messages and
// gen_ai.output.messages.
type Message struct {
	Role         string `json:"role"`
	Parts        []Part `json:"parts"`
	FinishReason string `json:"finish_reason,omitempty"`
}

// Part is a part of a message, or a system instruction: text ("text", with
// Content), a tool call ("tool_call", with ID, Name and Arguments) or a
// tool call's result ("tool_call_response", with ID and Response).
type Part struct {
	Type      string `json:"type"`
	Content   string `json:"content,omitempty"`
	ID        string `json:"id,omitempty"`
	Name      string `json:"name,omitempty"`
	Arguments any    `json:"arguments,omitempty"`
	Response  any    `json:"response,omitempty"`
}

// Option configures [Start] and [NewTransport]: every Option is also a
// [TransportOption].
type Option interface {
	TransportOption
	apply(*config)
}

// TransportOption configures [NewTransport]. The options that only the
// transport uses ([WithProviderName], [WithPropagation],
// [WithMaxBodyBytes]) are TransportOptions but not Options, so that
// [Start] cannot be given one.
type TransportOption interface{ applyTransport(*config) }

// optionFunc is an Option: it applies to Start and to NewTransport.
type optionFunc func(*config)

func (f optionFunc) apply(c *config)          { f(c) }
func (f optionFunc) applyTransport(c *config) { f(c) }

// transportOptionFunc is a TransportOption only.
type transportOptionFunc func(*config)

func (f transportOptionFunc) applyTransport(c *config) { f(c) }

// config is the configuration of Start and of NewTransport. The fields of
// the transport's options (provider, propagate, maxBody) are set only by
// TransportOptions.
type config struct {
	capture    Capture
	captureSet bool
	redact     func(string) string
	tp         trace.TracerProvider
	mp         metric.MeterProvider
	provider   string
	propagate  bool
	maxBody    int
	maxContent int
	// prices is the table of WithPrices; nil for CurrentPrices.
	prices *Prices
}

func defaultConfig() config {
	return config{maxBody: DefaultMaxBodyBytes, maxContent: DefaultMaxContentBytes}
}

// finish reads the environment for what the options left unset.
func (c *config) finish() {
	if !c.captureSet {
		c.capture = captureFromEnv()
	}
}

func newConfig(opts []Option) config {
	c := defaultConfig()
	for _, o := range opts {
		if o != nil {
			o.apply(&c)
		}
	}
	c.finish()
	return c
}

func newTransportConfig(opts []TransportOption) config {
	c := defaultConfig()
	for _, o := range opts {
		if o != nil {
			o.applyTransport(&c)
		}
	}
	c.finish()
	return c
}

// WithCapture sets what message content is recorded; it overrides
// OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT. The default is
// CaptureNone.
func WithCapture(c Capture) Option {
	return optionFunc(func(cfg *config) { cfg.capture, cfg.captureSet = c, true })
}

// WithRedact makes captured content go through redact first, such as a
// function that masks secrets. The default is no function; a nil redact is
// ignored.
func WithRedact(redact func(string) string) Option {
	return optionFunc(func(cfg *config) {
		if redact != nil {
			cfg.redact = redact
		}
	})
}

// WithTracerProvider sets the tracer provider. The default is the provider
// of the enclosing crstel action, else the global one. A nil provider is
// ignored.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return optionFunc(func(cfg *config) {
		if tp != nil {
			cfg.tp = tp
		}
	})
}

// WithMeterProvider sets the meter provider of the GenAI metrics; the
// default is the global one, which crstel.Setup exports over OTLP gRPC. A
// nil provider is ignored.
func WithMeterProvider(mp metric.MeterProvider) Option {
	return optionFunc(func(cfg *config) {
		if mp != nil {
			cfg.mp = mp
		}
	})
}

// WithMaxContentBytes bounds each captured content attribute; the default
// is DefaultMaxContentBytes. n <= 0 is ignored.
func WithMaxContentBytes(n int) Option {
	return optionFunc(func(cfg *config) {
		if n > 0 {
			cfg.maxContent = n
		}
	})
}

// WithProviderName sets the name NewTransport records as
// gen_ai.provider.name (the LLM vendor, not an OpenTelemetry provider),
// such as ProviderAzureAIOpenAI for a proxy in front of Azure. The default
// is inferred from the request's host, else from its wire format (see
// NewTransport). For Start, set Request.Provider instead. An empty name is
// ignored.
func WithProviderName(name string) TransportOption {
	return transportOptionFunc(func(cfg *config) {
		if name != "" {
			cfg.provider = name
		}
	})
}

// WithPropagation makes NewTransport inject the trace context and baggage
// of each LLM call into its request headers, with the global propagator
// (otel.GetTextMapPropagator). The default is not to: the transport then
// also removes any traceparent, tracestate and baggage headers from
// requests to known third-party providers' hosts, so that task metadata
// carried in baggage does not leave the CRS.
func WithPropagation() TransportOption {
	return transportOptionFunc(func(cfg *config) { cfg.propagate = true })
}

// WithMaxBodyBytes bounds how many bytes of each request and response body
// NewTransport keeps in memory to parse; the default is
// DefaultMaxBodyBytes. A longer body is still passed on whole, but not
// parsed. A streamed response is parsed event by event instead, each event
// bounded by the smaller of n and 1 MiB. n <= 0 is ignored.
func WithMaxBodyBytes(n int) TransportOption {
	return transportOptionFunc(func(cfg *config) {
		if n > 0 {
			cfg.maxBody = n
		}
	})
}

// Call is an LLM call in progress: a span of kind CLIENT named
// "{operation} {model}". End it with End.
type Call struct {
	span    trace.Span
	action  trace.Span // the enclosing CRS action's span, or nil
	watched func()     // tells crstel's watchdog the call ended; nil if not watched
	req     Request
	cfg     config
	start   time.Time
	once    sync.Once

	mu         sync.Mutex
	firstChunk time.Time
}

// Start starts an LLM call as a span inside ctx, typically inside a CRS
// action, whose category, name and task metadata the span then carries.
// The span is named "{operation} {model}", is of kind CLIENT, and has the
// request's attributes; with content capture on, also its messages. With
// crstel.Setup's pipeline, the watchdog reports a call still open past the
// "llm" budget (see crstel.DefaultBudgets) as overdue, and one open at
// shutdown as abandoned, as it does actions.
func Start(ctx context.Context, req Request, opts ...Option) (context.Context, *Call) {
	return start(ctx, req, newConfig(opts))
}

// start is Start with its configuration resolved, as NewTransport resolves
// it once for all its calls.
func start(ctx context.Context, req Request, cfg config) (context.Context, *Call) {
	if ctx == nil {
		ctx = context.Background()
	}
	if req.Operation == "" {
		req.Operation = OperationChat
	}
	tp := cfg.tp
	if tp == nil {
		tp = actionref.TracerProvider(ctx) // the enclosing action's
	}
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	name := req.Operation
	if req.Model != "" {
		name += " " + req.Model
	}
	ctx, span := tp.Tracer(ScopeName).Start(ctx, name,
		trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(requestAttributes(req)...))
	c := &Call{span: span, action: actionref.Span(ctx), req: req, cfg: cfg, start: time.Now()}
	// crstel's watchdog reports a call that runs past the "llm" budget.
	c.watched = actionref.Start(ctx, span, name, "llm")
	if cfg.capture != CaptureNone {
		c.content(cfg.capture, inputContent(req, cfg))
	}
	return ctx, c
}

func requestAttributes(r Request) []attribute.KeyValue {
	kvs := make([]attribute.KeyValue, 0, 16)
	kvs = append(kvs, OperationNameKey.String(r.Operation))
	if r.Provider != "" {
		kvs = append(kvs, ProviderNameKey.String(r.Provider))
	}
	if r.Model != "" {
		kvs = append(kvs, RequestModelKey.String(r.Model))
	}
	if r.ServerAddress != "" {
		kvs = append(kvs, ServerAddressKey.String(r.ServerAddress))
	}
	if r.ServerPort > 0 {
		kvs = append(kvs, ServerPortKey.Int(r.ServerPort))
	}
	if r.MaxTokens > 0 {
		kvs = append(kvs, RequestMaxTokensKey.Int(r.MaxTokens))
	}
	for _, f := range []struct {
		k attribute.Key
		v *float64
	}{{RequestTemperatureKey, r.Temperature}, {RequestTopPKey, r.TopP}, {RequestTopKKey, r.TopK},
		{RequestFrequencyPenaltyKey, r.FrequencyPenalty}, {RequestPresencePenaltyKey, r.PresencePenalty}} {
		if f.v != nil {
			kvs = append(kvs, f.k.Float64(*f.v))
		}
	}
	if len(r.StopSequences) > 0 {
		kvs = append(kvs, RequestStopSequencesKey.StringSlice(r.StopSequences))
	}
	if r.Seed != nil {
		kvs = append(kvs, RequestSeedKey.Int(*r.Seed))
	}
	if r.ChoiceCount > 1 {
		kvs = append(kvs, RequestChoiceCountKey.Int(r.ChoiceCount))
	}
	if r.Stream {
		kvs = append(kvs, RequestStreamKey.Bool(true))
	}
	if len(r.EncodingFormats) > 0 {
		kvs = append(kvs, RequestEncodingFormatsKey.StringSlice(r.EncodingFormats))
	}
	return kvs
}

// Span returns the call's span.
func (c *Call) Span() trace.Span { return c.span }

// FirstChunk records that the first chunk of a streamed response arrived
// now; later calls do nothing. End records the time from the start as
// gen_ai.response.time_to_first_chunk.
func (c *Call) FirstChunk() {
	c.mu.Lock()
	if c.firstChunk.IsZero() {
		c.firstChunk = time.Now()
	}
	c.mu.Unlock()
}

// ErrorTyper is implemented by errors that know their error.type, such as
// an HTTP status code.
type ErrorTyper interface{ ErrorType() string }

// ErrorType returns the error.type of err: its own (see ErrorTyper),
// "timeout" or "canceled" for context errors, else its Go type.
func ErrorType(err error) string {
	var et ErrorTyper
	switch {
	case errors.As(err, &et):
		return et.ErrorType()
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "canceled"
	}
	return fmt.Sprintf("%T", err)
}

// End ends the call with its response, or with err if it failed (resp may
// still hold what is known, such as a partial stream's usage). It records
// the response's attributes (id, model, finish reasons, token usage as
// ints), error.type and an error status on failure, the metrics
// gen_ai.client.operation.duration and gen_ai.client.token.usage, and sets
// crs.action.gen_ai.id to the response id on the call's span and on the
// enclosing CRS action's span. Only the first End counts.
func (c *Call) End(resp Response, err error) {
	c.once.Do(func() { c.end(resp, err) })
}

func (c *Call) end(resp Response, err error) {
	end := time.Now()
	kvs := make([]attribute.KeyValue, 0, 12)
	if resp.ID != "" {
		kvs = append(kvs, ResponseIDKey.String(resp.ID), crs.GenAIID(resp.ID))
		if c.action != nil && c.action != c.span {
			c.action.SetAttributes(crs.GenAIID(resp.ID))
		}
	}
	if resp.Model != "" {
		kvs = append(kvs, ResponseModelKey.String(resp.Model))
	}
	if len(resp.FinishReasons) > 0 {
		kvs = append(kvs, ResponseFinishReasonsKey.StringSlice(resp.FinishReasons))
	}
	for _, u := range []struct {
		k attribute.Key
		n int
	}{{UsageInputTokensKey, resp.InputTokens}, {UsageOutputTokensKey, resp.OutputTokens},
		{UsageCacheReadInputTokensKey, resp.CacheReadInputTokens},
		{UsageCacheCreationInputTokensKey, resp.CacheCreationInputTokens},
		{UsageReasoningOutputTokensKey, resp.ReasoningOutputTokens}} {
		if u.n > 0 {
			kvs = append(kvs, u.k.Int(u.n))
		}
	}
	ev := actionref.Cost{
		Model: cmpOr(resp.Model, c.req.Model), LLMCalls: 1,
		InputTokens: int64(max(resp.InputTokens, 0)), OutputTokens: int64(max(resp.OutputTokens, 0)),
		CacheReadTokens:  int64(max(resp.CacheReadInputTokens, 0)),
		CacheWriteTokens: int64(max(resp.CacheCreationInputTokens, 0)),
	}
	kvs = c.cost(kvs, resp, &ev)
	c.mu.Lock()
	first := c.firstChunk
	c.mu.Unlock()
	if !first.IsZero() {
		kvs = append(kvs, ResponseTimeToFirstChunkKey.Float64(first.Sub(c.start).Seconds()))
	}
	var errType string
	if err != nil {
		errType = ErrorType(err)
		kvs = append(kvs, ErrorTypeKey.String(errType))
		c.span.SetStatus(codes.Error, err.Error())
	}
	c.span.SetAttributes(kvs...)
	if c.cfg.capture != CaptureNone && len(resp.OutputMessages) > 0 {
		c.content(c.cfg.capture, outputContent(resp, c.cfg))
	}
	recordMetrics(c, resp, errType, end.Sub(c.start))
	c.span.End(trace.WithTimestamp(end))
	// After the span's end, so that an over-budget report that cancels
	// the work finds the call ended.
	if a, ok := c.action.(actionref.Coster); ok {
		a.AddCost(c.span, ev)
	}
	if c.watched != nil {
		c.watched()
	}
}
