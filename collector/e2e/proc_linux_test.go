package e2e

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// dieWithTest makes the kernel kill a process the test starts if the test
// binary dies without running its cleanups (a panic, or go test's
// -timeout), so that no collector, Prometheus or component outlives it.
func dieWithTest() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

// TestDieWithTest: a process started with dieWithTest ends when the test
// binary that started it is killed (here, a copy of this test binary that
// starts sleep and is then killed with SIGKILL, as go test's -timeout
// leaves no cleanup to run).
func TestDieWithTest(t *testing.T) {
	if os.Getenv("E2E_DIE_WITH_TEST") == "1" {
		cmd := exec.Command("sleep", "60")
		cmd.SysProcAttr = dieWithTest()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		fmt.Println("child", cmd.Process.Pid)
		time.Sleep(60 * time.Second) // killed long before
		return
	}
	helper := exec.Command(os.Args[0], "-test.run=^TestDieWithTest$")
	helper.Env = append(os.Environ(), "E2E_DIE_WITH_TEST=1")
	out, err := helper.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := helper.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = helper.Process.Kill(); _ = helper.Wait() })
	lines := bufio.NewScanner(out)
	pid := 0
	for pid == 0 && lines.Scan() {
		fmt.Sscanf(lines.Text(), "child %d", &pid)
	}
	if pid == 0 {
		t.Fatalf("the helper printed no child: %v", lines.Err())
	}
	if err := helper.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = helper.Wait()
	t.Cleanup(func() {
		if alive(pid) { // it outlived the helper: the test failed
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	waitFor(t, 10*time.Second, func() (bool, string) {
		return !alive(pid), fmt.Sprintf("process %d outlived the test binary that started it", pid)
	})
}

// alive reports whether process pid runs: it exists and is not a zombie
// waiting for init to reap it.
func alive(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the command name, which is in parentheses.
	_, rest, _ := strings.Cut(string(stat), ") ")
	return !strings.HasPrefix(rest, "Z") && !strings.HasPrefix(rest, "X")
}
