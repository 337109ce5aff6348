package rootfs

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"time"

	"github.com/svcproxy/svcproxy/internal/filelock"
)

// Mirror is the Debian archive Build installs packages from.
const Mirror = "http://deb.debian.org/debian"

// formatVersion is part of every cached tarball's name. Bump it when a
// change to how Build bootstraps, trims or writes a tree would make the
// tarballs already in caches wrong.
const formatVersion = 3

// lockName is the lock file in the cache that builders take. It is not the
// one the test binaries are built under, so that a root filesystem and a
// binary can be built at the same time.
const lockName = "rootfs.lock"

// ErrNoDebootstrap is returned, wrapped, when Build has to bootstrap a tree
// and debootstrap is not installed.
var ErrNoDebootstrap = errors.New("debootstrap not found; install it with apt-get install -y debootstrap")

// Build returns the path of an uncompressed tarball, in cacheDir, of a
// Debian root filesystem with spec's packages installed, for the host's
// architecture. It builds the tarball only when cacheDir does not hold it
// yet: with debootstrap, from Mirror, which takes minutes and must run as
// root. Processes sharing cacheDir build it once, under a lock, and the
// tarball appears under its final name only when whole. logf receives
// progress messages.
func Build(ctx context.Context, logf func(string, ...any), cacheDir string, spec Spec) (string, error) {
	if err := spec.validate(); err != nil {
		return "", fmt.Errorf("building a root filesystem: %w", err)
	}
	cacheDir, err := filepath.Abs(cacheDir)
	if err != nil {
		return "", fmt.Errorf("building a root filesystem: %w", err)
	}
	tarPath := filepath.Join(cacheDir, "rootfs-"+spec.key()+".tar")
	if isBuilt(tarPath) {
		return tarPath, nil
	}
	if err := buildLocked(ctx, logf, cacheDir, tarPath, spec); err != nil {
		return "", fmt.Errorf("building the %s root filesystem: %w", spec.Suite, err)
	}
	return tarPath, nil
}

// validate checks what Build passes to debootstrap, so that no field can
// be taken for an option or a second argument.
func (s Spec) validate() error {
	if !suitePattern.MatchString(s.Suite) {
		return fmt.Errorf("suite %q is not a Debian suite", s.Suite)
	}
	if len(s.Packages) == 0 {
		return fmt.Errorf("no packages")
	}
	for _, p := range s.Packages {
		if !packagePattern.MatchString(p) {
			return fmt.Errorf("%q is not a package name", p)
		}
	}
	return nil
}

// key identifies what a tarball is built from. The entrypoint is left out:
// it is not part of the tree.
func (s Spec) key() string {
	pkgs := slices.Sorted(slices.Values(s.Packages))
	pkgs = slices.Compact(pkgs)
	h := sha256.New()
	fmt.Fprintf(h, "format %d\nmirror %s\narch %s\nsuite %q\n", formatVersion, Mirror, runtime.GOARCH, s.Suite)
	for _, p := range pkgs {
		fmt.Fprintf(h, "package %q\n", p)
	}
	return hex.EncodeToString(h.Sum(nil))[:32]
}

// isBuilt reports whether the tarball at path exists. Only a whole one is
// ever renamed there, so existing is enough.
func isBuilt(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular()
}

// buildLocked builds the tarball under the cache's lock, unless another
// process built it while this one waited.
func buildLocked(ctx context.Context, logf func(string, ...any), cacheDir, tarPath string, spec Spec) error {
	bin, err := exec.LookPath("debootstrap")
	if err != nil {
		return fmt.Errorf("%w: %w", ErrNoDebootstrap, err)
	}
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return fmt.Errorf("creating the cache: %w", err)
	}
	unlock, err := filelock.Lock(ctx, logf, filepath.Join(cacheDir, lockName))
	if err != nil {
		return err
	}
	defer unlock()
	if isBuilt(tarPath) {
		logf("another process built %s", tarPath)
		return nil
	}
	if err := sweepScratch(logf, cacheDir); err != nil {
		return err
	}
	return build(ctx, logf, bin, cacheDir, tarPath, spec)
}

// build bootstraps, trims and packs the tree in a scratch directory of the
// cache, on the same file system as the tarball so that renaming it into
// place is atomic, and removes the scratch directory whatever happens.
func build(ctx context.Context, logf func(string, ...any), bin, cacheDir, tarPath string, spec Spec) (err error) {
	scratch, err := os.MkdirTemp(cacheDir, scratchPrefix)
	if err != nil {
		return fmt.Errorf("creating a scratch directory: %w", err)
	}
	defer func() {
		if rerr := removeScratch(scratch); rerr != nil && err == nil {
			err = rerr
		}
	}()
	root := filepath.Join(scratch, "root")
	if err := bootstrap(ctx, logf, bin, root, spec); err != nil {
		return err
	}
	if err := trim(root); err != nil {
		return err
	}
	partial := filepath.Join(scratch, "rootfs.tar")
	start := time.Now()
	if err := writeTarFile(partial, root); err != nil {
		return err
	}
	if fi, err := os.Stat(partial); err == nil {
		logf("wrote a %d MiB root filesystem in %v", fi.Size()>>20, time.Since(start).Round(time.Second))
	}
	if err := os.Rename(partial, tarPath); err != nil {
		return fmt.Errorf("installing the tarball: %w", err)
	}
	return nil
}

// writeTarFile writes the tree at root as a tarball at path.
func writeTarFile(path, root string) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("creating the tarball: %w", err)
	}
	if err := writeTar(f, root); err != nil {
		f.Close()
		return fmt.Errorf("writing the tarball: %w", err)
	}
	// Sync before the rename, so that a crash cannot leave a tarball
	// under its final name with contents that never reached the disk.
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("writing the tarball: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("writing the tarball: %w", err)
	}
	return nil
}
