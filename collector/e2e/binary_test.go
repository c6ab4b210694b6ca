package e2e

import (
	"crypto/sha256"
	"encoding/hex"
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

// moduleDir is the collector module's directory, relative to this
// package's (go test runs a test in its package's directory).
const moduleDir = ".."

var (
	binaryOnce sync.Once
	binaryPath string
	binaryErr  error
)

// crstelcol returns the path of the crstelcol binary built from
// ../cmd/crstelcol. It is built once per version of the sources it is made
// from (this module's and those of the library's it uses), with the go
// command in PATH, and cached under os.UserCacheDir()/crstel. Under -short
// it skips the test: a cold build fetches the collector's modules from the
// module proxy and takes minutes.
func crstelcol(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skip("e2e: crstelcol, built through the Go module proxy, runs only without -short")
	}
	binaryOnce.Do(func() { binaryPath, binaryErr = build(t) })
	if binaryErr != nil {
		t.Fatalf("e2e: %v", binaryErr)
	}
	return binaryPath
}

func build(t testing.TB) (string, error) {
	hash, err := sourceHash()
	if err != nil {
		return "", err
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir() // no $HOME, as on some CI machines
	}
	dir := filepath.Join(cache, "crstel", "crstelcol-"+hash)
	bin := filepath.Join(dir, "crstelcol")
	if runtime.GOOS == "windows" {
		bin += ".exe"
	}
	if fi, err := os.Stat(bin); err == nil && fi.Mode().IsRegular() {
		return bin, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	// Build into a directory of its own and rename, so that no one ever
	// runs a binary half written.
	tmp, err := os.MkdirTemp(dir, "build-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	out := filepath.Join(tmp, filepath.Base(bin))
	cmd := exec.Command("go", "build", "-mod=readonly", "-ldflags=-s -w", "-o", out, "./cmd/crstelcol")
	cmd.Dir = moduleDir
	cmd.Env = append(os.Environ(), "GOWORK=off", "CGO_ENABLED=0")
	start := time.Now()
	if output, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build crstelcol: %s: %w\n%s", strings.Join(cmd.Args, " "), err, output)
	}
	if err := os.Rename(out, bin); err != nil {
		return "", err
	}
	t.Logf("e2e: built crstelcol in %s: %s", time.Since(start).Round(time.Millisecond), bin)
	return bin, nil
}

// sourceHash returns a short hash of what the binary is built from: the
// go.mod and go.sum of this module and of the library, the Go sources (but
// tests) of every package of this repository that cmd/crstelcol imports,
// as go list -deps names them, and the platform.
func sourceHash() (string, error) {
	root, files, err := sourceFiles()
	if err != nil {
		return "", err
	}
	h := sha256.New()
	_, _ = fmt.Fprintf(h, "%s/%s\n", runtime.GOOS, runtime.GOARCH)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return "", err
		}
		rel, _ := filepath.Rel(root, f)
		_, _ = fmt.Fprintf(h, "%s %d\n", filepath.ToSlash(rel), len(b))
		_, _ = h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil))[:12], nil
}

// sourceFiles returns the repository's root and, sorted, the files of it
// that sourceHash hashes.
func sourceFiles() (root string, files []string, err error) {
	root, err = filepath.Abs(filepath.Join(moduleDir, ".."))
	if err != nil {
		return "", nil, err
	}
	list := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.Dir}}{{end}}", "./cmd/crstelcol")
	list.Dir = moduleDir
	list.Env = append(os.Environ(), "GOWORK=off")
	out, err := list.Output()
	if err != nil {
		return "", nil, fmt.Errorf("list crstelcol's packages: %w", err)
	}
	files = []string{
		filepath.Join(root, "go.mod"), filepath.Join(root, "go.sum"),
		filepath.Join(root, "collector", "go.mod"), filepath.Join(root, "collector", "go.sum"),
	}
	for dir := range strings.Lines(string(out)) {
		dir = strings.TrimSpace(dir)
		if dir == "" || !strings.HasPrefix(dir, root+string(filepath.Separator)) {
			continue // a module's, from the module cache
		}
		entries, err := os.ReadDir(dir)
		if err != nil {
			return "", nil, err
		}
		for _, e := range entries {
			if n := e.Name(); e.Type().IsRegular() && strings.HasSuffix(n, ".go") && !strings.HasSuffix(n, "_test.go") {
				files = append(files, filepath.Join(dir, n))
			}
		}
	}
	slices.Sort(files)
	return root, files, nil
}

// TestSourceHashCoversImports: the cached crstelcol is rebuilt when any
// package of this repository it imports changes, the library's among them
// (the rulebook, and the budgets' parser in internal/envconfig), and not
// for tests.
func TestSourceHashCoversImports(t *testing.T) {
	root, files, err := sourceFiles()
	if err != nil {
		t.Fatal(err)
	}
	dirs := map[string]bool{}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			t.Errorf("a test file is hashed: %s", f)
		}
		rel, _ := filepath.Rel(root, filepath.Dir(f))
		dirs[filepath.ToSlash(rel)] = true
	}
	for _, want := range []string{"crs", "crs/conform", "internal/envconfig", "internal/pricetable",
		"collector/processor/crsconformanceprocessor", "collector/connector/crswatchdogconnector", "collector/cmd/crstelcol"} {
		if !dirs[want] {
			t.Errorf("the sources of %s are not hashed; hashed: %v", want, dirs)
		}
	}
}
