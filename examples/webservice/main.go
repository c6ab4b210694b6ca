// Command webservice is the specification's CRS task server in Go.
//
// POST /v1/task/ takes HTTP basic auth and a Task whose TaskDetails carry
// the metadata of each task. The handler triages each task in an action,
// then hands it to a worker over an in-process queue; the task metadata
// and the trace context cross the queue in a propagation.MapCarrier, as
// they would cross a real message queue, and the worker processes the task
// in nested actions. On SIGTERM (or SIGINT) the server stops taking tasks,
// the worker finishes what it has, and every span is exported before exit.
//
//	CRS_API_USER=crs CRS_API_PASSWORD=s3cret go run ./examples/webservice
//	curl -u crs:s3cret -X POST http://127.0.0.1:8080/v1/task/ -d '{
//	  "message_id": "m-1", "message_time": 1700000000000,
//	  "tasks": [{"task_id": "t-1", "type": "full", "project_name": "libpng",
//	             "metadata": {"round.id": "round-1", "task.id": "t-1", "team.id": "team-1"}}]}'
//
// CRS_ADDR sets the address (default 127.0.0.1:8080).
package main

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"

	"github.com/crstel/crstel"
	"github.com/crstel/crstel/crs"
)

// Task is the body of POST /v1/task/.
type Task struct {
	MessageID   string       `json:"message_id"`
	MessageTime int64        `json:"message_time"`
	Tasks       []TaskDetail `json:"tasks"`
}

// TaskDetail is one task to work on.
type TaskDetail struct {
	TaskID      string            `json:"task_id"`
	Type        string            `json:"type"`
	ProjectName string            `json:"project_name"`
	Focus       string            `json:"focus"`
	Deadline    int64             `json:"deadline"`
	Metadata    map[string]string `json:"metadata"`
}

// job is what the queue carries: the task, and a carrier with its trace
// context and metadata, as a message queue would carry them in headers.
type job struct {
	task    TaskDetail
	carrier propagation.MapCarrier
}

func main() {
	if err := run(); err != nil {
		log.Fatal(err)
	}
}

func run() (err error) {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()

	tel, err := crstel.Setup(ctx, crstel.WithServiceName("crs-task-server"))
	if err != nil {
		return err
	}
	defer func() {
		// Export everything buffered, whatever happened.
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if serr := tel.Shutdown(sctx); serr != nil && err == nil {
			err = serr
		}
	}()

	user, pass := os.Getenv("CRS_API_USER"), os.Getenv("CRS_API_PASSWORD")
	if user == "" || pass == "" {
		user, pass = "crs", "s3cret"
		log.Print("webservice: CRS_API_USER or CRS_API_PASSWORD unset; using the demo credentials crs:s3cret")
	}

	queue := make(chan job, 64)
	var workers sync.WaitGroup
	workers.Go(func() {
		for j := range queue {
			process(j)
		}
	})

	mux := http.NewServeMux()
	mux.Handle("POST /v1/task/", basicAuth(user, pass, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body Task
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&body); err != nil {
			http.Error(w, "invalid task: "+err.Error(), http.StatusBadRequest)
			return
		}
		for _, t := range body.Tasks {
			queue <- triage(r.Context(), t)
		}
		w.WriteHeader(http.StatusAccepted)
		fmt.Fprintln(w, "accepted")
	})))

	addr := os.Getenv("CRS_ADDR")
	if addr == "" {
		addr = "127.0.0.1:8080"
	}
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	fmt.Printf("webservice: listening on http://%s\n", lis.Addr())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()

	select {
	case <-ctx.Done():
		fmt.Println("webservice: shutting down")
	case err := <-served:
		return err
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	close(queue) // no handler runs any more: nothing else is queued
	workers.Wait()
	return nil
}

// triage checks a task in an action of its own, and returns the job for the
// worker, carrying the action's trace context and the task metadata.
func triage(ctx context.Context, t TaskDetail) job {
	ctx = crstel.WithTask(ctx, t.Metadata)
	ctx, span := crstel.Action(ctx, crs.StaticAnalysis, "triage_task", nil)
	defer span.End()
	carrier := propagation.MapCarrier{}
	otel.GetTextMapPropagator().Inject(ctx, carrier)
	return job{task: t, carrier: carrier}
}

// process works on a task in nested actions, continuing the trace that
// triage began, with the task metadata that came through the queue.
func process(j job) {
	ctx := otel.GetTextMapPropagator().Extract(context.Background(), j.carrier)
	ctx, span := crstel.Action(ctx, crs.PatchGeneration, "process_task", nil)
	defer span.End()

	steps := []struct {
		category crs.Category
		name     string
	}{
		{crs.Building, "build_target"},
		{crs.Fuzzing, "fuzz_harness"},
		{crs.PatchGeneration, "generate_patch"},
		{crs.Testing, "run_tests"},
		{crs.ScoringSubmission, "submit_patch"},
	}
	for _, s := range steps {
		_, step := crstel.Action(ctx, s.category, s.name, nil)
		time.Sleep(5 * time.Millisecond) // stands in for the work
		step.End()
	}
	fmt.Printf("webservice: processed task %s\n", j.task.TaskID)
}

// basicAuth requires HTTP basic auth with user and pass.
func basicAuth(user, pass string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, ok := r.BasicAuth()
		if !ok || subtle.ConstantTimeCompare([]byte(u), []byte(user)) != 1 ||
			subtle.ConstantTimeCompare([]byte(p), []byte(pass)) != 1 {
			w.Header().Set("WWW-Authenticate", `Basic realm="crs"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}
