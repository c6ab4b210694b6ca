package e2e

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace"
)

const (
	// readyTimeout bounds the wait for a started collector to serve.
	readyTimeout = 60 * time.Second
	// stopTimeout bounds the wait for a graceful stop before SIGKILL.
	stopTimeout = 10 * time.Second
	// poll is the period of every polling loop.
	poll = 50 * time.Millisecond
)

// defaultConfig is the distribution's default configuration.
var defaultConfig = filepath.Join(moduleDir, "config.yaml")

// collector is a running crstelcol with the default configuration, its
// file exporter writing to spansFile.
type collector struct {
	grpc, metrics string // host:port
	spansFile     string
	args, env     []string // of its command; CRSTELCOL_FILE_PATH is spansFile
	log           *syncBuffer
	cmd           *exec.Cmd
	done          chan error
}

// start runs crstelcol with the default configuration on free loopback
// ports, its pipelines exporting to the file exporter; the test stops it.
func start(t *testing.T) *collector {
	t.Helper()
	return startWith(t, nil)
}

// startWith runs crstelcol as start does, with the default configuration
// and then the files of extra merged over it, and env added to its
// environment.
func startWith(t *testing.T, env []string, extra ...string) *collector {
	t.Helper()
	c := &collector{
		grpc: freeAddr(t), metrics: freeAddr(t),
		spansFile: filepath.Join(t.TempDir(), "spans.jsonl"),
	}
	_, metricsPort, _ := net.SplitHostPort(c.metrics)
	args := []string{"--config", defaultConfig}
	for _, f := range extra {
		args = append(args, "--config", f)
	}
	c.env = append(append(os.Environ(),
		"CRSTELCOL_GRPC_ENDPOINT="+c.grpc,
		"CRSTELCOL_HTTP_ENDPOINT="+freeAddr(t),
		"CRSTELCOL_METRICS_HOST=127.0.0.1",
		"CRSTELCOL_METRICS_PORT="+metricsPort,
		"CRSTELCOL_EXPORTER=file",
	), env...)
	c.args = args
	c.launch(t)
	return c
}

// launch runs the collector's command, writing to c.spansFile, and waits
// until it serves; the test stops it.
func (c *collector) launch(t *testing.T) {
	t.Helper()
	c.log = new(syncBuffer)
	c.done = make(chan error, 1)
	c.cmd = exec.Command(crstelcol(t), c.args...)
	c.cmd.Env = append(slices.Clone(c.env), "CRSTELCOL_FILE_PATH="+c.spansFile)
	c.cmd.Stdout, c.cmd.Stderr = c.log, c.log
	c.cmd.SysProcAttr = dieWithTest()
	if err := c.cmd.Start(); err != nil {
		t.Fatalf("start crstelcol: %v", err)
	}
	go func() { c.done <- c.cmd.Wait() }()
	cmd, done, log := c.cmd, c.done, c.log
	t.Cleanup(func() { stopCmd(t, cmd, done, log) })

	name := fmt.Sprintf("crstelcol (metrics on %s, OTLP on %s)", c.metrics, c.grpc)
	waitReady(t, name, c.done, c.log, func() bool {
		_, err := c.scrape()
		return err == nil && c.serves()
	})
}

// waitReady waits up to readyTimeout until ready says so. The test fails
// if the process called name exits first (done gets its error, and is
// given it back) or is not ready in time, with its output, log.
func waitReady(t *testing.T, name string, done chan error, log *syncBuffer, ready func() bool) {
	t.Helper()
	waitFor(t, readyTimeout, func() (bool, string) {
		if ready() {
			return true, ""
		}
		select {
		case err := <-done:
			done <- err
			t.Fatalf("%s exited before it was ready: %v\n%s", name, err, log)
		default:
		}
		return false, name + " was not ready:\n" + log.String()
	})
}

