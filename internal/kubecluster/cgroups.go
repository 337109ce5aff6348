package kubecluster

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// cgroupFS is where the host mounts its cgroup hierarchies: on the hybrid
// v1 hosts this harness runs on, one directory per v1 controller plus
// "unified" for v2.
const cgroupFS = "/sys/fs/cgroup"

// cgroupDirs returns the directory of the cgroup named root (such as
// "/svcproxy-cluster-1a2b") in every hierarchy mounted under cgroupFS.
func cgroupDirs(root string) ([]string, error) {
	entries, err := os.ReadDir(cgroupFS)
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", cgroupFS, err)
	}
	var dirs []string
	for _, e := range entries {
		// Co-mounted controllers (cpu,cpuacct) appear once as a directory
		// and again as symbolic links to it; the links are skipped.
		if e.IsDir() {
			dirs = append(dirs, filepath.Join(cgroupFS, e.Name(), root))
		}
	}
	return dirs, nil
}

// createCgroupRoot creates the cgroup root in every hierarchy. The kubelet
// refuses a cgroupRoot that does not exist, and creates kubepods inside
// it. A new cpuset cgroup starts with no CPUs and no memory nodes, so both
// are copied from its parent, or no task could ever join it or its
// children.
func createCgroupRoot(root string) error {
	dirs, err := cgroupDirs(root)
	if err != nil {
		return err
	}
	for _, dir := range dirs {
		if err := os.Mkdir(dir, 0o755); err != nil {
			return fmt.Errorf("creating cgroup %s: %w", dir, err)
		}
		if filepath.Base(filepath.Dir(dir)) != "cpuset" {
			continue
		}
		for _, file := range []string{"cpuset.cpus", "cpuset.mems"} {
			data, err := os.ReadFile(filepath.Join(filepath.Dir(dir), file))
			if err != nil {
				return fmt.Errorf("reading the parent's %s: %w", file, err)
			}
			if err := os.WriteFile(filepath.Join(dir, file), data, 0o644); err != nil {
				return fmt.Errorf("setting %s of %s: %w", file, dir, err)
			}
		}
	}
	return nil
}

// cgroupTree returns every cgroup under root in every hierarchy, deepest
// first, the order rmdir needs.
func cgroupTree(root string) ([]string, error) {
	tops, err := cgroupDirs(root)
	if err != nil {
		return nil, err
	}
	var all []string
	for _, top := range tops {
		err := filepath.WalkDir(top, func(path string, d fs.DirEntry, err error) error {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			if err == nil && d.IsDir() {
				all = append(all, path)
			}
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("walking %s: %w", top, err)
		}
	}
	slices.SortFunc(all, func(a, b string) int {
		return strings.Count(b, "/") - strings.Count(a, "/")
	})
	return all, nil
}

// cgroupPIDs returns the processes in any cgroup under root.
func cgroupPIDs(root string) ([]int, error) {
	dirs, err := cgroupTree(root)
	if err != nil {
		return nil, err
	}
	seen := map[int]bool{}
	var pids []int
	for _, dir := range dirs {
		data, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
		if err != nil {
			continue // removed meanwhile
		}
		for _, f := range strings.Fields(string(data)) {
			if pid, err := strconv.Atoi(f); err == nil && !seen[pid] {
				seen[pid] = true
				pids = append(pids, pid)
			}
		}
	}
	return pids, nil
}

// removeCgroupRoot kills whatever still runs under root and removes its
// cgroups, retrying while killed processes exit and release them.
func removeCgroupRoot(root string) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		pids, err := cgroupPIDs(root)
		if err != nil {
			return err
		}
		for _, pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		dirs, err := cgroupTree(root)
		if err != nil {
			return err
		}
		var busy error
		for _, dir := range dirs {
			if err := os.Remove(dir); err != nil && !errors.Is(err, fs.ErrNotExist) {
				busy = err
			}
		}
		if busy == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("removing cgroup %s: %w", root, busy)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
