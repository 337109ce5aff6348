package rootfs

import (
	"archive/tar"
	"os"
	"path/filepath"
	"testing"
)

// writeTestTar writes a tarball of the given headers (regular files get
// no contents) and returns its path.
func writeTestTar(t *testing.T, hdrs []tar.Header) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "rootfs.tar")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	for _, h := range hdrs {
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatalf("writing %s: %v", h.Name, err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestMissingTools(t *testing.T) {
	// A merged-/usr tree in miniature, with the kinds of entry resolution
	// has to get right.
	tree := writeTestTar(t, []tar.Header{
		{Name: "bin", Typeflag: tar.TypeSymlink, Linkname: "usr/bin"},
		{Name: "sbin", Typeflag: tar.TypeSymlink, Linkname: "usr/sbin"},
		{Name: "usr/", Typeflag: tar.TypeDir, Mode: 0o755},
		{Name: "usr/bin/", Typeflag: tar.TypeDir, Mode: 0o755},
		{Name: "usr/bin/ip", Typeflag: tar.TypeReg, Mode: 0o755},
		{Name: "usr/bin/ip-hard", Typeflag: tar.TypeLink, Linkname: "usr/bin/ip", Mode: 0o755},
		{Name: "usr/bin/readme", Typeflag: tar.TypeReg, Mode: 0o644},
		{Name: "./usr/sbin/", Typeflag: tar.TypeDir, Mode: 0o755},
		{Name: "./usr/sbin/xtables-nft-multi", Typeflag: tar.TypeReg, Mode: 0o755},
		{Name: "usr/sbin/iptables-nft-restore", Typeflag: tar.TypeSymlink, Linkname: "xtables-nft-multi"},
		{Name: "usr/sbin/iptables-restore", Typeflag: tar.TypeSymlink, Linkname: "/etc/alternatives/iptables-restore"},
		{Name: "etc/alternatives/iptables-restore", Typeflag: tar.TypeSymlink, Linkname: "/usr/sbin/iptables-nft-restore"},
		{Name: "usr/sbin/up", Typeflag: tar.TypeSymlink, Linkname: "../../../../usr/bin/ip"},
		{Name: "usr/sbin/dangling", Typeflag: tar.TypeSymlink, Linkname: "nowhere"},
		{Name: "usr/sbin/loop", Typeflag: tar.TypeSymlink, Linkname: "loop"},
		{Name: "usr/sbin/dir", Typeflag: tar.TypeSymlink, Linkname: "/usr/bin"},
	})
	tests := []struct {
		name    string
		tool    string
		missing bool
	}{
		{"a file", "usr/bin/ip", false},
		{"through a directory link", "bin/ip", false},
		{"with a leading slash", "/sbin/xtables-nft-multi", false},
		{"a hard link", "usr/bin/ip-hard", false},
		{"a relative link", "sbin/iptables-nft-restore", false},
		{"a chain of absolute links", "usr/sbin/iptables-restore", false},
		{"dot-dot stopping at the root", "usr/sbin/up", false},
		{"not executable", "usr/bin/readme", true},
		{"absent", "usr/sbin/nft", true},
		{"a dangling link", "usr/sbin/dangling", true},
		{"a link loop", "usr/sbin/loop", true},
		{"a link to a directory", "usr/sbin/dir", true},
		{"a directory", "usr/bin", true},
		{"below a file", "usr/bin/ip/x", true},
		{"the root", "/", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			missing, err := MissingTools(tree, tt.tool)
			if err != nil {
				t.Fatal(err)
			}
			if got := len(missing) == 1; got != tt.missing {
				t.Errorf("MissingTools(%q) = %q, want missing %v", tt.tool, missing, tt.missing)
			}
		})
	}
}