// stopCmd stops a collector's process: SIGTERM, then SIGKILL after
// stopTimeout. It does nothing more to a process that has exited.
func stopCmd(t *testing.T, cmd *exec.Cmd, done chan error, log *syncBuffer) {
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-done:
		done <- err
	case <-time.After(stopTimeout):
		_ = cmd.Process.Kill()
		done <- <-done
		t.Errorf("crstelcol did not stop in %s after SIGTERM; killed", stopTimeout)
	}
	if t.Failed() {
		t.Logf("crstelcol's log:\n%s", log)
	}
}

// kill kills the collector's process with SIGKILL and waits for it.
func (c *collector) kill() {
	_ = c.cmd.Process.Kill()
	err := <-c.done
	c.done <- err
}

// serves tells whether the collector's OTLP/gRPC receiver accepts
// connections.
func (c *collector) serves() bool {
	conn, err := net.DialTimeout("tcp", c.grpc, time.Second)
	if err != nil {
		return false
	}
	conn.Close()
	return true
}

// freeAddr returns a loopback address nothing listens on now, and that
// it has not returned before in this process: the kernel may give a port
// just closed again, and two components of a test on one port cannot both
// start. The ports it turns down stay held until it finds one.
func freeAddr(t *testing.T) string {
	t.Helper()
	handedOut.Lock()
	defer handedOut.Unlock()
	var held []net.Listener
	defer func() {
		for _, l := range held {
			_ = l.Close()
		}
	}()
	for range 100 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, l)
		if addr := l.Addr().String(); !handedOut.addrs[addr] {
			handedOut.addrs[addr] = true
			return addr
		}
	}
	t.Fatal("freeAddr: 100 ports in a row were handed out before")
	return ""
}

// handedOut holds the addresses freeAddr returned.
var handedOut = struct {
	sync.Mutex
	addrs map[string]bool
}{addrs: map[string]bool{}}

// scrape returns the collector's own metrics, from its Prometheus
// endpoint.
func (c *collector) scrape() (string, error) {
	client := http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get("http://" + c.metrics + "/metrics")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	return string(b), nil
}

// metric returns the value of the sample of name whose labels include
// labels (name="value" each), or false if there is none.
func metric(text, name string, labels ...string) (float64, bool) {
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		series, value, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		match := true
		for _, l := range labels {
			if !strings.Contains(series, l) {
				match = false
				break
			}
		}
		if match {
			v, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
			return v, err == nil
		}
	}
	return 0, false
}

// waitFor calls cond every poll until it says done, for up to timeout;
// then the test fails with what cond said last (and the timeout). cond
// runs on the test's goroutine, and may end the test itself.
func waitFor(t *testing.T, timeout time.Duration, cond func() (done bool, failure string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		done, failure := cond()
		if done {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s (waited %s)", failure, timeout)
		}
		time.Sleep(poll)
	}
}

// waitSpans waits up to timeout for n spans in the collector's file, and
// returns them by name.
func (c *collector) waitSpans(t *testing.T, n int, timeout time.Duration) map[string]ptrace.Span {
	t.Helper()
	var spans map[string]ptrace.Span
	waitFor(t, timeout, func() (bool, string) {
		var err error
		spans, err = c.spans()
		return err == nil && len(spans) >= n, fmt.Sprintf("got %d spans (%v), want %d", len(spans), err, n)
	})
	return spans
}

// spans reads the OTLP JSON lines of the collector's file exporter, by span
// name.
func (c *collector) spans() (map[string]ptrace.Span, error) {
	b, err := os.ReadFile(c.spansFile)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	out := make(map[string]ptrace.Span)
	for line := range bytes.Lines(b) {
		if !bytes.HasSuffix(line, []byte("\n")) {
			break // being written
		}
		td, err := (&ptrace.JSONUnmarshaler{}).UnmarshalTraces(line)
		if err != nil {
			return nil, err
		}
		rss := td.ResourceSpans()
		for i := range rss.Len() {
			sss := rss.At(i).ScopeSpans()
			for j := range sss.Len() {
				spans := sss.At(j).Spans()
				for k := range spans.Len() {
					out[spans.At(k).Name()] = spans.At(k)
				}
			}
		}
	}
	return out, nil
}

// syncBuffer is a bytes.Buffer that a process writes and a test reads.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
