//go:build !unix

package subprocess

import (
	"os"
	"os/exec"
)

// setProcessGroup does nothing here.
func setProcessGroup(*exec.Cmd) {}

// kill kills cmd's child.
func kill(cmd *exec.Cmd, _ bool) error { return cmd.Process.Kill() }

// signaled reports no signal: there are none here.
func signaled(*os.ProcessState) (string, bool) { return "", false }

// maxRSS is unknown here.
func maxRSS(*os.ProcessState, int64) (int64, bool) { return 0, false }

// peakRSS is unknown here.
func peakRSS() int64 { return 0 }
