package rootfs

import (
	"fmt"
	"os"
	"path/filepath"
)

// trimRule removes the paths a glob (relative to the tree's root) matches,
// except those with the base name keep.
type trimRule struct {
	glob string
	keep string
}

// trimmed are the rules Build applies to a bootstrapped tree: they remove
// what an image does not need, or what describes the build rather than
// the image.
var trimmed = []trimRule{
	// apt's package lists; the Containerfile removes them too.
	{glob: "var/lib/apt/lists/*"},
	{glob: "var/cache/apt/*.bin"},
	// The packages debootstrap downloaded and installed.
	{glob: "var/cache/apt/archives/*.deb"},
	// Logs of the installation, and ldconfig's cache of the libraries'
	// inode numbers and times: they are all that differs between two
	// builds of the same packages, and an image needs none of them.
	{glob: "var/log/bootstrap.log"},
	{glob: "var/log/dpkg.log"},
	{glob: "var/log/alternatives.log"},
	{glob: "var/log/apt/*.log"},
	{glob: "var/cache/ldconfig/aux-cache"},
	// Copied from the build host by debootstrap. A container runtime
	// mounts the container's own, and the host's must not leak into an
	// image.
	{glob: "etc/hostname"},
	{glob: "etc/resolv.conf"},
	// Documentation, manuals and translations, a third of the tree, which
	// no container shows anyone. The licences stay, as in the slim image.
	{glob: "usr/share/doc/*/*", keep: "copyright"},
	{glob: "usr/share/man/*"},
	{glob: "usr/share/info/*"},
	{glob: "usr/share/locale/*"},
}

// trim applies the trimmed rules to the tree at root.
func trim(root string) error {
	for _, rule := range trimmed {
		matches, err := filepath.Glob(filepath.Join(root, rule.glob))
		if err != nil {
			return fmt.Errorf("trimming %s: %w", rule.glob, err)
		}
		for _, m := range matches {
			if filepath.Base(m) == rule.keep {
				continue
			}
			if err := removeInside(root, m); err != nil {
				return fmt.Errorf("trimming %s: %w", rule.glob, err)
			}
		}
	}
	return nil
}

// removeInside removes p unless a directory on the way from root to it is
// a symbolic link. Debian's tree holds absolute links such as var/run ->
// /run, which outside a chroot name the host's files; and what a link
// inside the tree leads to is matched by its own path anyway.
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
	if err != nil {
		return fmt.Errorf("resolving %s: %w", parent, err)
	}
	if filepath.Join(realRoot, rel) != real {
		return nil
	}
	return os.RemoveAll(p)
}
