package rootfs

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
)

// maxSymlinks bounds how many symbolic links resolving one path follows,
// as the kernel's limit does, so that a loop ends.
const maxSymlinks = 40

// MissingTools returns those of tools, paths inside the root filesystem
// tarball at tarPath such as "usr/sbin/nft", that are not executable
// files there. Paths resolve as they would in a container: through
// symbolic links, including the /bin -> usr/bin links of a merged-/usr
// tree, so a caller names a program where it is run from rather than
// where the package put it.
func MissingTools(tarPath string, tools ...string) ([]string, error) {
	f, err := os.Open(tarPath)
	if err != nil {
		return nil, fmt.Errorf("opening the root filesystem: %w", err)
	}
	defer f.Close()
	idx, err := readIndex(f)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", tarPath, err)
	}
	var missing []string
	for _, tool := range tools {
		if !idx.isExecutable(tool) {
			missing = append(missing, tool)
		}
	}
	return missing, nil
}

// index is the headers of a tarball by cleaned name.
type index map[string]*tar.Header

// readIndex reads every header of a tar stream.
func readIndex(r io.Reader) (index, error) {
	idx := index{}
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return idx, nil
		}
		if err != nil {
			return nil, fmt.Errorf("reading the tar stream: %w", err)
		}
		idx[cleanName(hdr.Name)] = hdr
	}
}

// cleanName is a tar entry's name as a path relative to the root, so that
// "./usr/bin/", "/usr/bin" and "usr/bin" are the same entry.
func cleanName(name string) string {
	return strings.TrimPrefix(path.Clean("/"+name), "/")
}

// isExecutable reports whether p resolves to a regular file with an
// execute bit, directly or through a hard link.
func (idx index) isExecutable(p string) bool {
	hdr := idx.resolve(p)
	if hdr != nil && hdr.Typeflag == tar.TypeLink {
		hdr = idx[cleanName(hdr.Linkname)]
	}
	return hdr != nil && hdr.Typeflag == tar.TypeReg && hdr.Mode&0o111 != 0
}

// resolve returns the header p names, following symbolic links in every
// component as the kernel does, or nil when there is none. Absolute link
// targets are relative to the tarball's root; ".." stops at the root.
func (idx index) resolve(p string) *tar.Header {
	var done []string // components resolved so far, none of them a link
	todo := strings.Split(p, "/")
	links := 0
	for len(todo) > 0 {
		c := todo[0]
		todo = todo[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			if len(done) > 0 {
				done = done[:len(done)-1]
			}
			continue
		}
		// A component without a header may still be a directory: a tar
		// stream need not list the directories above its files.
		if hdr := idx[path.Join(path.Join(done...), c)]; hdr != nil && hdr.Typeflag == tar.TypeSymlink {
			if links++; links > maxSymlinks {
				return nil
			}
			if path.IsAbs(hdr.Linkname) {
				done = nil
			}
			todo = append(strings.Split(hdr.Linkname, "/"), todo...)
			continue
		}
		done = append(done, c)
	}
	if len(done) == 0 {
		return nil
	}
	return idx[path.Join(done...)]
}
