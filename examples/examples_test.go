package examples_test

// TestExamples runs every example to completion, its exporter pointed at a
// real OTLP gRPC server, and checks that every span it sends conforms to
// the CRS Telemetry Specification. An example missing from the table below
// fails the test.

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/crstel/crstel/crs"
	"github.com/crstel/crstel/crsteltest"
	"github.com/crstel/crstel/internal/otlptest"
)

var task1 = crs.Metadata{"round.id": "round-1", "task.id": "task-1", "team.id": "team-1"}

// examples says how to run each example, and what it must send.
var examples = map[string]struct {
	// run drives a started example to its end; nil means it ends by itself.
	run func(t *testing.T, cmd *exec.Cmd, stdout *bufio.Scanner)
	// env is added to the example's environment.
	env []string
	// meta is the task metadata every span must carry.
	meta crs.Metadata
	// spans is how many spans it must send at least.
	spans int
}{
	"quickstart": {meta: task1, spans: 4},
	"log_action": {meta: task1, spans: 2},
	"categories": {meta: task1, spans: 9},
	"hang":       {meta: task1, spans: 5},
	"fuzzing":    {meta: task1, spans: 4},
	"subprocess": {meta: task1, spans: 2},
	"dashboard": {meta: task1, spans: 20, run: scrapeDashboard,
		env: []string{"OTEL_METRICS_EXPORTER=otlp,prometheus", "OTEL_EXPORTER_PROMETHEUS_HOST=127.0.0.1", "OTEL_EXPORTER_PROMETHEUS_PORT=0"}},
	"llm": {meta: task1, spans: 2, env: []string{"OPENAI_API_KEY=", "OPENAI_BASE_URL="}},
	"webservice": {meta: crs.Metadata{"round.id": "round-7", "task.id": "t-42", "team.id": "team-1"}, spans: 7,
		env: []string{"CRS_ADDR=127.0.0.1:0", "CRS_API_USER=crs", "CRS_API_PASSWORD=s3cret"}, run: driveWebservice},
}

func TestExamples(t *testing.T) {
	entries, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if e.IsDir() && !strings.HasPrefix(e.Name(), ".") && e.Name() != "testdata" {
			names = append(names, e.Name())
			if _, ok := examples[e.Name()]; !ok {
				t.Errorf("example %s is not in this test's table: add it, with how to run it", e.Name())
			}
		}
	}
	if len(names) != len(examples) {
		t.Errorf("the table has %d examples, the folder %d: %v", len(examples), len(names), names)
	}

	bin := t.TempDir()
	build := exec.Command("go", append([]string{"build", "-o", bin + string(filepath.Separator)}, prefixed(names)...)...)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the examples: %v\n%s", err, out)
	}
	for _, name := range names {
		ex, ok := examples[name]
		if !ok {
			continue
		}
		t.Run(name, func(t *testing.T) {
			srv := otlptest.NewServer(t)
			cmd := exec.Command(filepath.Join(bin, name))
			cmd.Env = append(os.Environ(),
				"OTEL_EXPORTER_OTLP_ENDPOINT="+srv.URL(),
				"OTEL_SERVICE_NAME=",
				"CRSTEL_TRACE_DIR="+t.TempDir(),
				"CRSTEL_AUDIT_DIR="+t.TempDir())
			cmd.Env = append(cmd.Env, ex.env...)
			var stderr strings.Builder
			cmd.Stderr = &stderr
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			stdout := bufio.NewScanner(out)
			if ex.run != nil {
				ex.run(t, cmd, stdout)
			}
			go func() {
				io.Copy(io.Discard, out)
				done <- cmd.Wait()
			}()
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("%s: %v\nstderr:\n%s", name, err, stderr.String())
				}
			case <-time.After(60 * time.Second):
				cmd.Process.Kill()
				t.Fatalf("%s did not end within 60 s\nstderr:\n%s", name, stderr.String())
			}

			got := srv.Received()
			t.Logf("%s sent %d spans", name, len(got))
			if len(got) < ex.spans {
				t.Errorf("%s sent %d spans, want at least %d", name, len(got), ex.spans)
			}
			crsteltest.AssertConforms(t, otlptest.ToReadOnly(got), crsteltest.WantMetadata(ex.meta))
		})
	}
}

