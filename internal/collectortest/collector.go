package collectortest

import (
	"bytes"
	_ "embed" // Collector configurations.
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	//go:embed config.yaml
	configYAML []byte
	//go:embed config-basicauth.yaml
	configBasicAuthYAML []byte
)

const (
	// readyTimeout bounds the wait for a started collector to serve.
	readyTimeout = 60 * time.Second
	// stopTimeout bounds the wait for a graceful stop before SIGKILL.
	stopTimeout = 5 * time.Second
	// pollInterval is the period of every polling loop.
	pollInterval = 50 * time.Millisecond
	// startAttempts bounds the starts on new ports when a port picked as
	// free was taken by another process in the meantime.
	startAttempts = 3
)

// Option configures a Collector started by Start.
type Option func(*options)

type options struct {
	debugOnly bool
	basicAuth bool
	user      string
	pass      string
	grpcPort  int
}

// WithBasicAuth makes the collector's OTLP gRPC receiver require the HTTP
// basic authentication header "Authorization: Basic base64(user:pass)".
// The user must not contain a colon, and neither user nor pass a newline.
// The collector then has no OTLP HTTP receiver.
func WithBasicAuth(user, pass string) Option {
	return func(o *options) {
		o.basicAuth = true
		o.user = user
		o.pass = pass
	}
}

// WithDebugExporter makes the collector export spans to its debug exporter
// (a count per batch on its stderr) instead of the file Spans reads: for
// throughput measurements, where the disk would be measured too. Count the
// spans with the metric otelcol_receiver_accepted_spans.
func WithDebugExporter() Option {
	return func(o *options) { o.debugOnly = true }
}

// WithGRPCPort makes the collector's OTLP gRPC receiver listen on port of
// 127.0.0.1 instead of a free port, for example to start a collector where
// another one stopped.
func WithGRPCPort(port int) Option {
	return func(o *options) {
		o.grpcPort = port
	}
}

// Collector is an OpenTelemetry Collector process run by Start. Its methods
// are safe for concurrent use.
type Collector struct {
	bin        string
	dir        string
	configPath string
	spansPath  string
	opts       options
	output     syncBuffer

	mu          sync.Mutex
	grpcPort    int
	httpPort    int // Zero without an OTLP HTTP receiver.
	metricsPort int
	cmd         *exec.Cmd     // Nil when the collector is not running.
	done        chan struct{} // Closed when cmd exited.
	previous    []byte        // Span lines written by earlier runs.
}

// Start starts an OpenTelemetry Collector, built by Binary, listening on free
// ports of 127.0.0.1, and waits until it is ready to receive OTLP. It fails
// the test if the collector does not start within a minute. The collector is
// stopped when the test and its subtests complete.
func Start(tb testing.TB, opts ...Option) *Collector {
	tb.Helper()

	c := &Collector{bin: Binary(tb), dir: tb.TempDir()}
	for _, o := range opts {
		o(&c.opts)
	}
	conf := configYAML
	if c.opts.basicAuth {
		conf = configBasicAuthYAML
	}
	if c.opts.debugOnly {
		conf = bytes.Replace(conf, []byte("exporters: [file]"), []byte("exporters: [debug]"), 1)
	}
	c.configPath = filepath.Join(c.dir, "config.yaml")
	c.spansPath = filepath.Join(c.dir, "spans.jsonl")
	if err := os.WriteFile(c.configPath, conf, 0o600); err != nil {
		tb.Fatalf("collectortest: %v", err)
	}
	// Registered after TempDir, so it runs before the directory is removed.
	tb.Cleanup(func() {
		c.Stop()
		if tb.Failed() {
			tb.Logf("collectortest: collector output:\n%s", c.Stderr())
		}
	})

	c.mu.Lock()
	defer c.mu.Unlock()
	for attempt := 1; ; attempt++ {
		if err := c.pickPorts(); err != nil {
			tb.Fatalf("collectortest: %v", err)
		}
		err := c.startLocked()
		if err == nil {
			return c
		}
		if attempt < startAttempts && errors.Is(err, errAddrInUse) {
			tb.Logf("collectortest: %v; retrying on other ports", err)
			continue
		}
		tb.Fatalf("collectortest: %v (see the collector output below)", err)
	}
}

// Endpoint returns the host:port address of the collector's OTLP gRPC
// receiver, 127.0.0.1:PORT.
func (c *Collector) Endpoint() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return hostPort(c.grpcPort)
}

// HTTPEndpoint returns the host:port address of the collector's OTLP HTTP
// receiver, 127.0.0.1:PORT, or "" with WithBasicAuth, whose collector has
// none.
func (c *Collector) HTTPEndpoint() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.httpPort == 0 {
		return ""
	}
	return hostPort(c.httpPort)
}

// Stderr returns what the collector wrote so far to its standard error (its
// logs) and standard output, across restarts.
func (c *Collector) Stderr() string {
	return c.output.String()
}

// Stop stops the collector gracefully: it sends SIGTERM, which makes the
// collector flush its exporters, and SIGKILL if it has not exited after 5
// seconds. Stop waits for the process to exit. It does nothing if the
// collector is not running.
func (c *Collector) Stop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stopLocked(false)
}

// Kill kills the collector with SIGKILL and waits for the process to exit.
// The spans it acknowledged are already in its spans file; a batch it wrote
// but had not yet acknowledged is usually sent again by the exporter, and
// then appears twice in [Collector.Spans]. It does nothing if the collector
// is not running.
func (c *Collector) Kill() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stopLocked(true)
}

