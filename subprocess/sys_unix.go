//go:build unix

package subprocess

import (
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"syscall"
)

// setProcessGroup makes cmd's child the leader of a process group of its
// own, keeping the rest of cmd.SysProcAttr.
func setProcessGroup(cmd *exec.Cmd) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
}

// kill sends SIGKILL to cmd's child, or its process group. It returns
// os.ErrProcessDone if the child (every process of the group) is gone.
func kill(cmd *exec.Cmd, group bool) error {
	if group && cmd.SysProcAttr != nil && cmd.SysProcAttr.Setpgid {
		// The child leads its group: the group's id is its pid.
		if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); err != syscall.ESRCH {
			return err
		}
		return os.ErrProcessDone
	}
	return cmd.Process.Kill()
}

// signaled returns the name of the signal that ended the process, if one
// did.
func signaled(ps *os.ProcessState) (string, bool) {
	ws, ok := ps.Sys().(syscall.WaitStatus)
	if !ok || !ws.Signaled() {
		return "", false
	}
	return signalName(ws.Signal()), true
}

// signalName returns the name of sig, such as "SIGKILL".
func signalName(sig syscall.Signal) string {
	switch sig {
	case syscall.SIGABRT:
		return "SIGABRT"
	case syscall.SIGALRM:
		return "SIGALRM"
	case syscall.SIGBUS:
		return "SIGBUS"
	case syscall.SIGFPE:
		return "SIGFPE"
	case syscall.SIGHUP:
		return "SIGHUP"
	case syscall.SIGILL:
		return "SIGILL"
	case syscall.SIGINT:
		return "SIGINT"
	case syscall.SIGKILL:
		return "SIGKILL"
	case syscall.SIGPIPE:
		return "SIGPIPE"
	case syscall.SIGQUIT:
		return "SIGQUIT"
	case syscall.SIGSEGV:
		return "SIGSEGV"
	case syscall.SIGSYS:
		return "SIGSYS"
	case syscall.SIGTERM:
		return "SIGTERM"
	case syscall.SIGTRAP:
		return "SIGTRAP"
	case syscall.SIGUSR1:
		return "SIGUSR1"
	case syscall.SIGUSR2:
		return "SIGUSR2"
	case syscall.SIGXCPU:
		return "SIGXCPU"
	case syscall.SIGXFSZ:
		return "SIGXFSZ"
	}
	return "signal " + strconv.Itoa(int(sig))
}

// maxRSS returns the peak resident memory of the process in bytes, if it
// is more than floor.
func maxRSS(ps *os.ProcessState, floor int64) (int64, bool) {
	ru, ok := ps.SysUsage().(*syscall.Rusage)
	if !ok || ru == nil {
		return 0, false
	}
	rss := rssBytes(ru)
	return rss, rss > floor
}

// peakRSS returns the peak resident memory of this process in bytes. A
// child started now inherits it in its own rusage on Linux: Go starts
// children with vfork, and the kernel counts the memory the child shared
// with its parent until exec in the child's peak.
func peakRSS() int64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return rssBytes(&ru)
}

// rssBytes returns ru.Maxrss in bytes.
func rssBytes(ru *syscall.Rusage) int64 {
	rss := int64(ru.Maxrss) // int32 on some systems
	if runtime.GOOS != "darwin" && runtime.GOOS != "ios" {
		rss *= 1024 // KiB everywhere but on Apple's systems, which give bytes
	}
	return rss
}
