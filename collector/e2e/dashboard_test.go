package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"math"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// screenshot, if set, is where TestDashboard writes the picture of the
// dashboard's panels (dashboards/screenshot.sh sets it to
// dashboards/crstel.png); else it writes it to a temporary folder.
var screenshot = flag.String("screenshot", "", "write the dashboard's picture to this PNG file")

// libraryDir is the folder of the library's module.
var libraryDir = filepath.Join(moduleDir, "..")

// dashboardFile is the Grafana dashboard checked.
var dashboardFile = filepath.Join(libraryDir, "dashboards", "crstel.json")

const (
	// workFor is how long the example works while Prometheus scrapes it.
	workFor = 30 * time.Second
	// scrapeInterval is Prometheus's, in the test.
	scrapeInterval = time.Second
	// rateInterval stands for Grafana's $__rate_interval: at least four
	// scrape intervals, as Grafana makes it.
	rateInterval = "10s"
	// serviceQuery lists the dashboard's services: every series crstel or
	// crstelcol exposes has service_name; allServices selects them all.
	serviceQuery = "label_values(service_name)"
	allServices  = ".*"
	// serviceFilter is the selector every expression has.
	serviceFilter = `service_name=~"$service"`
)

// dashboard is the part of a Grafana dashboard's JSON the test reads.
type dashboard struct {
	Title      string `json:"title"`
	UID        string `json:"uid"`
	Templating struct {
		List []struct {
			Name       string     `json:"name"`
			Type       string     `json:"type"`
			Query      string     `json:"query"`
			Datasource datasource `json:"datasource"`
			IncludeAll bool       `json:"includeAll"`
			AllValue   string     `json:"allValue"`
		} `json:"list"`
	} `json:"templating"`
	Panels []panel `json:"panels"`
}

type panel struct {
	ID         int        `json:"id"`
	Type       string     `json:"type"`
	Title      string     `json:"title"`
	Datasource datasource `json:"datasource"`
	GridPos    struct {
		H, W, X, Y int
	} `json:"gridPos"`
	FieldConfig struct {
		Defaults struct {
			Unit string `json:"unit"`
		} `json:"defaults"`
	} `json:"fieldConfig"`
	Targets []struct {
		RefID        string     `json:"refId"`
		Datasource   datasource `json:"datasource"`
		Expr         string     `json:"expr"`
		LegendFormat string     `json:"legendFormat"`
	} `json:"targets"`
}

type datasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

// loadDashboard reads dashboards/crstel.json and checks its shape: what
// Grafana needs to import it and draw each panel from the Prometheus the
// importer picks.
func loadDashboard(t *testing.T) dashboard {
	t.Helper()
	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	if d.Title == "" || d.UID == "" {
		t.Errorf("title %q, uid %q: want both", d.Title, d.UID)
	}
	ds := datasource{Type: "prometheus", UID: "${datasource}"}
	vars := d.Templating.List
	if len(vars) != 2 || vars[0].Name != "datasource" || vars[0].Type != "datasource" || vars[0].Query != "prometheus" ||
		vars[1].Name != "service" || vars[1].Type != "query" || vars[1].Datasource != ds ||
		vars[1].Query != serviceQuery || !vars[1].IncludeAll || vars[1].AllValue != allServices {
		t.Errorf("templating %+v: want datasource (of the prometheus type), then service (%s, all: %s)", vars, serviceQuery, allServices)
	}
	ids := map[int]bool{}
	for _, p := range d.Panels {
		if ids[p.ID] {
			t.Errorf("panel %q: id %d taken twice", p.Title, p.ID)
		}
		ids[p.ID] = true
		if p.Type != "timeseries" || p.Title == "" || p.FieldConfig.Defaults.Unit == "" {
			t.Errorf("panel %d: type %q, title %q, unit %q; want a timeseries with a title and a unit", p.ID, p.Type, p.Title, p.FieldConfig.Defaults.Unit)
		}
		if p.Datasource != ds {
			t.Errorf("panel %q: datasource %+v, want %+v", p.Title, p.Datasource, ds)
		}
		if g := p.GridPos; g.W <= 0 || g.H <= 0 || g.X < 0 || g.X+g.W > 24 {
			t.Errorf("panel %q: gridPos %+v outside Grafana's 24 columns", p.Title, g)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q: no query", p.Title)
		}
		for _, q := range p.Targets {
			if q.RefID == "" || q.Expr == "" || q.Datasource != ds {
				t.Errorf("panel %q: target %+v: want a refId, an expression and the datasource %+v", p.Title, q, ds)
			}
		}
	}
	return d
}

