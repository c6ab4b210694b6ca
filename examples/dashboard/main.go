// Command dashboard is a small CRS at work, to look at with the Grafana
// dashboard dashboards/crstel.json: a few workers analyse, build, fuzz,
// patch with an LLM, test and submit, over and over, for a while. Builds
// are child processes that burn some CPU, LLM calls go to a local stand-in
// of the OpenAI API (two models, priced with crstel's table), a test run
// fails now and then, and one long analysis outlives its budget, so that
// the watchdog counts it overdue.
//
// Its metrics are served for Prometheus to scrape:
//
//	OTEL_METRICS_EXPORTER=prometheus go run ./examples/dashboard -for 10m
//
// It prints where (http://localhost:9464/metrics unless
// OTEL_EXPORTER_PROMETHEUS_HOST and _PORT say otherwise). Point a
// Prometheus at it, and Grafana at that Prometheus with the dashboard
// imported: README.md, "A dashboard", says how. Spans go where
// OTEL_EXPORTER_OTLP_ENDPOINT says, as in every example.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/codes"

	"github.com/crstel/crstel"
	"github.com/crstel/crstel/crs"
	"github.com/crstel/crstel/fuzz"
	"github.com/crstel/crstel/genai"
	"github.com/crstel/crstel/subprocess"
)

var (
	runFor  = flag.Duration("for", 5*time.Second, "how long the workers work")
	workers = flag.Int("workers", 3, "how many workers work at once")
	burn    = flag.Duration("burn", 0, "burn this much CPU and exit (how the example's builds run)")
)

func main() {
	flag.Parse()
	if *burn > 0 {
		burnCPU(*burn)
		return
	}
	if err := run(context.Background()); err != nil {
		log.Fatal(err)
	}
}

// task is the one task the workers work on, as the CRS API gave it.
var task = crs.Metadata{"round.id": "round-1", "task.id": "task-1", "team.id": "team-1"}

