package rootfs

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// progressEvery is how often a running debootstrap is reported.
const progressEvery = 30 * time.Second

// errorLines is how much of debootstrap's output and log an error quotes.
const errorLines = 30

// bootstrap runs debootstrap to install spec's packages into a new tree at
// root. minbase is the smallest variant, essential packages and apt, which
// is what debian:*-slim starts from; debootstrap resolves the packages'
// dependencies, but not their recommendations.
func bootstrap(ctx context.Context, logf func(string, ...any), bin, root string, spec Spec) error {
	args := []string{"--variant=minbase", "--include=" + strings.Join(spec.Packages, ","), spec.Suite, root, Mirror}
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), "LC_ALL=C", "DEBIAN_FRONTEND=noninteractive")
	cmd.SysProcAttr = &syscall.SysProcAttr{
		// debootstrap mounts /proc and /sys inside the tree. In a mount
		// namespace of its own (which Go makes private, so nothing
		// propagates back) those mounts end with its processes, even when
		// it is killed before it unmounts them.
		Unshareflags: syscall.CLONE_NEWNS,
		// Its own process group, so that cancelling kills dpkg and wget
		// too, not only the debootstrap shell.
		Setpgid:   true,
		Pdeathsig: syscall.SIGKILL,
	}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 10 * time.Second
	out := &output{}
	cmd.Stdout, cmd.Stderr = out, out

	logf("bootstrapping Debian %s with %s from %s (this takes minutes)", spec.Suite, strings.Join(spec.Packages, " "), Mirror)
	start := time.Now()
	stop := reportProgress(logf, start, out)
	err := cmd.Run()
	stop()
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("debootstrap stopped after %v: %w", time.Since(start).Round(time.Second), ctx.Err())
		}
		return fmt.Errorf("debootstrap: %w\n%s%s", err, out.tail(errorLines), logTail(root))
	}
	logf("bootstrapped Debian %s in %v", spec.Suite, time.Since(start).Round(time.Second))
	return nil
}

// reportProgress logs debootstrap's latest line every progressEvery until
// the returned function is called.
func reportProgress(logf func(string, ...any), start time.Time, out *output) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(progressEvery)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				logf("still bootstrapping (%v): %s", time.Since(start).Round(time.Second), strings.TrimSpace(out.tail(1)))
			}
		}
	})
	return func() { close(done); wg.Wait() }
}

// logTail quotes the end of the log debootstrap keeps in the tree, which
// says why a package failed to install; the tree is removed afterwards.
func logTail(root string) string {
	data, err := os.ReadFile(filepath.Join(root, "debootstrap", "debootstrap.log"))
	if err != nil {
		return ""
	}
	return "debootstrap.log ends:\n" + lastLines(string(data), errorLines)
}

// output collects a command's output while it runs, for progress reports
// from another goroutine.
type output struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write implements io.Writer.
func (o *output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.Write(p)
}

// tail returns the last n lines written.
func (o *output) tail(n int) string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return lastLines(o.buf.String(), n)
}

// lastLines returns the last n lines of s, each ending in a newline.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n") + "\n"
}
