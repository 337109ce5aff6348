package rootfs

import (
	"fmt"
	"os"
	"path/filepath"
)

// trimmed are the paths, as globs relative to the tree's root, that Build
// removes from a bootstrapped tree: what an image does not need, or what
// describes the build rather than the image.
var trimmed = []string{
	// apt's package lists; the Containerfile removes them too.
	"var/lib/apt/lists/*",
	"var/cache/apt/*.bin",
	// The packages debootstrap downloaded and installed.
	"var/cache/apt/archives/*.deb",
	// debootstrap's own log, with the build host's times in it.
	"var/log/bootstrap.log",
	// Copied from the build host by debootstrap. A container runtime
	// mounts the container's own, and the host's must not leak into an
	// image.
	"etc/hostname",
	"etc/resolv.conf",
}

// trim removes the trimmed paths from the tree at root. It removes nothing
// reached through a symbolic link: Debian's tree holds absolute links such
// as var/run -> /run, which outside a chroot name the host's files.
func trim(root string) error {
	for _, glob := range trimmed {
		matches, err := filepath.Glob(filepath.Join(root, glob))
		if err != nil {
			return fmt.Errorf("trimming %s: %w", glob, err)
		}
		for _, m := range matches {
			if err := removeInside(root, m); err != nil {
				return fmt.Errorf("trimming %s: %w", glob, err)
			}
		}
	}
	return nil
}

// removeInside removes p, refusing when a directory on the way from root
// to it is a symbolic link.
func removeInside(root, p string) error {
	parent := filepath.Dir(p)
	real, err := filepath.EvalSymlinks(parent)
	if err != nil {
		return fmt.Errorf("resolving %s: %w", parent, err)
	}
	realRoot, err := filepath.EvalSymlinks(root)
	if err != nil {
		return fmt.Errorf("resolving %s: %w", root, err)
	}
	rel, err := filepath.Rel(root, parent)
	if err != nil || filepath.Join(realRoot, rel) != real {
		return fmt.Errorf("not removing %s: the way to it goes through a symbolic link", p)
	}
	return os.RemoveAll(p)
}
