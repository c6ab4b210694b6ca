package subprocess_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/crstel/crstel"
	"github.com/crstel/crstel/crs"
	"github.com/crstel/crstel/logs"
)

// childEnv names the variable that makes the test binary a child process
// (see child) instead of running the tests.
const childEnv = "CRSTEL_SUBPROCESS_TEST_CHILD"

// TestMain runs the tests with the action journals in a temporary folder
// and checks that they leave no goroutine behind; run with childEnv set, the
// test binary is instead the child the tests start.
func TestMain(m *testing.M) {
	if mode := os.Getenv(childEnv); mode != "" {
		os.Exit(child(mode))
	}
	dir, err := os.MkdirTemp("", "crstel-subprocess-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Setenv("CRSTEL_TRACE_DIR", dir)
	code := m.Run()
	os.RemoveAll(dir)
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// hangFor bounds how long a hanging child lives, so that none outlives a
// test that forgot it.
const hangFor = time.Minute

// child is a child process; mode says what it does. It returns the exit
// code.
func child(mode string) int {
	switch mode {
	case "echo":
		fmt.Println("compiling png.c")
		fmt.Fprintln(os.Stderr, "warning: unused variable")
		fmt.Println("linking")
		return 0
	case "exit3":
		fmt.Println("FAIL: TestDecode")
		return 3
	case "hang":
		fmt.Println("ready")
		time.Sleep(hangFor)
		return 0
	case "ignore-term":
		signal.Ignore(syscall.SIGTERM)
		fmt.Println("ready")
		time.Sleep(hangFor)
		return 0
	case "exit0-on-term":
		c := make(chan os.Signal, 1)
		signal.Notify(c, syscall.SIGTERM)
		fmt.Println("ready")
		select {
		case <-c:
			fmt.Println("terminating")
		case <-time.After(hangFor):
		}
		return 0
	case "spawn":
		// A grandchild that hangs; its pid on stdout.
		gc := exec.Command(os.Args[0])
		gc.Env = append(os.Environ(), childEnv+"=hang")
		if err := gc.Start(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		fmt.Printf("grandchild %d\n", gc.Process.Pid)
		time.Sleep(hangFor)
		return 0
	case "output":
		os.Stdout.WriteString("short\r\nexactly-ten\n")
		os.Stdout.WriteString(strings.Repeat("x", 30) + "\n")
		os.Stdout.WriteString("after the limit\n")
		os.Stderr.WriteString("partial")
		os.Stderr.WriteString(" line without newline")
		return 0
	case "alloc":
		// Touches os.Args[1] bytes of memory.
		n, err := strconv.Atoi(os.Args[1])
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		mem := make([]byte, n)
		for i := 0; i < n; i += 4096 {
			mem[i] = 1
		}
		fmt.Println(len(mem))
		return 0
	case "env":
		for _, k := range []string{"TRACEPARENT", "TRACESTATE", "BAGGAGE"} {
			fmt.Printf("%s=%s\n", k, os.Getenv(k))
		}
		return 0
	case "continue":
		return continueTrace()
	}
	fmt.Fprintln(os.Stderr, "unknown child mode", mode)
	return 2
}

// continueTrace is a Go child that uses crstel: it continues the trace of
// its parent, configured by the environment the test gives it.
func continueTrace() int {
	ctx := context.Background()
	tel, err := crstel.Setup(ctx, crstel.WithServiceName("child"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 2
	}
	logger := slog.New(logs.NewHandler(slog.NewJSONHandler(os.Stdout, nil), logs.WithOTLP()))
	ctx = crstel.ContextFromEnv(ctx)
	ctx, span := crstel.Action(ctx, crs.Testing, "child_tests", nil)
	logger.InfoContext(ctx, "running in the child")
	span.End()
	if err := tel.Shutdown(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 2
	}
	return 0
}