func run(ctx context.Context) (err error) {
	tel, err := crstel.Setup(ctx, crstel.WithServiceName("dashboard-example"))
	if err != nil {
		return err
	}
	defer func() {
		if serr := tel.Shutdown(context.WithoutCancel(ctx)); serr != nil && err == nil {
			err = serr
		}
	}()
	if addr := tel.PrometheusAddr(); addr != "" {
		fmt.Printf("dashboard: metrics at http://%s/metrics\n", addr)
	}
	llm, stop, err := standIn()
	if err != nil {
		return err
	}
	defer stop()
	self, err := os.Executable()
	if err != nil {
		return err
	}

	ctx = crstel.WithTask(ctx, task)
	// An analysis that outlives its budget: overdue from 3 s on, until
	// the workers are done.
	_, index := crstel.Action(ctx, crs.ProgramAnalysis, "index_call_graph", nil,
		crstel.WithOverdueAfter(3*time.Second))
	defer index.End()

	w := &worker{llm: llm, self: self, client: &http.Client{Transport: genai.NewTransport(http.DefaultTransport)}}
	until := time.Now().Add(*runFor)
	var wg sync.WaitGroup
	errs := make([]error, *workers)
	for i := range *workers {
		wg.Go(func() { errs[i] = w.work(ctx, uint64(i), until) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	fmt.Printf("dashboard: %d rounds, %d patches submitted\n", w.rounds.Load(), w.submitted.Load())
	return nil
}

// worker is what the workers share: where the LLM is, how to start a
// build, and what they did.
type worker struct {
	llm    string // the stand-in's chat completions URL
	self   string // this program, which burns CPU with -burn
	client *http.Client

	rounds, submitted atomic.Int64
}

// models are the models the patcher asks, in turn.
var models = []string{"gpt-4.1", "gpt-4o-mini"}

// work does rounds until the time is up: analyse, build, fuzz and, when
// the fuzzer finds a crash, patch, test and submit.
func (w *worker) work(ctx context.Context, seed uint64, until time.Time) error {
	rnd := rand.New(rand.NewPCG(seed, 42))
	pause := func(lo, hi time.Duration) { time.Sleep(lo + time.Duration(rnd.Int64N(int64(hi-lo)))) }
	for round := 0; time.Now().Before(until); round++ {
		w.rounds.Add(1)
		_, scan := crstel.Action(ctx, crs.StaticAnalysis, "scan_sources", nil)
		pause(20*time.Millisecond, 80*time.Millisecond)
		scan.End()

		build := exec.Command(w.self, "-burn", "40ms")
		if err := subprocess.Run(ctx, crs.Building, "build_harness", build, subprocess.WithBudget(time.Minute)); err != nil {
			return fmt.Errorf("build: %w", err)
		}

		fctx, fuzzing := crstel.Action(ctx, crs.Fuzzing, "fuzz_harness", nil, crstel.WithOverdueAfter(time.Minute))
		pause(100*time.Millisecond, 300*time.Millisecond)
		crashed := rnd.IntN(3) == 0
		if crashed {
			fuzz.Record(fctx, fuzz.CorpusUpdate{Method: fuzz.MethodOnChange, Size: 100 + round, Additions: []string{fmt.Sprintf("crash-%d-%d", seed, round)}})
		}
		fuzzing.End()
		if !crashed {
			continue
		}

		pctx, patch := crstel.Action(ctx, crs.PatchGeneration, "generate_patch", nil)
		for i := range 1 + rnd.IntN(2) {
			if err := w.ask(pctx, models[(round+i)%len(models)]); err != nil {
				patch.SetStatus(codes.Error, err.Error())
				patch.End()
				return err
			}
		}
		patch.End()

		_, tests := crstel.Action(ctx, crs.Testing, "run_tests", nil)
		pause(50*time.Millisecond, 150*time.Millisecond)
		passed := rnd.IntN(4) != 0
		if !passed {
			tests.SetStatus(codes.Error, "2 of 40 tests failed")
		}
		tests.End()
		if !passed {
			continue
		}

		_, submit := crstel.Action(ctx, crs.ScoringSubmission, "submit_patch", nil)
		pause(5*time.Millisecond, 20*time.Millisecond)
		submit.End()
		w.submitted.Add(1)
	}
	return nil
}

// ask asks model for a patch, through the GenAI transport, which traces
// and prices the call.
func (w *worker) ask(ctx context.Context, model string) error {
	body, _ := json.Marshal(map[string]any{
		"model":    model,
		"messages": []map[string]string{{"role": "user", "content": "Fix the out-of-bounds read in png_read_row"}},
	})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.llm, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := w.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("LLM: %s", resp.Status)
	}
	return nil
}

// standIn starts a server on 127.0.0.1 that answers chat completions as the
// OpenAI API does, with a few hundred tokens each, after a short wait, and
// returns their URL and a function that stops it.
func standIn() (string, func(), error) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	var calls atomic.Int64
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/chat/completions", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Model string `json:"model"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		i := int(calls.Add(1))
		time.Sleep(time.Duration(30+i%50) * time.Millisecond)
		in, out := 800+37*(i%20), 150+11*(i%30)
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{
			"id": fmt.Sprintf("chatcmpl-standin-%d", i), "object": "chat.completion", "created": time.Now().Unix(), "model": req.Model,
			"choices": []map[string]any{{
				"index": 0, "finish_reason": "stop",
				"message": map[string]any{"role": "assistant", "content": "--- a/png.c\n+++ b/png.c\n"},
			}},
			"usage": map[string]any{"prompt_tokens": in, "completion_tokens": out, "total_tokens": in + out},
		})
	})
	srv := &http.Server{Handler: mux}
	go srv.Serve(lis)
	return "http://" + lis.Addr().String() + "/v1/chat/completions", func() { srv.Close() }, nil
}

// burnCPU keeps one core busy for d.
func burnCPU(d time.Duration) {
	x := 1.0
	for end := time.Now().Add(d); time.Now().Before(end); {
		for range 10000 {
			x = x*1.0000001 + 1e-9
		}
	}
	if x < 0 {
		fmt.Println(x)
	}
}
