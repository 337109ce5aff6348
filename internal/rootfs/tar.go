package rootfs

import (
	"archive/tar"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// epoch is every entry's modification time, so that the same tree gives
// the same tarball whenever it was built.
var epoch = time.Unix(0, 0)

// runtimeDirs are the directories a container runtime mounts over (devtmpfs
// or a tmpfs of its own device nodes, procfs, sysfs). The tarball keeps them
// as empty directories to mount on; debootstrap's device nodes and links in
// /dev would only be hidden.
var runtimeDirs = map[string]bool{"dev": true, "proc": true, "sys": true}

// inode identifies a file, to find the other names of a hard link.
type inode struct{ dev, ino uint64 }

// tarWriter writes a directory tree as a tar stream.
type tarWriter struct {
	tw    *tar.Writer
	root  string
	links map[inode]string // the first name written of each hard-linked file
}

// writeTar writes the tree under root to w, in lexical order, with names
// relative to root and without a leading "./" ("usr/bin/ip"), owners by
// number, and hard links as links to the first name. Device nodes, FIFOs
// and sockets are left out: nothing in an image needs them.
func writeTar(w io.Writer, root string) error {
	t := &tarWriter{tw: tar.NewWriter(w), root: root, links: map[inode]string{}}
	if err := filepath.WalkDir(root, t.add); err != nil {
		return err
	}
	if err := t.tw.Close(); err != nil {
		return fmt.Errorf("finishing the tar stream: %w", err)
	}
	return nil
}

// add writes one entry of the walk.
func (t *tarWriter) add(p string, d fs.DirEntry, err error) error {
	if err != nil {
		return fmt.Errorf("walking %s: %w", p, err)
	}
	if p == t.root {
		return nil
	}
	if !d.IsDir() && !d.Type().IsRegular() && d.Type()&fs.ModeSymlink == 0 {
		return nil
	}
	rel, err := filepath.Rel(t.root, p)
	if err != nil {
		return fmt.Errorf("naming %s: %w", p, err)
	}
	rel = filepath.ToSlash(rel)
	hdr, err := t.header(p, rel, d)
	if err != nil {
		return fmt.Errorf("adding %s: %w", rel, err)
	}
	if err := t.tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("adding %s: %w", rel, err)
	}
	if hdr.Typeflag == tar.TypeReg {
		if err := t.copyFile(p, hdr.Size); err != nil {
			return fmt.Errorf("adding %s: %w", rel, err)
		}
	}
	if d.IsDir() && runtimeDirs[rel] {
		return fs.SkipDir
	}
	return nil
}

// header is the tar header of the file at p, named rel.
func (t *tarWriter) header(p, rel string, d fs.DirEntry) (*tar.Header, error) {
	info, err := d.Info()
	if err != nil {
		return nil, err
	}
	target := ""
	if info.Mode()&fs.ModeSymlink != 0 {
		if target, err = os.Readlink(p); err != nil {
			return nil, err
		}
	}
	hdr, err := tar.FileInfoHeader(info, target)
	if err != nil {
		return nil, err
	}
	hdr.Name = rel
	if info.IsDir() {
		hdr.Name += "/"
	}
	// Names would come from the building host's user database, not the
	// image's; runtimes go by the numbers anyway.
	hdr.Uname, hdr.Gname = "", ""
	hdr.ModTime, hdr.AccessTime, hdr.ChangeTime = epoch, time.Time{}, time.Time{}
	if st, ok := info.Sys().(*syscall.Stat_t); ok && info.Mode().IsRegular() && st.Nlink > 1 {
		id := inode{uint64(st.Dev), st.Ino}
		if first, ok := t.links[id]; ok {
			hdr.Typeflag, hdr.Linkname, hdr.Size = tar.TypeLink, first, 0
		} else {
			t.links[id] = rel
		}
	}
	return hdr, nil
}

// copyFile writes the contents of the regular file at p, which the header
// said is size bytes long.
func (t *tarWriter) copyFile(p string, size int64) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	n, err := io.Copy(t.tw, f)
	if err != nil {
		return err
	}
	if n != size {
		return fmt.Errorf("the file changed size while being read: %d bytes, not %d", n, size)
	}
	return nil
}
