package kubecluster

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// daemon is a node process (containerd, the kubelet, a controller)
// running in the holder's namespaces, its output appended to a log file.
type daemon struct {
	name string
	log  string
	cmd  *exec.Cmd
	done chan struct{} // closed once the process has been waited for
	err  error         // exit status, valid after done is closed
}

// startDaemon runs bin with args in h's namespaces.
func startDaemon(h *holder, name, logPath, bin string, args ...string) (*daemon, error) {
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", logPath, err)
	}
	defer logFile.Close() // the child holds its own copy
	fmt.Fprintf(logFile, "=== %s %s %s\n", time.Now().Format(time.RFC3339), bin, strings.Join(args, " "))
	cmd := h.command(bin, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{
		// A process group of its own lets stop reach what the daemon
		// forks, not only the process nsenter became.
		Setpgid: true,
		// If the test binary dies without its cleanups, the kernel kills
		// the daemon too; Close sweeps up anything that escaped.
		Pdeathsig: syscall.SIGKILL,
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	d := &daemon{name: name, log: logPath, cmd: cmd, done: make(chan struct{})}
	go func() {
		d.err = cmd.Wait()
		close(d.done)
	}()
	return d, nil
}

// exited reports whether the daemon has ended, and with what status.
func (d *daemon) exited() (bool, error) {
	select {
	case <-d.done:
		return true, d.err
	default:
		return false, nil
	}
}

// stop sends SIGTERM to the daemon's process group, then SIGKILL if it
// has not exited within grace, and waits for it. Calling it on a nil or
// stopped daemon is harmless.
func (d *daemon) stop(grace time.Duration) error {
	if d == nil {
		return nil
	}
	if done, _ := d.exited(); done {
		return nil
	}
	pgid := d.cmd.Process.Pid
	if err := syscall.Kill(-pgid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("sending SIGTERM to %s: %w", d.name, err)
	}
	select {
	case <-d.done:
		return nil
	case <-time.After(grace):
	}
	if err := syscall.Kill(-pgid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("sending SIGKILL to %s: %w", d.name, err)
	}
	<-d.done
	return nil
}
