package kubecluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/svcproxy/svcproxy/internal/daemon"
)

// Grace periods of the daemons' shutdown before they are killed.
const (
	kubeletGrace    = 10 * time.Second
	controllerGrace = 5 * time.Second
	containerdGrace = 10 * time.Second
)

// Close tears the cluster down in the order that leaves nothing behind:
// the kubelet and the controllers first, so that nothing restarts a
// container; then every container task, through containerd, while it
// still runs; containerd; the apiserver and etcd; whatever process is
// left in the node's mount namespace or cgroups; the holder, which takes
// the namespace's mounts with it; the cgroups; the network namespace.
// It reports anything still left afterwards (see Leftovers). Calling it
// again is harmless.
func (c *Cluster) Close() error {
	if c.closed {
		return nil
	}
	c.closed = true
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var errs []error
	errs = append(errs, c.kubelet.Stop(kubeletGrace), c.scheduler.Stop(controllerGrace), c.controller.Stop(controllerGrace))
	if running(c.containerd) {
		errs = append(errs, c.killTasks(ctx))
	}
	errs = append(errs, c.containerd.Stop(containerdGrace))
	if c.API != nil {
		errs = append(errs, c.API.Close())
	}
	if c.holder != nil {
		errs = append(errs, killInMountNS(c.holder.mntNS, c.holder.pid()))
		c.holder.stop()
	}
	if c.cgroupRoot != "" {
		errs = append(errs, removeCgroupRoot(c.cgroupRoot))
	}
	if c.NetNS != nil {
		errs = append(errs, c.NetNS.Delete())
	}
	if left := c.Leftovers(); len(left) > 0 {
		errs = append(errs, fmt.Errorf("left behind: %s", strings.Join(left, "; ")))
	}
	return errors.Join(errs...)
}

// running reports whether d was started and has not exited.
func running(d *daemon.Daemon) bool {
	if d == nil {
		return false
	}
	done, _ := d.Exited()
	return !done
}

// killInMountNS kills every process in the mount namespace mntNS but the
// holder, and waits until they are gone: containerd's shims, which leave
// their daemon's process group, and anything a killed daemon forked.
func killInMountNS(mntNS string, holder int) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		var left []int
		for _, pid := range pidsInMountNS(mntNS) {
			if pid != holder {
				_ = syscall.Kill(pid, syscall.SIGKILL)
				left = append(left, pid)
			}
		}
		if len(left) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("killing the processes left in the node's mount namespace: %v still run", left)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// pidsInMountNS returns the processes whose mount namespace is mntNS (a
// /proc/PID/ns/mnt link, "mnt:[inode]").
func pidsInMountNS(mntNS string) []int {
	return pidsInNS("mnt", mntNS)
}

// pidsInNS returns the processes whose namespace of the given kind ("mnt",
// "net") is link, as /proc/PID/ns/KIND reads ("mnt:[inode]"). A process
// that exits meanwhile is skipped; a zombie has no namespaces left and is
// skipped too.
func pidsInNS(kind, link string) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if ns, err := os.Readlink(filepath.Join("/proc", e.Name(), "ns", kind)); err == nil && ns == link {
			pids = append(pids, pid)
		}
	}
	return pids
}

// Leftovers lists what of the cluster still exists on the host: processes
// in its mount namespace or cgroups, its cgroups, its network namespace,
// and mounts under its directory. After Close it should be empty; a test
// can check that.
func (c *Cluster) Leftovers() []string {
	var left []string
	if c.holder != nil {
		if pids := pidsInMountNS(c.holder.mntNS); len(pids) > 0 {
			left = append(left, fmt.Sprintf("processes %v in mount namespace %s", pids, c.holder.mntNS))
		}
	}
	if c.cgroupRoot != "" {
		if pids, _ := cgroupPIDs(c.cgroupRoot); len(pids) > 0 {
			left = append(left, fmt.Sprintf("processes %v in cgroup %s", pids, c.cgroupRoot))
		}
		if dirs, _ := cgroupTree(c.cgroupRoot); len(dirs) > 0 {
			left = append(left, fmt.Sprintf("cgroups %v", dirs))
		}
	}
	if c.NetNS != nil {
		if _, err := os.Stat(filepath.Join("/run/netns", c.NetNS.Name)); err == nil {
			left = append(left, "network namespace "+c.NetNS.Name)
		}
	}
	if mounts := mountsUnder(c.dir); len(mounts) > 0 {
		left = append(left, fmt.Sprintf("mounts %v", mounts))
	}
	return left
}

// mountsUnder returns the mount points of the calling process's mount
// namespace (the host's) that are dir or below it.
func mountsUnder(dir string) []string {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil || dir == "" {
		return nil
	}
	var found []string
	for _, line := range strings.Split(string(data), "\n") {
		// The fifth field is the mount point.
		if f := strings.Fields(line); len(f) > 4 && (f[4] == dir || strings.HasPrefix(f[4], dir+"/")) {
			found = append(found, f[4])
		}
	}
	return found
}
