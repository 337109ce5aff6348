package rootfs

import (
	"archive/tar"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/svcproxy/svcproxy/internal/kubeapi"
)

// imageTools are the programs svcproxy's image runs, where it runs them
// from: both iptables variants for both families, so that detection can
// match the host, nft, conntrack and ip.
var imageTools = []string{
	"usr/sbin/iptables-legacy-restore",
	"usr/sbin/ip6tables-legacy-restore",
	"usr/sbin/iptables-nft-restore",
	"usr/sbin/ip6tables-nft-restore",
	"usr/sbin/nft",
	"usr/sbin/conntrack",
	"bin/ip",
	"usr/bin/ip",
}

// requireDebootstrap skips the test unless it can bootstrap a real tree,
// which needs root and debootstrap, and downloads packages from Mirror
// once: the tree is cached.
func requireDebootstrap(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("bootstrapping a root filesystem needs root")
	}
	if _, err := exec.LookPath("debootstrap"); err != nil {
		t.Skipf("%v", ErrNoDebootstrap)
	}
}

// testCache is the cache the test binaries are built into, so that the
// tree is bootstrapped once, not once per run.
func testCache(t *testing.T) string {
	t.Helper()
	dir, err := kubeapi.CacheDir()
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestBuildDebian builds the root filesystem of the repository's
// Containerfile and checks that its tools are there and run.
func TestBuildDebian(t *testing.T) {
	requireDebootstrap(t)
	f, err := os.Open(repoContainerfile)
	if err != nil {
		t.Fatal(err)
	}
	spec, err := ParseContainerfile(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	start := time.Now()
	path, err := Build(ctx, t.Logf, testCache(t), spec)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("Build took %v; %s is %d bytes", time.Since(start).Round(time.Second), path, fi.Size())

	missing, err := MissingTools(path, imageTools...)
	if err != nil || len(missing) > 0 {
		t.Errorf("MissingTools = %q, %v; want none missing", missing, err)
	}
	runTools(t, path)
	checkCacheHit(t, spec, path)
}

// runTools extracts the tarball and runs each tool in it under chroot,
// which proves its libraries are there too.
func runTools(t *testing.T, path string) {
	t.Helper()
	root := t.TempDir()
	extract(t, path, root)
	tests := []struct {
		argv []string
		want string // in the output
	}{
		{[]string{"/usr/sbin/nft", "--version"}, "nftables v"},
		{[]string{"/usr/sbin/iptables-legacy-restore", "--version"}, "(legacy)"},
		{[]string{"/usr/sbin/iptables-nft-restore", "--version"}, "(nf_tables)"},
		{[]string{"/usr/sbin/conntrack", "--version"}, "conntrack v"},
		{[]string{"/bin/ip", "-V"}, "iproute2"},
	}
	for _, tt := range tests {
		t.Run(filepath.Base(tt.argv[0]), func(t *testing.T) {
			cmd := exec.Command(tt.argv[0], tt.argv[1:]...)
			cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: root}
			cmd.Dir = "/"
			cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
			out, err := cmd.CombinedOutput()
			if err != nil || !strings.Contains(string(out), tt.want) {
				t.Errorf("%s: %v\n%s\nwant output containing %q", strings.Join(tt.argv, " "), err, out, tt.want)
			}
		})
	}
}

// checkCacheHit builds again, with no debootstrap to run, and expects the
// same tarball at once.
func checkCacheHit(t *testing.T, spec Spec, want string) {
	t.Helper()
	t.Setenv("PATH", "")
	start := time.Now()
	got, err := Build(context.Background(), t.Logf, testCache(t), spec)
	if err != nil || got != want {
		t.Errorf("second Build = %q, %v; want %q from the cache", got, err, want)
	}
	t.Logf("second Build took %v", time.Since(start))
}

// extract unpacks the tarball at path into dir, keeping owners and modes.
func extract(t *testing.T, path, dir string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := extractEntry(tr, hdr, dir); err != nil {
			t.Fatalf("extracting %s: %v", hdr.Name, err)
		}
	}
}

// extractEntry creates the file of one tar entry below dir.
func extractEntry(r io.Reader, hdr *tar.Header, dir string) error {
	if !filepath.IsLocal(hdr.Name) {
		return errors.New("name outside the tree")
	}
	p := filepath.Join(dir, hdr.Name)
	var err error
	switch hdr.Typeflag {
	case tar.TypeDir:
		err = os.Mkdir(p, 0o700)
	case tar.TypeReg:
		err = writeEntry(r, p)
	case tar.TypeSymlink:
		return errors.Join(os.Symlink(hdr.Linkname, p), os.Lchown(p, hdr.Uid, hdr.Gid))
	case tar.TypeLink:
		return os.Link(filepath.Join(dir, hdr.Linkname), p)
	default:
		return errors.New("unexpected entry type")
	}
	if err != nil {
		return err
	}
	// Chmod after Chown: changing the owner clears setuid bits.
	return errors.Join(os.Lchown(p, hdr.Uid, hdr.Gid), os.Chmod(p, hdr.FileInfo().Mode()))
}

// writeEntry writes the contents of a regular file entry to p.
func writeEntry(r io.Reader, p string) error {
	f, err := os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	_, err = io.Copy(f, r)
	return errors.Join(err, f.Close())
}
