package rootfs

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// entry is what the tests compare of a tar entry.
type entry struct {
	Name     string
	Type     byte
	Mode     int64
	Linkname string
	Data     string
	Uid, Gid int
}

// readEntries returns the entries of a tar stream in order, checking that
// every one has the fixed time stamp.
func readEntries(t *testing.T, data []byte) []entry {
	t.Helper()
	var out []entry
	tr := tar.NewReader(bytes.NewReader(data))
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		if !hdr.ModTime.Equal(epoch) || hdr.Uname != "" || hdr.Gname != "" {
			t.Errorf("%s: time %v, owner names %q:%q; want the epoch and no names", hdr.Name, hdr.ModTime, hdr.Uname, hdr.Gname)
		}
		out = append(out, entry{hdr.Name, hdr.Typeflag, hdr.Mode, hdr.Linkname, string(body), hdr.Uid, hdr.Gid})
	}
}

// makeTree creates the files of a small root filesystem under dir, with
// one of each kind of entry writeTar handles or leaves out.
func makeTree(t *testing.T, dir string) {
	t.Helper()
	steps := []func() error{
		func() error { return os.MkdirAll(filepath.Join(dir, "usr/bin"), 0o755) },
		func() error { return os.WriteFile(filepath.Join(dir, "usr/bin/gzip"), []byte("gz"), 0o755) },
		func() error { return os.Link(filepath.Join(dir, "usr/bin/gzip"), filepath.Join(dir, "usr/bin/zcat")) },
		func() error { return os.Link(filepath.Join(dir, "usr/bin/gzip"), filepath.Join(dir, "usr/bin/gunzip")) },
		func() error { return os.WriteFile(filepath.Join(dir, "usr/bin/su"), []byte("su"), 0o755) },
		// Chmod, because the umask would clear the setuid bit.
		func() error { return os.Chmod(filepath.Join(dir, "usr/bin/su"), 0o755|os.ModeSetuid) },
		func() error { return os.Symlink("usr/bin", filepath.Join(dir, "bin")) },
		func() error { return os.Mkdir(filepath.Join(dir, "etc"), 0o750) },
		func() error { return os.Chmod(filepath.Join(dir, "etc"), 0o750) },
		func() error { return syscall.Mkfifo(filepath.Join(dir, "etc/initctl"), 0o600) },
		func() error { return os.MkdirAll(filepath.Join(dir, "dev/pts"), 0o755) },
		func() error { return os.Symlink("/proc/self/fd", filepath.Join(dir, "dev/fd")) },
		func() error { return os.Mkdir(filepath.Join(dir, "proc"), 0o555) },
	}
	for _, step := range steps {
		if err := step(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestWriteTar(t *testing.T) {
	dir := t.TempDir()
	makeTree(t, dir)
	var buf bytes.Buffer
	if err := writeTar(&buf, dir); err != nil {
		t.Fatal(err)
	}
	uid, gid := os.Getuid(), os.Getgid()
	want := []entry{
		{"bin", tar.TypeSymlink, 0o777, "usr/bin", "", uid, gid},
		{"dev/", tar.TypeDir, 0o755, "", "", uid, gid},
		{"etc/", tar.TypeDir, 0o750, "", "", uid, gid},
		{"proc/", tar.TypeDir, 0o555, "", "", uid, gid},
		{"usr/", tar.TypeDir, 0o755, "", "", uid, gid},
		{"usr/bin/", tar.TypeDir, 0o755, "", "", uid, gid},
		{"usr/bin/gunzip", tar.TypeReg, 0o755, "", "gz", uid, gid},
		{"usr/bin/gzip", tar.TypeLink, 0o755, "usr/bin/gunzip", "", uid, gid},
		{"usr/bin/su", tar.TypeReg, 0o4755, "", "su", uid, gid},
		{"usr/bin/zcat", tar.TypeLink, 0o755, "usr/bin/gunzip", "", uid, gid},
	}
	if diff := cmp.Diff(want, readEntries(t, buf.Bytes())); diff != "" {
		t.Errorf("entries (-want +got):\n%s", diff)
	}

	var again bytes.Buffer
	if err := writeTar(&again, dir); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), again.Bytes()) {
		t.Error("writing the same tree twice gave different tarballs")
	}
}
