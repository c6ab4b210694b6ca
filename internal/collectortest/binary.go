package collectortest

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// moduleRel is the nested collector module's directory relative to the root
// of the main module.
const moduleRel = "internal/collectortest/otelcol"

var (
	binaryMu   sync.Mutex
	binaryPath string // Set once a build succeeded in this process.
)

// Binary returns the path of an OpenTelemetry Collector binary built from the
// nested module in the otelcol directory.
//
// The binary is built once per version of the module's sources (go.mod,
// go.sum and Go files), with the go command found in PATH (go test puts the
// go command that runs the tests first in PATH), and cached under
// os.UserCacheDir()/crstel. Concurrent callers, in this process or in other
// test binaries, wait for a single build. A cold build downloads the
// collector's dependencies from the Go module proxy and takes a minute or
// more.
//
// Binary fails the test with the go command's output if the collector cannot
// be built. Under go test -short it skips the test instead, built or not, so
// that short tests need neither the network nor a warm cache.
func Binary(tb testing.TB) string {
	tb.Helper()
	if testing.Short() {
		tb.Skip("collectortest: the real OpenTelemetry Collector, built through the Go module proxy, is run only without -short")
	}

	binaryMu.Lock()
	defer binaryMu.Unlock()
	if binaryPath != "" {
		return binaryPath
	}
	p, err := build(tb)
	if err != nil {
		tb.Fatalf("collectortest: %v", err)
	}
	binaryPath = p
	return p
}

// build returns the path of the cached collector binary, building it first
// if needed.
func build(tb testing.TB) (string, error) {
	tb.Helper()
	goCmd, err := goCommand()
	if err != nil {
		return "", err
	}
	src, err := moduleDir(goCmd)
	if err != nil {
		return "", err
	}
	hash, err := sourceHash(src)
	if err != nil {
		return "", err
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		cache, err = os.TempDir(), nil // no $HOME, as on some CI machines
	}
	dir := filepath.Join(cache, "crstel", "otelcol-"+hash)
	bin := filepath.Join(dir, "otelcol")
	if runtime.GOOS == "windows" {
		bin += ".exe"
	}
	if isFile(bin) {
		return bin, nil
	}

	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	unlock, err := lock(tb, filepath.Join(dir, "build.lock"))
	if err != nil {
		return "", fmt.Errorf("lock %s: %w", dir, err)
	}
	defer unlock()
	if isFile(bin) { // Built by another process while we waited.
		return bin, nil
	}

	// Build into a private directory and rename: other processes look for
	// the binary without holding the lock and must never see a partial one.
	tmp, err := os.MkdirTemp(dir, "build-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	out := filepath.Join(tmp, filepath.Base(bin))

	cmd := exec.CommandContext(tb.Context(), goCmd, "build",
		"-mod=readonly", "-trimpath", "-ldflags=-s -w", "-o", out, ".")
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "GOWORK=off", "CGO_ENABLED=0")
	start := time.Now()
	output, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("build the OpenTelemetry Collector in %s: %s: %w\n%s",
			src, strings.Join(cmd.Args, " "), err, output)
	}
	if err := os.Rename(out, bin); err != nil {
		return "", err
	}
	tb.Logf("collectortest: built the OpenTelemetry Collector in %s: %s",
		time.Since(start).Round(time.Millisecond), bin)
	return bin, nil
}

// goCommand returns the path of the go command.
func goCommand() (string, error) {
	if p, err := exec.LookPath("go"); err == nil {
		return p, nil
	}
	if root := os.Getenv("GOROOT"); root != "" {
		p := filepath.Join(root, "bin", "go")
		if isFile(p) {
			return p, nil
		}
	}
	return "", errors.New("the go command is neither in PATH nor in $GOROOT/bin: it is needed to build the OpenTelemetry Collector")
}

// moduleDir returns the directory of the nested collector module.
func moduleDir(goCmd string) (string, error) {
	// This source file's directory, unless the test binary was built with
	// -trimpath.
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		dir := filepath.Join(filepath.Dir(file), "otelcol")
		if isFile(filepath.Join(dir, "go.mod")) {
			return dir, nil
		}
	}
	// Otherwise from the main module holding the working directory, which go
	// test sets to the directory of the package under test.
	out, err := exec.Command(goCmd, "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("find the main module: go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("find the main module: the working directory is outside of any module")
	}
	dir := filepath.Join(filepath.Dir(gomod), filepath.FromSlash(moduleRel))
	if !isFile(filepath.Join(dir, "go.mod")) {
		return "", fmt.Errorf("the collector module is missing: no %s", filepath.Join(dir, "go.mod"))
	}
	return dir, nil
}

// sourceHash returns a short hash of everything in the collector module that
// changes the binary, and of the target platform.
func sourceHash(dir string) (string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "", err
	}
	var names []string
	for _, e := range entries {
		n := e.Name()
		if e.Type().IsRegular() && (n == "go.mod" || n == "go.sum" || strings.HasSuffix(n, ".go")) {
			names = append(names, n)
		}
	}
	slices.Sort(names)

	h := sha256.New()
	_, _ = fmt.Fprintf(h, "%s/%s\n", runtime.GOOS, runtime.GOARCH)
	for _, n := range names {
		b, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil {
			return "", err
		}
		_, _ = fmt.Fprintf(h, "%s %d\n", n, len(b))
		_, _ = h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil))[:12], nil
}

// isFile reports whether path names a regular file.
func isFile(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular()
}
