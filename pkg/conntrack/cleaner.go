package conntrack

import (
	"fmt"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/svcproxy/svcproxy/pkg/model"
)

// flowDeleter is the part of a netlink handle a Cleaner uses.
type flowDeleter interface {
	ConntrackDeleteFilters(table netlink.ConntrackTableType, family netlink.InetFamily, filters ...netlink.CustomConntrackFilter) (uint, error)
	Close()
}

var _ flowDeleter = (*netlink.Handle)(nil)

// Cleaner deletes conntrack entries in one network namespace. Each call
// opens its own netlink socket and closes it before returning, so a
// Cleaner holds no resources and is safe for concurrent use.
type Cleaner struct {
	// open returns a handle on the namespace; tests replace it.
	open func() (flowDeleter, error)
}

// NewCleaner returns a Cleaner for the network namespace at netnsPath,
// such as "/run/netns/NAME" or "/proc/PID/ns/net"; empty means the
// namespace of the calling thread. It opens nothing until used.
func NewCleaner(netnsPath string) *Cleaner {
	return &Cleaner{open: func() (flowDeleter, error) { return openHandle(netnsPath) }}
}

// openHandle opens a netfilter netlink handle in the namespace at path,
// or in the current one when path is empty.
func openHandle(path string) (flowDeleter, error) {
	if path == "" {
		h, err := netlink.NewHandle(unix.NETLINK_NETFILTER)
		if err != nil {
			return nil, fmt.Errorf("opening netfilter netlink socket: %w", err)
		}
		return h, nil
	}
	ns, err := netns.GetFromPath(path)
	if err != nil {
		return nil, fmt.Errorf("opening network namespace %s: %w", path, err)
	}
	// The socket stays in the namespace it was created in, so the
	// namespace's file can be closed once the handle exists.
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns, unix.NETLINK_NETFILTER)
	if err != nil {
		return nil, fmt.Errorf("opening netfilter netlink socket in %s: %w", path, err)
	}
	return h, nil
}

// ReconcileUDP deletes the UDP entries of m's family that m makes stale
// (ReconcileFilter), so clients of a Service whose endpoints changed get
// a current one with their next datagram. It runs after every sync, the
// first after a restart included, as kube-proxy reconciles, and returns
// how many entries it deleted.
func (c *Cleaner) ReconcileUDP(m *model.Model) (int, error) {
	f := NewReconcileFilter(m)
	if f.Empty() {
		return 0, nil
	}
	n, err := c.delete(m.Family, f)
	if err != nil {
		return n, fmt.Errorf("reconciling %s UDP conntrack entries: %w", m.Family, err)
	}
	return n, nil
}

// delete removes the entries of family matching filter. Deleting is
// best effort: when the dump was interrupted or some entries could not be
// deleted, the error says so and the count covers what was deleted.
func (c *Cleaner) delete(family model.Family, filter netlink.CustomConntrackFilter) (int, error) {
	h, err := c.open()
	if err != nil {
		return 0, err
	}
	defer h.Close()
	n, err := h.ConntrackDeleteFilters(netlink.ConntrackTable, inetFamily(family), filter)
	return int(n), err
}

// inetFamily is the netlink address family of f.
func inetFamily(f model.Family) netlink.InetFamily {
	if f == model.IPv6 {
		return unix.AF_INET6
	}
	return unix.AF_INET
}
