package conntrack

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// procSys is where the kernel's sysctls are.
const procSys = "/proc/sys"

// tcpBeLiberal is the sysctl that has conntrack mark only out-of-window
// TCP resets INVALID.
const tcpBeLiberal = "net/netfilter/nf_conntrack_tcp_be_liberal"

// TCPBeLiberal reports whether the node's conntrack is liberal, reading
// the sysctl under root ("" for /proc/sys). A kernel without the
// conntrack module loaded has no such file, and is not.
func TCPBeLiberal(root string) (bool, error) {
	if root == "" {
		root = procSys
	}
	path := filepath.Join(root, tcpBeLiberal)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("reading %s: %w", path, err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return false, fmt.Errorf("reading %s: %w", path, err)
	}
	return n != 0, nil
}