// Restart stops the collector gracefully if it is running, and starts it
// again on the same ports with the same spans file. Spans keeps returning the
// spans received before the restart. Restart fails the test if the collector
// does not start.
func (c *Collector) Restart(tb testing.TB) {
	tb.Helper()

	c.mu.Lock()
	defer c.mu.Unlock()
	c.stopLocked(false)

	// The file exporter truncates its file when it starts: keep the complete
	// lines of the earlier runs, and start from an empty file so a line cut
	// by a kill cannot join the next run's first line.
	data, err := os.ReadFile(c.spansPath)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		tb.Fatalf("collectortest: %v", err)
	}
	c.previous = append(c.previous, completeLines(data)...)
	if err := os.Remove(c.spansPath); err != nil && !errors.Is(err, fs.ErrNotExist) {
		tb.Fatalf("collectortest: %v", err)
	}

	_, _ = c.output.Write([]byte("--- collectortest: restart ---\n"))
	if err := c.startLocked(); err != nil {
		tb.Fatalf("collectortest: restart: %v (see the collector output below)", err)
	}
}

// errAddrInUse reports that the collector could not listen on a port
// picked as free.
var errAddrInUse = errors.New("a port is already in use")

// pickPorts picks distinct free ports for the ports not set by options.
func (c *Collector) pickPorts() error {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			_ = l.Close()
		}
	}()
	free := func() (int, error) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, fmt.Errorf("find a free port: %w", err)
		}
		ls = append(ls, l) // Held until all ports are picked.
		return l.Addr().(*net.TCPAddr).Port, nil
	}

	var err error
	c.grpcPort = c.opts.grpcPort
	if c.grpcPort == 0 {
		if c.grpcPort, err = free(); err != nil {
			return err
		}
	}
	c.httpPort = 0
	if !c.opts.basicAuth {
		if c.httpPort, err = free(); err != nil {
			return err
		}
	}
	c.metricsPort, err = free()
	return err
}

// startLocked starts the collector and waits until it is ready. It stops the
// collector again and returns an error if it is not. c.mu is held.
func (c *Collector) startLocked() error {
	cmd := exec.Command(c.bin, "--config", c.configPath)
	cmd.Dir = c.dir
	cmd.Env = append(os.Environ(),
		"OTLP_GRPC_PORT="+strconv.Itoa(c.grpcPort),
		"OTLP_HTTP_PORT="+strconv.Itoa(c.httpPort),
		"METRICS_PORT="+strconv.Itoa(c.metricsPort),
		"SPANS_FILE="+c.spansPath,
		"BASIC_USER="+c.opts.user,
		"BASIC_PASS="+c.opts.pass,
	)
	cmd.Stdout = &c.output
	cmd.Stderr = &c.output
	cmd.SysProcAttr = sysProcAttr()

	logStart := c.output.Len()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start the collector: %w", err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait() // The exit status is in cmd.ProcessState.
		close(done)
	}()
	c.cmd, c.done = cmd, done

	err := c.waitReady(done)
	if err == nil {
		return nil
	}
	c.stopLocked(true)
	out := c.output.String()[logStart:]
	pinned := c.opts.grpcPort != 0 && strings.Contains(out, hostPort(c.grpcPort)+": bind")
	if strings.Contains(out, "address already in use") && !pinned {
		return fmt.Errorf("%w: %w", errAddrInUse, err)
	}
	return err
}

// waitReady waits until the collector answers on its metrics endpoint and
// accepts connections on its OTLP ports, or exited, or readyTimeout passed.
func (c *Collector) waitReady(done <-chan struct{}) error {
	client := &http.Client{Timeout: time.Second}
	metrics := "http://" + hostPort(c.metricsPort) + "/metrics"
	ports := []int{c.grpcPort}
	if c.httpPort != 0 {
		ports = append(ports, c.httpPort)
	}
	ready := func() bool {
		resp, err := client.Get(metrics)
		if err != nil {
			return false
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return false
		}
		// The telemetry endpoint starts before the receivers.
		for _, p := range ports {
			conn, err := net.DialTimeout("tcp", hostPort(p), time.Second)
			if err != nil {
				return false
			}
			_ = conn.Close()
		}
		return true
	}

	timeout := time.NewTimer(readyTimeout)
	defer timeout.Stop()
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for {
		if ready() {
			return nil
		}
		select {
		case <-done:
			return fmt.Errorf("the collector exited before it was ready: %v", c.cmd.ProcessState)
		case <-timeout.C:
			return fmt.Errorf("the collector was not ready after %v (metrics at %s, OTLP on ports %v)",
				readyTimeout, metrics, ports)
		case <-tick.C:
		}
	}
}

// stopLocked stops the running collector, if any, and waits for it to exit.
// c.mu is held.
func (c *Collector) stopLocked(kill bool) {
	if c.cmd == nil {
		return
	}
	cmd, done := c.cmd, c.done
	c.cmd, c.done = nil, nil
	if !kill && cmd.Process.Signal(syscall.SIGTERM) == nil {
		t := time.NewTimer(stopTimeout)
		defer t.Stop()
		select {
		case <-done:
			return
		case <-t.C:
			_, _ = c.output.Write([]byte("--- collectortest: no exit 5s after SIGTERM, sending SIGKILL ---\n"))
		}
	}
	_ = cmd.Process.Kill() // Fails only if the process already exited.
	<-done
}

func hostPort(port int) string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
}

// syncBuffer is a bytes.Buffer safe for concurrent use.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Len()
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
