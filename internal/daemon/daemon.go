// Package daemon runs the servers that test harnesses and the benchmark
// start (etcd, kube-apiserver, containerd, the kubelet) as children in
// process groups of their own, their output appended to a log file, and
// stops them.
package daemon

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// Daemon is a running server.
type Daemon struct {
	// Name names the server in errors, and Log is its log file.
	Name, Log string

	cmd  *exec.Cmd
	done chan struct{} // closed once the process has been waited for
	err  error         // exit status, valid after done is closed
}

// Start runs bin with args behind prefix (a command that enters
// namespaces, such as "ip netns exec NAME"), appending its output to
// logPath after a line naming the command: a log may hold several runs
// of one server, after a restart.
func Start(name, logPath string, prefix []string, bin string, args ...string) (*Daemon, error) {
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", logPath, err)
	}
	defer logFile.Close() // the child holds its own copy
	fmt.Fprintf(logFile, "=== %s %s %s\n", time.Now().Format(time.RFC3339), bin, strings.Join(args, " "))
	argv := append(append(append([]string(nil), prefix...), bin), args...)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{
		// A process group of its own lets Stop reach what the server
		// forks, not only the process the prefix became.
		Setpgid: true,
		// If the caller dies without its cleanups (a go test timeout
		// panic, a SIGKILL), the kernel kills the server too.
		Pdeathsig: syscall.SIGKILL,
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	d := &Daemon{Name: name, Log: logPath, cmd: cmd, done: make(chan struct{})}
	go func() {
		d.err = cmd.Wait()
		close(d.done)
	}()
	return d, nil
}

// Exited reports whether the server has ended, and with what status.
func (d *Daemon) Exited() (bool, error) {
	select {
	case <-d.done:
		return true, d.err
	default:
		return false, nil
	}
}

// Stop sends SIGTERM to the server's process group, then SIGKILL if it
// has not exited within grace, and waits for it. Calling it on a nil or
// stopped Daemon is harmless.
func (d *Daemon) Stop(grace time.Duration) error {
	if d == nil {
		return nil
	}
	if done, _ := d.Exited(); done {
		return nil
	}
	pgid := d.cmd.Process.Pid
	if err := syscall.Kill(-pgid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("sending SIGTERM to %s: %w", d.Name, err)
	}
	select {
	case <-d.done:
		return nil
	case <-time.After(grace):
	}
	if err := syscall.Kill(-pgid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("sending SIGKILL to %s: %w", d.Name, err)
	}
	<-d.done
	return nil
}

// LogTail returns the last n lines of a log file, for failure messages.
func LogTail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(reading %s: %v)", path, err)
	}
	lines := bytes.Split(bytes.TrimRight(data, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}
