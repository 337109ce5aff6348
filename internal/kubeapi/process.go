package kubeapi

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/svcproxy/svcproxy/internal/netns"
)

// stopGrace is how long a process gets to exit after SIGTERM before it is
// killed; etcd and the apiserver both shut down in well under a second.
const stopGrace = 5 * time.Second

// process is a server running inside a network namespace, its stdout and
// stderr appended to a log file.
type process struct {
	name    string
	logPath string
	cmd     *exec.Cmd
	done    chan struct{} // closed once the process has been waited for
	err     error         // exit status, valid after done is closed
}

// startProcess runs bin with args inside ns through ip netns exec.
func startProcess(ns *netns.NS, logPath, bin string, args ...string) (*process, error) {
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", logPath, err)
	}
	// The log may hold earlier runs of the same server (after a Restart);
	// a marker shows where this one begins.
	fmt.Fprintf(logFile, "=== %s %s\n", time.Now().Format(time.RFC3339), strings.Join(append([]string{bin}, args...), " "))

	prefix := ns.Prefix()
	cmd := exec.Command(prefix[0], append(append(prefix[1:], bin), args...)...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{
		// A process group of its own lets stop signal anything the
		// server forks, not only the process ip netns exec became.
		Setpgid: true,
		// If the test binary dies without running its cleanups (a go test
		// timeout panic, a SIGKILL), the kernel kills the server too.
		Pdeathsig: syscall.SIGKILL,
	}
	err = cmd.Start()
	logFile.Close() // the child holds its own copy
	if err != nil {
		return nil, fmt.Errorf("starting %s: %w", bin, err)
	}
	p := &process{name: bin, logPath: logPath, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// exited reports whether the process has ended, and with what status.
func (p *process) exited() (bool, error) {
	select {
	case <-p.done:
		return true, p.err
	default:
		return false, nil
	}
}

// stop sends SIGTERM to the process group, then SIGKILL if it has not
// exited within stopGrace, and waits for it. Calling it again is harmless.
func (p *process) stop() error {
	if done, _ := p.exited(); done {
		return nil
	}
	pgid := p.cmd.Process.Pid
	if err := syscall.Kill(-pgid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("sending SIGTERM to %s: %w", p.name, err)
	}
	select {
	case <-p.done:
		return nil
	case <-time.After(stopGrace):
	}
	if err := syscall.Kill(-pgid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("sending SIGKILL to %s: %w", p.name, err)
	}
	<-p.done
	return nil
}

// logTail returns the last n lines of a log file, for failure messages.
func logTail(path string, n int) string {
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