// dashboardMetrics are the series of the panels the dashboard must have:
// each must be queried by some expression of it.
var dashboardMetrics = []string{
	"crstel_action_duration_seconds_count",         // actions by category and outcome
	"crstel_action_duration_seconds_bucket",        // p50/p95 by category
	"crstel_actions_open",                          // open actions
	"crstel_actions_overdue",                       // overdue actions
	"crstel_spans_lost_total",                      // spans lost
	"crstel_cost_llm_tokens_total",                 // LLM tokens by model
	"crstel_cost_llm_total",                        // LLM cost by model
	"crstel_cost_cpu_seconds_total",                // CPU by category
	"otelcol_processor_crs_conformance_violations", // conformance violations by service and rule
}

// TestDashboard checks every PromQL expression of dashboards/crstel.json
// against a real Prometheus (Debian's package, installed if missing), which
// scrapes examples/dashboard at work and the crstelcol it sends its spans
// to, while a Node.js component sends that crstelcol spans that break the
// specification: each expression must parse, and return at least one
// series with a value. Then it draws the panels from the query results as
// a PNG (see screenshot).
func TestDashboard(t *testing.T) {
	d := loadDashboard(t)
	var exprs []string
	for _, p := range d.Panels {
		for _, q := range p.Targets {
			exprs = append(exprs, q.Expr)
		}
	}
	for _, m := range dashboardMetrics {
		if !slices.ContainsFunc(exprs, func(e string) bool { return regexp.MustCompile(`\b` + m + `\b`).MatchString(e) }) {
			t.Errorf("no panel queries %s", m)
		}
	}
	if t.Failed() {
		return
	}

	crstelcol(t) // built first; skips under -short
	promBin := prometheusBinary(t)
	nodeReady(t)
	example := goBuildIn(t, libraryDir, "./examples/dashboard")
	c := start(t)
	exampleAddr := freeAddr(t)
	prom := startPrometheus(t, promBin, map[string]string{"crstel": exampleAddr, "crstelcol": c.metrics})

	// The example works for workFor; meanwhile the Node.js component sends
	// its spans three times, so that violations keep coming.
	host, port, _ := strings.Cut(exampleAddr, ":")
	cmd := exec.Command(example, "-for", workFor.String())
	cmd.Env = append(os.Environ(),
		"OTEL_EXPORTER_OTLP_ENDPOINT=http://"+c.grpc,
		"OTEL_METRICS_EXPORTER=prometheus",
		"OTEL_EXPORTER_PROMETHEUS_HOST="+host,
		"OTEL_EXPORTER_PROMETHEUS_PORT="+port,
		"CRSTEL_TRACE_DIR="+t.TempDir(),
		"CRSTEL_AUDIT_DIR="+t.TempDir(),
	)
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = dieWithTest()
	begin := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
		if t.Failed() {
			t.Logf("examples/dashboard's output:\n%s", &out)
		}
	})
	for i := range 3 {
		select {
		case <-time.After(workFor / 4):
		case err := <-done:
			done <- err
			t.Fatalf("examples/dashboard ended after %s: %v", time.Since(begin), err)
		}
		sendNode(t, c, fmt.Sprintf("node send.js (%d)", i+1))
	}
	select {
	case err := <-done:
		done <- err
		if err != nil {
			t.Fatalf("examples/dashboard: %v", err)
		}
	case <-time.After(workFor + time.Minute):
		t.Fatalf("examples/dashboard did not end in %s", workFor+time.Minute)
	}
	// One more scrape of the collector, after the last spans.
	time.Sleep(3 * scrapeInterval)
	end := time.Now()

	// crstel's own telemetry (spans, lifecycle records, logs) passes the
	// gateway's rules: the violations are the Node.js component's.
	text, err := c.scrape()
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(text) {
		if strings.HasPrefix(line, "otelcol_processor_crs_conformance_violations{") &&
			strings.Contains(line, `service_name="dashboard-example"`) && strings.Contains(line, `level="violation"`) {
			t.Errorf("crstelcol found examples/dashboard's telemetry in violation: %s", line)
		}
	}

	// The check can fail: Prometheus refuses a broken expression, and
	// finds no series for a metric nobody sends.
	if _, err := prom.queryRange("sum(crstel_actions_open", begin, end, scrapeInterval); err == nil {
		t.Error("prometheus accepted a broken expression")
	}
	if series, err := prom.queryRange("crstel_no_such_metric", begin, end, scrapeInterval); err != nil || len(series) != 0 {
		t.Errorf("a metric nobody sends: %d series, %v; want none and no error", len(series), err)
	}
	// The service filter selects: the example's series carry its name.
	for service, want := range map[string]bool{"dashboard-example": true, "no-such-service": false} {
		series, err := prom.queryRange(`sum(crstel_actions_open{service_name="`+service+`"})`, begin, end, scrapeInterval)
		if err != nil || (len(series) > 0) != want {
			t.Errorf("crstel_actions_open of service %s: %d series, %v; want some: %v", service, len(series), err, want)
		}
	}

	var panels []panelData
	for _, p := range d.Panels {
		pd := panelData{Title: p.Title, Unit: p.FieldConfig.Defaults.Unit}
		for _, q := range p.Targets {
			if !strings.Contains(q.Expr, serviceFilter) {
				t.Errorf("panel %q, %s: no %s", p.Title, q.Expr, serviceFilter)
			}
			expr := strings.NewReplacer("$__rate_interval", rateInterval, "$service", allServices).Replace(q.Expr)
			series, err := prom.queryRange(expr, begin, end, scrapeInterval)
			if err != nil {
				t.Errorf("panel %q, %s: %v", p.Title, q.Expr, err)
				continue
			}
			if len(series) == 0 {
				t.Errorf("panel %q, %s: no series", p.Title, q.Expr)
				continue
			}
			if !hasData(panelData{Series: series}) {
				t.Errorf("panel %q, %s: %d series, none with a value", p.Title, q.Expr, len(series))
			}
			for i := range series {
				series[i].Name = legendName(q.LegendFormat, series[i].Name)
			}
			pd.Series = append(pd.Series, series...)
		}
		panels = append(panels, pd)
	}
	if t.Failed() {
		return
	}

	png := *screenshot
	if png == "" {
		png = filepath.Join(t.TempDir(), "crstel.png")
	}
	if err := renderDashboard(png, d.Title, panels, 2, 1600); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(png); err != nil || fi.Size() < 10_000 {
		t.Fatalf("the picture %s: %v, want a PNG of some size", png, err)
	}
	t.Logf("%d panels drawn in %s from %s of data", len(panels), png, end.Sub(begin).Round(time.Second))
}

