package kubecluster

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/svcproxy/svcproxy/internal/netns"
)

// hiddenDirs are the host directories that containerd 1.6, the kubelet
// and the CNI plugins write to whatever their configuration says (shim
// sockets under /run/containerd, pod logs under /var/log/pods, IPAM
// leases under /var/lib/cni). Inside the node's mount namespace each is
// covered by a scratch directory, so nothing of the node reaches the host.
var hiddenDirs = []string{"/run", "/var/lib", "/var/log"}

// holder is a long-lived process that owns the node's network namespace
// and a private mount namespace; every node process joins both through
// nsenter -t PID -m -n. ip netns exec would not do: it remounts /sys, which
// hides the cgroup tree, and gives each command a mount namespace of its
// own, so the kubelet's volume mounts would be invisible to containerd.
type holder struct {
	cmd   *exec.Cmd
	done  chan struct{} // closed once the holder has been waited for
	mntNS string        // the link /proc/PID/ns/mnt, "mnt:[inode]"
}

// startHolder starts the holder inside ns, with a new mount namespace
// whose mounts never propagate back to the host, and covers hiddenDirs
// with directories under scratch.
func startHolder(ns *netns.NS, scratch string) (_ *holder, err error) {
	cmd := exec.Command("nsenter", "--net=/run/netns/"+ns.Name, "--",
		"unshare", "--mount", "--propagation", "private", "--", "sleep", "infinity")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting the namespace holder: %w", err)
	}
	h := &holder{cmd: cmd, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(h.done)
	}()
	defer func() {
		if err != nil {
			h.stop()
		}
	}()
	if err := h.waitForMountNS(); err != nil {
		return nil, err
	}
	for _, dir := range hiddenDirs {
		src := filepath.Join(scratch, strings.ReplaceAll(strings.Trim(dir, "/"), "/", "-"))
		if err := os.MkdirAll(src, 0o755); err != nil {
			return nil, fmt.Errorf("creating %s: %w", src, err)
		}
		if _, err := h.run("mount", "--bind", src, dir); err != nil {
			return nil, fmt.Errorf("covering %s: %w", dir, err)
		}
	}
	return h, nil
}

// waitForMountNS waits until the holder has left the host's mount
// namespace, that is until unshare has done its work and exec'd sleep;
// entering it earlier would enter the host's.
func (h *holder) waitForMountNS() error {
	own, err := os.Readlink("/proc/self/ns/mnt")
	if err != nil {
		return fmt.Errorf("reading the own mount namespace: %w", err)
	}
	link := "/proc/" + strconv.Itoa(h.cmd.Process.Pid) + "/ns/mnt"
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		select {
		case <-h.done:
			return errors.New("the namespace holder exited at once")
		case <-time.After(20 * time.Millisecond):
		}
		if ns, err := os.Readlink(link); err == nil && ns != own {
			h.mntNS = ns
			return nil
		}
	}
	return errors.New("the namespace holder did not enter a mount namespace of its own within 10s")
}

// pid returns the holder's process id.
func (h *holder) pid() int {
	return h.cmd.Process.Pid
}

// prefix is the command line prefix that runs a command in the holder's
// namespaces.
func (h *holder) prefix() []string {
	return []string{"nsenter", "-t", strconv.Itoa(h.pid()), "-m", "-n", "--"}
}

// command returns a command that runs name with args in the holder's
// namespaces.
func (h *holder) command(name string, args ...string) *exec.Cmd {
	p := h.prefix()
	return exec.Command(p[0], append(append(p[1:], name), args...)...)
}

// run runs a command in the holder's namespaces, returning its combined
// output.
func (h *holder) run(name string, args ...string) (string, error) {
	out, err := h.command(name, args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// stop kills the holder and waits for it. Its mount namespace, with every
// mount made inside it, goes away once no process is left in it.
func (h *holder) stop() {
	_ = syscall.Kill(-h.pid(), syscall.SIGKILL)
	<-h.done
}
