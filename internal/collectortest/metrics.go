package collectortest

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Metric returns the sum of the values of all series of the collector's own
// Prometheus metric name, for example otelcol_receiver_accepted_spans or
// otelcol_receiver_refused_spans, read from its metrics endpoint. The name
// matches with or without a _total suffix. Metric returns 0 if the collector
// has no such series yet (counters appear with their first increment), and
// fails the test if the endpoint cannot be read. The counters start from zero
// on every restart.
func (c *Collector) Metric(tb testing.TB, name string) float64 {
	tb.Helper()

	c.mu.Lock()
	url := "http://" + hostPort(c.metricsPort) + "/metrics"
	c.mu.Unlock()
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		tb.Fatalf("collectortest: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		tb.Fatalf("collectortest: GET %s: %s", url, resp.Status)
	}
	v, err := sumMetric(resp.Body, name)
	if err != nil {
		tb.Fatalf("collectortest: %s: %v", url, err)
	}
	return v
}

// sumMetric sums the samples of the metric name in the Prometheus text
// exposition format read from r.
func sumMetric(r io.Reader, name string) (float64, error) {
	want := strings.TrimSuffix(name, "_total")
	var sum float64
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		n, value, err := parseSample(line)
		if err != nil {
			return 0, fmt.Errorf("%w: %q", err, line)
		}
		if strings.TrimSuffix(n, "_total") == want {
			sum += value
		}
	}
	return sum, sc.Err()
}

// parseSample parses a sample line: name, optional {labels}, value and
// optional timestamp.
func parseSample(line string) (name string, value float64, err error) {
	end := strings.IndexAny(line, "{ \t")
	if end < 0 {
		return "", 0, fmt.Errorf("no value")
	}
	name, rest := line[:end], line[end:]
	if rest[0] == '{' {
		// Skip the labels, whose quoted values may hold '}' and escapes.
		quoted, escaped, closed := false, false, -1
		for i := 1; i < len(rest) && closed < 0; i++ {
			switch ch := rest[i]; {
			case escaped:
				escaped = false
			case ch == '\\':
				escaped = quoted
			case ch == '"':
				quoted = !quoted
			case ch == '}' && !quoted:
				closed = i
			}
		}
		if closed < 0 {
			return "", 0, fmt.Errorf("unterminated labels")
		}
		rest = rest[closed+1:]
	}
	fields := strings.Fields(rest)
	if len(fields) == 0 {
		return "", 0, fmt.Errorf("no value")
	}
	value, err = strconv.ParseFloat(fields[0], 64)
	return name, value, err
}
