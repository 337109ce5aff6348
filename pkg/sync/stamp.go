package sync

import (
	"encoding/binary"
	"errors"
	"fmt"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/svcproxy/svcproxy/internal/nsexec"
	"github.com/svcproxy/svcproxy/pkg/model"
)

// A table stamp is what can be read of a backend's tables in constant
// time and changes whenever they do, so that the canary need read the
// tables themselves, whose size grows with the Services, only after
// something changed them.

// Stamper reads stamps of the rules in constant time, so that the canary
// reads the rules themselves only after a change.
type Stamper interface {
	// Generation returns the nftables ruleset's generation, for nftables
	// and iptables-nft.
	Generation() (string, error)
	// XTables returns iptables-legacy's summary of the family's tables.
	XTables(family model.Family, tables []string) (string, error)
}

// KernelStamps reads the stamps from the kernel, in the network namespace
// at NetNS ("" for the process's). Its netlink socket is kept from one
// read to the next (netlinkConn), since the applier reads the generation
// after every transaction; Close closes it.
type KernelStamps struct {
	NetNS string
	conn  netlinkConn
}

var _ Stamper = (*KernelStamps)(nil)

// Generation returns the nftables generation, which every committed
// transaction increments: for iptables-nft and for nftables mode alike.
func (k *KernelStamps) Generation() (string, error) {
	var msgs []syscall.NetlinkMessage
	err := k.conn.use(k.NetNS, func(fd int) error {
		var err error
		msgs, err = request(fd, unix.NFNL_SUBSYS_NFTABLES<<8|unix.NFT_MSG_GETGEN, 0, nil)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("reading the nftables generation: %w", err)
	}
	return generationOf(msgs)
}

// XTables returns the tables' summary (xtablesStamp).
func (k *KernelStamps) XTables(family model.Family, tables []string) (string, error) {
	return xtablesStamp(k.NetNS, family, tables)
}

// Close closes the netlink socket, if one is open.
func (k *KernelStamps) Close() error { return k.conn.Close() }

// errNoStamps is the stamp error of an applier that has no Stamper: its
// canary reads the rules at every check.
var errNoStamps = errors.New("no stamps")

// soGetInfo is IPT_SO_GET_INFO and IP6T_SO_GET_INFO: x_tables' summary
// of one table.
const soGetInfo = 64

// getinfoSize is the size of struct ipt_getinfo (and ip6t_getinfo): the
// table's name, its valid hooks, five hook entry points, five underflows,
// its number of entries and its size.
const getinfoSize = 32 + 4 + 5*4 + 5*4 + 4 + 4

// xtablesStamp returns, for iptables-legacy, the summary of each table of
// the family in the network namespace at netns: every rule added,
// removed or moved changes the entry count, the size or a hook's entry
// point. A table that does not exist stamps as such.
func xtablesStamp(netns string, family model.Family, tables []string) (string, error) {
	domain, level := unix.AF_INET, unix.SOL_IP
	if family == model.IPv6 {
		domain, level = unix.AF_INET6, unix.SOL_IPV6
	}
	var stamp []byte
	err := nsexec.Do(netns, func() error {
		fd, err := unix.Socket(domain, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_RAW)
		if err != nil {
			return fmt.Errorf("opening a raw socket: %w", err)
		}
		defer unix.Close(fd)
		for _, t := range tables {
			info, err := getinfo(fd, level, t)
			if errors.Is(err, unix.ENOENT) {
				stamp = append(stamp, t+":none;"...)
				continue
			}
			if err != nil {
				return fmt.Errorf("reading the summary of the %s table: %w", t, err)
			}
			stamp = append(append(append(stamp, t+":"...), info[32:]...), ';')
		}
		return nil
	})
	return string(stamp), err
}

// getinfo asks the kernel for the summary of table.
func getinfo(fd, level int, table string) ([]byte, error) {
	info := make([]byte, getinfoSize)
	copy(info[:31], table)
	size := uint32(len(info))
	_, _, errno := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(fd), uintptr(level), soGetInfo,
		uintptr(unsafe.Pointer(&info[0])), uintptr(unsafe.Pointer(&size)), 0)
	if errno != 0 {
		return nil, errno
	}
	return info, nil
}

// generationOf returns the generation in the kernel's answer to
// NFT_MSG_GETGEN.
func generationOf(msgs []syscall.NetlinkMessage) (string, error) {
	for _, m := range msgs {
		if m.Header.Type == unix.NFNL_SUBSYS_NFTABLES<<8|unix.NFT_MSG_NEWGEN && len(m.Data) >= nfgenmsgLen {
			if id, ok := attribute(m.Data[nfgenmsgLen:], unix.NFTA_GEN_ID); ok && len(id) == 4 {
				return fmt.Sprint(binary.BigEndian.Uint32(id)), nil
			}
		}
	}
	return "", errors.New("reading the nftables generation: no generation in the kernel's answer")
}
