package crstel_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/crstel/crstel"
	"github.com/crstel/crstel/crs"
)

// printStates is a log exporter that keeps the span.state of each record,
// and the body of the last.
type printStates struct {
	mu     sync.Mutex
	states []string
	body   string
}

func (p *printStates) Export(_ context.Context, records []sdklog.Record) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, r := range records {
		r.WalkAttributes(func(kv attribute.KeyValue) bool {
			if kv.Key == "span.state" {
				p.states = append(p.states, kv.Value.AsString())
			}
			return true
		})
		p.body = r.Body().AsString()
	}
	return nil
}
func (*printStates) Shutdown(context.Context) error   { return nil }
func (*printStates) ForceFlush(context.Context) error { return nil }

// An action still open after the lifecycle interval sends heartbeat
// records while it runs, and an ended record when it ends: log records
// that carry the span as OTLP JSON, so that a collector learns of it even
// if the process dies first. (The default interval is 5 s.)
func ExampleWithLifecycleInterval() {
	ctx := context.Background()
	logs := &printStates{}
	tel, _ := crstel.Setup(ctx,
		crstel.WithExporter(tracetest.NewInMemoryExporter()), crstel.WithoutJournal(),
		crstel.WithLogger(slog.New(slog.DiscardHandler)), crstel.WithLogExporter(logs),
		crstel.WithWatchdogInterval(20*time.Millisecond),
		crstel.WithLifecycleInterval(100*time.Millisecond))

	_, short := crstel.Action(ctx, crs.Building, "compile_source_code", nil)
	short.End() // sends nothing
	_, span := crstel.Action(ctx, crs.PatchGeneration, "generate_patch", nil,
		crstel.WithOverdueAfter(10*time.Minute))
	time.Sleep(350 * time.Millisecond) // heartbeats at 100, 200 and 300 ms
	span.End()
	tel.Shutdown(ctx)

	var td struct {
		ResourceSpans []struct {
			ScopeSpans []struct {
				Spans []struct {
					Name       string
					Attributes []struct {
						Key   string
						Value map[string]any
					}
				}
			}
		}
	}
	_ = json.Unmarshal([]byte(logs.body), &td)
	s := td.ResourceSpans[0].ScopeSpans[0].Spans[0]
	fmt.Println(slices.Compact(logs.states))
	fmt.Println("the last record's span:", s.Name)
	for _, kv := range s.Attributes {
		fmt.Println(kv.Key, kv.Value)
	}
	// Output:
	// [heartbeat ended]
	// the last record's span: generate_patch
	// crs.action.category map[stringValue:patch_generation]
	// crs.action.name map[stringValue:generate_patch]
	// crstel.watchdog.budget map[doubleValue:600]
}
