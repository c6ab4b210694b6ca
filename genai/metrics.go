package genai

import (
	"context"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/semconv/v1.41.0/genaiconv"

	"github.com/crstel/crstel/internal/provider"
)

// instruments are the GenAI histograms of one meter provider.
type instruments struct {
	provider metric.MeterProvider
	duration metric.Float64Histogram
	tokens   metric.Int64Histogram
}

// cached holds the instruments of the provider used last, so that a call
// does not look them up, and a new global provider is still followed.
var cached atomic.Pointer[instruments]

func instrumentsFor(mp metric.MeterProvider) *instruments {
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	if in := cached.Load(); in != nil && provider.Same(in.provider, mp) {
		return in
	}
	m := mp.Meter(ScopeName)
	in := &instruments{provider: mp}
	var err error
	// The names, units and descriptions of semconv v1.41.0.
	duration, tokens := genaiconv.ClientOperationDuration{}, genaiconv.ClientTokenUsage{}
	in.duration, err = m.Float64Histogram(duration.Name(),
		metric.WithDescription(duration.Description()), metric.WithUnit(duration.Unit()),
		metric.WithExplicitBucketBoundaries(DurationBuckets...))
	if err != nil {
		otel.Handle(err)
	}
	in.tokens, err = m.Int64Histogram(tokens.Name(),
		metric.WithDescription(tokens.Description()), metric.WithUnit(tokens.Unit()),
		metric.WithExplicitBucketBoundaries(TokenUsageBuckets...))
	if err != nil {
		otel.Handle(err)
	}
	cached.Store(in)
	return in
}

// recordMetrics records the call's duration and token usage.
func recordMetrics(c *Call, resp Response, errType string, d time.Duration) {
	in := instrumentsFor(c.cfg.mp)
	kvs := make([]attribute.KeyValue, 0, 8)
	kvs = append(kvs, OperationNameKey.String(c.req.Operation))
	if c.req.Provider != "" {
		kvs = append(kvs, ProviderNameKey.String(c.req.Provider))
	}
	if c.req.Model != "" {
		kvs = append(kvs, RequestModelKey.String(c.req.Model))
	}
	if resp.Model != "" {
		kvs = append(kvs, ResponseModelKey.String(resp.Model))
	}
	if c.req.ServerAddress != "" {
		kvs = append(kvs, ServerAddressKey.String(c.req.ServerAddress))
	}
	if c.req.ServerPort > 0 {
		kvs = append(kvs, ServerPortKey.Int(c.req.ServerPort))
	}
	ctx := context.Background()
	if in.tokens != nil {
		set := attribute.NewSet(kvs...)
		if resp.InputTokens > 0 {
			in.tokens.Record(ctx, int64(resp.InputTokens), metric.WithAttributeSet(set),
				metric.WithAttributes(TokenTypeKey.String(TokenTypeInput)))
		}
		if resp.OutputTokens > 0 {
			in.tokens.Record(ctx, int64(resp.OutputTokens), metric.WithAttributeSet(set),
				metric.WithAttributes(TokenTypeKey.String(TokenTypeOutput)))
		}
	}
	if errType != "" {
		kvs = append(kvs, ErrorTypeKey.String(errType))
	}
	if in.duration != nil {
		in.duration.Record(ctx, d.Seconds(), metric.WithAttributes(kvs...))
	}
}
