package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
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

// sourceHash returns a short hash of what the binary is built from: this
// module's go.mod, go.sum and Go sources (but tests), the library's go.mod
// and go.sum and the sources of the packages the processor imports (crs
// and its subpackages), and the platform.
func sourceHash() (string, error) {
	var files []string
	add := func(root string, skip func(path string) bool) error {
		return filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() {
				if path != root && skip(path) {
					return filepath.SkipDir
				}
				return nil
			}
			name := d.Name()
			if name == "go.mod" || name == "go.sum" || (strings.HasSuffix(name, ".go") && !strings.HasSuffix(name, "_test.go")) {
				files = append(files, path)
			}
			return nil
		})
	}
	collector := func(path string) bool {
		base := filepath.Base(path)
		return base == "e2e" || base == "testdata" || base == "node_modules" || strings.HasPrefix(base, ".")
	}
	if err := add(moduleDir, collector); err != nil {
		return "", err
	}
	root := filepath.Join(moduleDir, "..")
	files = append(files, filepath.Join(root, "go.mod"), filepath.Join(root, "go.sum"))
	if err := add(filepath.Join(root, "crs"), func(string) bool { return false }); err != nil {
		return "", err
	}
	slices.Sort(files)
	h := sha256.New()
	_, _ = fmt.Fprintf(h, "%s/%s\n", runtime.GOOS, runtime.GOARCH)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return "", err
		}
		_, _ = fmt.Fprintf(h, "%s %d\n", filepath.ToSlash(f), len(b))
		_, _ = h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil))[:12], nil
}