// legendName applies a Grafana legend format ("{{label}} text") to the labels
// of a series, given as the JSON of its metric.
func legendName(format, metric string) string {
	var labels map[string]string
	_ = json.Unmarshal([]byte(metric), &labels)
	if format == "" {
		return metric
	}
	return regexp.MustCompile(`\{\{\s*(\w+)\s*\}\}`).ReplaceAllStringFunc(format, func(m string) string {
		return labels[strings.Trim(m, "{} ")]
	})
}

// prometheusBinary returns the path of Debian's prometheus, installing
// the package with apt-get when it is missing (as root, or through sudo
// without a password).
func prometheusBinary(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("prometheus"); err == nil {
		return p
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
	defer cancel()
	aptGet := func(args ...string) ([]byte, error) {
		args = append([]string{"apt-get"}, args...)
		if os.Geteuid() != 0 {
			args = append([]string{"sudo", "-n"}, args...)
		}
		cmd := exec.CommandContext(ctx, args[0], args[1:]...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		return cmd.CombinedOutput()
	}
	install := []string{"install", "-y", "--no-install-recommends", "prometheus"}
	out, err := aptGet(install...)
	if err != nil { // the package lists may be missing or stale
		if out, err = aptGet("update"); err == nil {
			out, err = aptGet(install...)
		}
	}
	if err != nil {
		t.Fatalf("prometheus is not installed, and apt-get could not install it: %v\n%s\n"+
			"Install Debian's package prometheus (apt-get install prometheus)", err, out)
	}
	p, err := exec.LookPath("prometheus")
	if err != nil {
		t.Fatalf("apt-get installed prometheus, but it is not in PATH: %v", err)
	}
	return p
}

// prometheus is a running Prometheus server.
type prometheus struct {
	addr string // host:port of its HTTP API
}

// startPrometheus runs a Prometheus server on a free loopback port, with
// a storage of its own, scraping each target (job name → host:port) every
// scrapeInterval; the test stops it.
func startPrometheus(t *testing.T, bin string, targets map[string]string) *prometheus {
	t.Helper()
	dir := t.TempDir()
	var cfg strings.Builder
	fmt.Fprintf(&cfg, "global:\n  scrape_interval: %s\n  scrape_timeout: %s\nscrape_configs:\n", scrapeInterval, scrapeInterval)
	for _, job := range slices.Sorted(maps.Keys(targets)) {
		fmt.Fprintf(&cfg, "  - job_name: %s\n    static_configs:\n      - targets: [%q]\n", job, targets[job])
	}
	config := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(config, []byte(cfg.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	p := &prometheus{addr: freeAddr(t)}
	cmd := exec.Command(bin,
		"--config.file="+config,
		"--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+p.addr,
		"--log.level=warn",
	)
	log := new(syncBuffer)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = dieWithTest()
	if err := cmd.Start(); err != nil {
		t.Fatalf("start prometheus: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-done:
		case <-time.After(stopTimeout):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("prometheus's log:\n%s", log)
		}
	})
	waitReady(t, "prometheus", done, log, func() bool {
		resp, err := http.Get("http://" + p.addr + "/-/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return p
}

// queryRange evaluates expr through Prometheus's HTTP API from start to
// end, every step. It returns one seriesData per series, named by the JSON
// of its labels; an error says what Prometheus said of a bad expression.
func (p *prometheus) queryRange(expr string, start, end time.Time, step time.Duration) ([]seriesData, error) {
	q := url.Values{
		"query": {expr},
		"start": {strconv.FormatFloat(float64(start.UnixMilli())/1000, 'f', 3, 64)},
		"end":   {strconv.FormatFloat(float64(end.UnixMilli())/1000, 'f', 3, 64)},
		"step":  {strconv.FormatFloat(step.Seconds(), 'f', -1, 64)},
	}
	client := http.Client{Timeout: 30 * time.Second}
	resp, err := client.PostForm("http://"+p.addr+"/api/v1/query_range", q)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	var r struct {
		Status    string `json:"status"`
		ErrorType string `json:"errorType"`
		Error     string `json:"error"`
		Data      struct {
			ResultType string `json:"resultType"`
			Result     []struct {
				Metric map[string]string `json:"metric"`
				Values [][2]any          `json:"values"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, fmt.Errorf("query_range: %s: %v: %s", resp.Status, err, body)
	}
	if r.Status != "success" {
		return nil, fmt.Errorf("prometheus: %s: %s", r.ErrorType, r.Error)
	}
	if r.Data.ResultType != "matrix" {
		return nil, fmt.Errorf("prometheus: result type %q, want matrix", r.Data.ResultType)
	}
	var out []seriesData
	for _, res := range r.Data.Result {
		name, _ := json.Marshal(res.Metric)
		s := seriesData{Name: string(name)}
		for _, v := range res.Values {
			ts, ok1 := v[0].(float64)
			str, ok2 := v[1].(string)
			if !ok1 || !ok2 {
				return nil, errors.New("prometheus: a sample is not [time, \"value\"]")
			}
			f, err := strconv.ParseFloat(str, 64)
			if err != nil {
				return nil, fmt.Errorf("prometheus: sample %q: %v", str, err)
			}
			s.Times = append(s.Times, time.UnixMilli(int64(math.Round(ts*1000))))
			s.Values = append(s.Values, f)
		}
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b seriesData) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}
