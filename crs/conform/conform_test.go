package conform_test

import (
	"testing"

	"go.opentelemetry.io/otel/attribute"

	"github.com/crstel/crstel/crs/conform"
	"github.com/crstel/crstel/crs/conform/conformtest"
)

// span is the plainest adapter: a case's span as it is.
type span struct{ conformtest.Span }

func (s span) TraceID() [16]byte { return [16]byte{s.Trace} }

func (s span) Attr(key attribute.Key) (attribute.Value, bool) {
	for _, kv := range s.Attributes {
		if kv.Key == key {
			return kv.Value, true
		}
	}
	return attribute.Value{}, false
}

func (s span) Range(f func(attribute.KeyValue) bool) {
	for _, kv := range s.Attributes {
		if !f(kv) {
			return
		}
	}
}

func (s span) ServiceName() (string, bool) { return s.Service, s.Service != "" && !s.ServiceInt }

func TestCases(t *testing.T) {
	conformtest.Test(t, func(c conformtest.Case) []conformtest.Got {
		var got []conformtest.Got
		conform.New(c.Config).Check(len(c.Spans), func(i int) conform.Span { return span{c.Spans[i]} },
			func(i int, f conform.Finding) { got = append(got, conformtest.Got{Span: i, Rule: f.Rule, Key: f.Key}) })
		return got
	})
}

func TestNearest(t *testing.T) {
	for _, tt := range []struct {
		key, want string
	}{
		{"crs.action.code.files", "crs.action.code.file"},
		{"crs.code.file", "crs.action.code.file"},
		{"crs.action.file", "crs.action.code.file"},
		{"crs.name", "crs.action.name"},
		{"crs.action.categry", "crs.action.category"},
		{"fuzz.corpus.sizes", "fuzz.corpus.size"},
		{"fuzz.corpus.full_snapshots", "fuzz.corpus.full_snapshot"},
		{"crs.totally.different", ""},
	} {
		got, ok := conform.Nearest(attribute.Key(tt.key))
		if string(got) != tt.want || ok != (tt.want != "") {
			t.Errorf("Nearest(%s) = %q, %v; want %q", tt.key, got, ok, tt.want)
		}
	}
}
