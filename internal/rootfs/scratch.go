package rootfs

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// scratchPrefix starts the name of every build's scratch directory in the
// cache, which holds the bootstrapped tree and the tarball being written.
const scratchPrefix = "rootfs-scratch-"

// removeScratch removes a scratch directory. It refuses while anything is
// mounted below it: debootstrap mounts /proc and /sys in the tree (and
// in some containers binds the host's /dev entries), and removing files
// through such a mount would remove the host's. Build runs debootstrap in
// a mount namespace of its own, so this is a second line of defence.
func removeScratch(dir string) error {
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return fmt.Errorf("resolving %s: %w", dir, err)
	}
	info, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return fmt.Errorf("listing mounts: %w", err)
	}
	if m := mountsBelow(string(info), real); len(m) > 0 {
		return fmt.Errorf("not removing %s: %s still mounted there (unmount, then remove it)", dir, strings.Join(m, ", "))
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("removing %s: %w", dir, err)
	}
	return nil
}

// sweepScratch removes the scratch directories of builds that were
// killed. The caller holds the cache lock, so no live build owns any.
func sweepScratch(logf func(string, ...any), cacheDir string) error {
	stale, err := filepath.Glob(filepath.Join(cacheDir, scratchPrefix+"*"))
	if err != nil {
		return fmt.Errorf("listing stale scratch directories: %w", err)
	}
	for _, dir := range stale {
		logf("removing %s, left by an interrupted build", dir)
		if err := removeScratch(dir); err != nil {
			return err
		}
	}
	return nil
}

// mountsBelow returns the mount points in mountinfo (the format of
// /proc/self/mountinfo) that are dir or below it.
func mountsBelow(mountinfo, dir string) []string {
	var out []string
	for line := range strings.Lines(mountinfo) {
		f := strings.Fields(line)
		if len(f) < 5 {
			continue
		}
		mp := unescapeMountPoint(f[4])
		if mp == dir || strings.HasPrefix(mp, dir+"/") {
			out = append(out, mp)
		}
	}
	return out
}

// unescapeMountPoint undoes the kernel's octal escapes (\040 for a space,
// \011, \012, \134) in a mountinfo path.
func unescapeMountPoint(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
