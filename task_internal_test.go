package crstel

import (
	"testing"

	"go.opentelemetry.io/otel/baggage"

	"github.com/crstel/crstel/crs"
)

// FuzzBaggageFits: task metadata whose baggage baggageFits says surely
// fits has nothing to report when its baggage is made, and all of it is
// in the baggage; Action counts on it when it makes the baggage of fresh
// metadata only if asked for it (see lazyBaggage).
func FuzzBaggageFits(f *testing.F) {
	f.Add("task.id", "task-1", "note", "a,b;c=d %41 é\x00\xff")
	f.Add("round.id", "r", "task.description", "ééééééééééééééééééééééééééééééééééééééé")
	f.Add("a b", "v", "ok", "%%%")
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2 string) {
		attrs := crs.Metadata{k1: v1, k2: v2}.Attributes()
		if len(attrs) == 0 || !baggageFits(attrs) {
			return
		}
		b, invalid, leftOut := withTaskBaggage(baggage.Baggage{}, attrs)
		if invalid != nil || leftOut != nil {
			t.Errorf("baggageFits(%v), but making the baggage reports %v, %v", attrs, invalid, leftOut)
		}
		for _, kv := range attrs {
			if m := b.Member(string(kv.Key)); m.Value() != kv.Value.AsString() {
				t.Errorf("baggage member %q = %q, want %q", kv.Key, m.Value(), kv.Value.AsString())
			}
		}
	})
}
