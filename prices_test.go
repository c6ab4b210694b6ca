package crstel_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/crstel/crstel"
	"github.com/crstel/crstel/genai"
)

// TestSetupLLMPrices: CRSTEL_LLM_PRICES names the price table LLM calls
// are priced with; a bad file is a Setup error naming the variable, the
// file and the entry.
func TestSetupLLMPrices(t *testing.T) {
	isolate(t) // Setup sets the global providers and propagator
	dir := t.TempDir()
	good := filepath.Join(dir, "prices.json")
	bad := filepath.Join(dir, "bad.json")
	for path, body := range map[string]string{
		good: `{"version": "team-2026-12", "currency": "USD", "models": [{"model": "ft-patcher", "input": 1, "output": 2}]}`,
		bad:  `{"version": "team-2026-12", "currency": "USD", "models": [{"model": "ft-patcher", "input": 1, "output": "2"}]}`,
	} {
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { genai.SetPrices(nil) })

	for _, tc := range []struct{ path, want string }{
		{bad, `CRSTEL_LLM_PRICES="` + bad + `": ` + bad + ": price table: models[0]: json: cannot unmarshal string"},
		{filepath.Join(dir, "absent.json"), `CRSTEL_LLM_PRICES="` + filepath.Join(dir, "absent.json") + `": open ` + filepath.Join(dir, "absent.json")},
	} {
		t.Setenv("CRSTEL_LLM_PRICES", tc.path)
		if _, err := crstel.Setup(context.Background(), crstel.WithExporter(tracetest.NewInMemoryExporter()), crstel.WithoutJournal()); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Setup with CRSTEL_LLM_PRICES=%s: %v, want an error containing %q", tc.path, err, tc.want)
		}
		if v := genai.CurrentPrices().Version(); v != genai.DefaultPrices().Version() {
			t.Errorf("after a failed Setup the prices are %q, want the default", v)
		}
	}

	t.Setenv("CRSTEL_LLM_PRICES", good)
	tel, err := crstel.Setup(context.Background(), crstel.WithExporter(tracetest.NewInMemoryExporter()), crstel.WithoutJournal())
	if err != nil {
		t.Fatal(err)
	}
	defer tel.Shutdown(context.Background())
	p := genai.CurrentPrices()
	if _, ok := p.Lookup("ft-patcher"); p.Version() != "team-2026-12" || !ok {
		t.Errorf("after Setup the prices are %q (ft-patcher priced: %v), want the file's", p.Version(), ok)
	}
}
