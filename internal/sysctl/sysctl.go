// Package sysctl reads and writes the integer sysctls of one network
// namespace under /proc/sys. The net.* sysctls belong to the namespace
// of whoever opens the file, so each access runs in the namespace
// (nsexec).
package sysctl

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"strconv"
	"strings"

	"github.com/svcproxy/svcproxy/internal/nsexec"
)

// procSys is where the kernel's sysctls are.
const procSys = "/proc/sys"

// Sysctls are the sysctls of one network namespace.
type Sysctls struct {
	netns string
}

// New returns the sysctls of the network namespace at netnsPath, such as
// "/run/netns/NAME"; empty means the namespace of the process.
func New(netnsPath string) *Sysctls { return &Sysctls{netns: netnsPath} }

// Get returns the value of name ("net/ipv4/conf/all/route_localnet"),
// and false when the kernel has no such sysctl (its module is not
// loaded, say).
func (s *Sysctls) Get(name string) (int, bool, error) {
	var v int
	found := true
	err := s.in(func() error {
		b, err := os.ReadFile(path.Join(procSys, name))
		if errors.Is(err, fs.ErrNotExist) {
			found = false
			return nil
		}
		if err != nil {
			return err
		}
		v, err = strconv.Atoi(strings.TrimSpace(string(b)))
		return err
	})
	if err != nil {
		return 0, false, fmt.Errorf("reading sysctl %s: %w", name, err)
	}
	return v, found, nil
}

// Ensure sets name to value unless it has that value already, and
// reports whether it wrote it.
func (s *Sysctls) Ensure(name string, value int) (bool, error) {
	cur, found, err := s.Get(name)
	if err != nil {
		return false, err
	}
	if found && cur == value {
		return false, nil
	}
	err = s.in(func() error {
		return os.WriteFile(path.Join(procSys, name), []byte(strconv.Itoa(value)), 0o644)
	})
	if err != nil {
		return false, fmt.Errorf("setting sysctl %s to %d: %w", name, value, err)
	}
	return true, nil
}

// in runs fn in the namespace.
func (s *Sysctls) in(fn func() error) error { return nsexec.Do(s.netns, fn) }