func prefixed(names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = "./" + n
	}
	return out
}

// driveWebservice waits until the server listens, posts a task with basic
// auth, waits until it is processed, and sends SIGTERM.
func driveWebservice(t *testing.T, cmd *exec.Cmd, stdout *bufio.Scanner) {
	t.Helper()
	url, ok := lineAfter(stdout, "webservice: listening on ")
	if !ok {
		t.Fatal("the webservice did not say where it listens")
	}
	post := func(user, pass string) int {
		body := `{"message_id": "m-1", "message_time": 1700000000000, "tasks": [{"task_id": "t-42", "type": "full",
			"project_name": "libpng", "metadata": {"round.id": "round-7", "task.id": "t-42", "team.id": "team-1"}}]}`
		req, _ := http.NewRequest(http.MethodPost, url+"/v1/task/", strings.NewReader(body))
		req.SetBasicAuth(user, pass)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post("crs", "wrong"); code != http.StatusUnauthorized {
		t.Errorf("POST with wrong credentials: %d, want 401", code)
	}
	if code := post("crs", "s3cret"); code != http.StatusAccepted {
		t.Fatalf("POST /v1/task/: %d, want 202", code)
	}
	lineAfter(stdout, "webservice: processed task t-42")
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
}

// lineAfter reads stdout up to the first line that starts with prefix, and
// returns the rest of it, and true; or "" and false at the end of stdout.
func lineAfter(stdout *bufio.Scanner, prefix string) (string, bool) {
	for stdout.Scan() {
		if rest, ok := strings.CutPrefix(stdout.Text(), prefix); ok {
			return rest, true
		}
	}
	return "", false
}

// scrapeDashboard scrapes the Prometheus endpoint of examples/dashboard at
// work, its metrics exported over OTLP as well, until every metric of the
// README's table is there with its type, parsed by Prometheus's own text
// parser; the example then ends by itself.
func scrapeDashboard(t *testing.T, _ *exec.Cmd, stdout *bufio.Scanner) {
	t.Helper()
	addr, ok := lineAfter(stdout, "dashboard: metrics at ")
	if !ok {
		t.Fatal("the dashboard example did not say where its metrics are")
	}
	documented := documentedMetrics(t)
	var missing []string
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		families, err := scrapeText(addr)
		if err != nil {
			t.Fatal(err)
		}
		missing = missing[:0]
		for name, typ := range documented {
			f, ok := families[name]
			switch {
			case !ok:
				missing = append(missing, name)
			case f.GetType() != typ:
				t.Fatalf("%s: type %s, the README says %s", name, f.GetType(), typ)
			}
		}
		if len(missing) == 0 {
			return
		}
	}
	t.Errorf("%s: no %v after 20 s", addr, missing)
}

// scrapeText gets the exposition of url and parses it.
func scrapeText(url string) (map[string]*dto.MetricFamily, error) {
	resp, err := http.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	return p.TextToMetricFamilies(resp.Body)
}

// metricRow is a row of the README's table of metrics: the Prometheus
// name in backquotes in its second column, the type in its third.
var metricRow = regexp.MustCompile("^\\| `[a-z_.]+` \\| `([a-z_]+)` \\| ([a-z -]+)")

// documentedMetrics returns the metrics of the README's table, by
// Prometheus name, with the type the exposition gives them.
func documentedMetrics(t *testing.T) map[string]dto.MetricType {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	types := map[string]dto.MetricType{
		"histogram": dto.MetricType_HISTOGRAM, "counter": dto.MetricType_COUNTER,
		"up-down counter": dto.MetricType_GAUGE, "gauge": dto.MetricType_GAUGE,
	}
	out := map[string]dto.MetricType{}
	for line := range strings.Lines(string(b)) {
		m := metricRow.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		typ, ok := types[strings.TrimSpace(m[2])]
		if !ok {
			t.Fatalf("README: metric %s of type %q", m[1], m[2])
		}
		out[m[1]] = typ
	}
	if len(out) < 12 {
		t.Fatalf("README: %d metrics in the table, want at least 12", len(out))
	}
	return out
}
