package rootfs

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// treeFiles returns the paths below root, relative to it, directories
// ending in a slash.
func treeFiles(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil || p == root {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if d.IsDir() {
			rel += "/"
		}
		out = append(out, filepath.ToSlash(rel))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

// makeFiles creates files (or, for names ending in a slash, directories)
// and symbolic links (name -> target) below root.
func makeFiles(t *testing.T, root string, files []string, links map[string]string) {
	t.Helper()
	for _, f := range files {
		p := filepath.Join(root, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if f[len(f)-1] == '/' {
			continue
		}
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(root, name)); err != nil {
			t.Fatal(err)
		}
	}
}

func TestTrim(t *testing.T) {
	outside := t.TempDir()
	makeFiles(t, outside, []string{"apt/pkgcache.bin"}, nil)
	root := t.TempDir()
	makeFiles(t, root, []string{
		"etc/hostname",
		"etc/hosts",
		"usr/share/doc/gcc-12-base/changelog.Debian.gz",
		"usr/share/doc/gcc-12-base/copyright",
		"usr/share/doc/iptables/examples/",
		"usr/share/locale/de/LC_MESSAGES/coreutils.mo",
		"usr/share/zoneinfo/UTC",
		"var/lib/apt/lists/partial/",
		"var/lib/apt/lists/deb.debian.org_debian_dists_bookworm_InRelease",
	}, map[string]string{
		// A link into the tree, whose target is trimmed by its own path.
		"usr/share/doc/libgcc-s1": "gcc-12-base",
		// An absolute link out of the tree, which a glob would follow
		// (var/cache/apt/*.bin) if it were not refused.
		"var/cache": outside,
	})
	if err := trim(root); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"etc/", "etc/hosts",
		"usr/", "usr/share/",
		"usr/share/doc/", "usr/share/doc/gcc-12-base/", "usr/share/doc/gcc-12-base/copyright",
		"usr/share/doc/iptables/", "usr/share/doc/libgcc-s1",
		"usr/share/locale/",
		"usr/share/zoneinfo/", "usr/share/zoneinfo/UTC",
		"var/", "var/cache", "var/lib/", "var/lib/apt/", "var/lib/apt/lists/",
	}
	if diff := cmp.Diff(want, treeFiles(t, root)); diff != "" {
		t.Errorf("tree after trimming (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"apt/", "apt/pkgcache.bin"}, treeFiles(t, outside)); diff != "" {
		t.Errorf("files outside the tree (-want +got):\n%s", diff)
	}
}
