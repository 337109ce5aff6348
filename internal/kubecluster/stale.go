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

	"github.com/svcproxy/svcproxy/internal/filelock"
	"github.com/svcproxy/svcproxy/internal/netns"
)

// namePrefix starts the name of every cluster's network namespace, which
// its cgroup root shares. The PID of the process that started the cluster
// follows, then a random suffix, so that a later Start can tell the
// remains of a cluster whose test died from a cluster that still runs.
const namePrefix = "svcproxy-cluster-"

// netnsDir is where ip netns keeps its named network namespaces.
const netnsDir = "/run/netns"

// staleLock is the lock that removing clusters of dead tests holds.
const staleLock = "/run/svcproxy-cluster.lock"

// ownNamePrefix is the prefix of the names of this process's clusters.
func ownNamePrefix() string {
	return namePrefix + strconv.Itoa(os.Getpid()) + "-"
}

// ownerPID returns the PID in a cluster's name, or 0 if name is not one.
func ownerPID(name string) int {
	rest, ok := strings.CutPrefix(name, namePrefix)
	if !ok {
		return 0
	}
	pidText, _, ok := strings.Cut(rest, "-")
	if !ok {
		return 0
	}
	pid, err := strconv.Atoi(pidText)
	if err != nil || pid <= 0 {
		return 0
	}
	return pid
}

// alive reports whether a process with the given PID exists.
func alive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// staleNames returns the names of clusters whose starting process is
// gone, from the network namespaces and the cgroup roots, either of which
// a killed test may leave.
func staleNames() []string {
	var dirs []string
	if hierarchies, err := cgroupDirs(""); err == nil {
		dirs = hierarchies
	}
	seen := map[string]bool{}
	var stale []string
	for _, dir := range append([]string{netnsDir}, dirs...) {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			name := e.Name()
			if pid := ownerPID(name); pid != 0 && !alive(pid) && !seen[name] {
				seen[name] = true
				stale = append(stale, name)
			}
		}
	}
	return stale
}

// removeStale removes what clusters of dead processes left behind. When a
// test is killed (SIGKILL, or go test's timeout), the kernel kills the
// daemons it started, but not containerd's shims, which have left for a
// session of their own, nor the containers, and not the cgroups or the
// network namespace. Only names with namePrefix and a dead owner are
// touched.
//
// Clusters starting at once, in this process or others, would race to
// remove the same remains, so removal holds a lock of the host's.
func removeStale(ctx context.Context, logf func(string, ...any)) error {
	unlock, err := filelock.Lock(ctx, logf, staleLock)
	if err != nil {
		return fmt.Errorf("waiting to remove clusters of tests that died: %w", err)
	}
	defer unlock()
	var errs []error
	for _, name := range staleNames() {
		logf("cluster: removing %s, left by a test that died", name)
		if err := killInNetNS(filepath.Join(netnsDir, name)); err != nil {
			errs = append(errs, err)
		}
		if err := removeCgroupRoot("/" + name); err != nil {
			errs = append(errs, err)
		}
		if _, err := os.Stat(filepath.Join(netnsDir, name)); err == nil {
			errs = append(errs, (&netns.NS{Name: name}).Delete())
		}
	}
	return errors.Join(errs...)
}

// killInNetNS kills every process in the network namespace bound at path,
// and waits until they are gone. The node's processes, shims included,
// run in that namespace; containers run in pod namespaces of their own
// and are killed through their cgroups.
func killInNetNS(path string) error {
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		if errors.Is(err, syscall.ENOENT) {
			return nil
		}
		return fmt.Errorf("reading network namespace %s: %w", path, err)
	}
	link := fmt.Sprintf("net:[%d]", st.Ino)
	deadline := time.Now().Add(10 * time.Second)
	for {
		pids := pidsInNS("net", link)
		if len(pids) == 0 {
			return nil
		}
		for _, pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("killing the processes in network namespace %s: %v still run", path, pids)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
