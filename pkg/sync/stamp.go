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

// nftGeneration returns the generation of the nftables ruleset in the
// network namespace at netns, which every committed transaction
// increments: for iptables-nft and for nftables mode alike.
func nftGeneration(netns string) (string, error) {
	var gen uint32
	err := nsexec.Do(netns, func() error {
		fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_NETFILTER)
		if err != nil {
			return fmt.Errorf("opening a netfilter netlink socket: %w", err)
		}
		defer unix.Close(fd)
		tv := unix.Timeval{Sec: 5}
		if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
			return fmt.Errorf("setting the netlink socket's timeout: %w", err)
		}
		gen, err = askGeneration(fd)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("reading the nftables generation: %w", err)
	}
	return fmt.Sprint(gen), nil
}

// askGeneration sends NFT_MSG_GETGEN and reads NFTA_GEN_ID from the
// answer.
func askGeneration(fd int) (uint32, error) {
	const nfgenmsgLen = 4 // family, version, resource id
	req := make([]byte, unix.NLMSG_HDRLEN+nfgenmsgLen)
	binary.NativeEndian.PutUint32(req[0:], uint32(len(req)))
	binary.NativeEndian.PutUint16(req[4:], unix.NFNL_SUBSYS_NFTABLES<<8|unix.NFT_MSG_GETGEN)
	binary.NativeEndian.PutUint16(req[6:], unix.NLM_F_REQUEST)
	binary.NativeEndian.PutUint32(req[8:], 1)
	if err := unix.Sendto(fd, req, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return 0, err
	}
	buf := make([]byte, 4096)
	n, _, err := unix.Recvfrom(fd, buf, 0)
	if err != nil {
		return 0, err
	}
	msgs, err := syscall.ParseNetlinkMessage(buf[:n])
	if err != nil {
		return 0, err
	}
	for _, m := range msgs {
		if m.Header.Type == unix.NLMSG_ERROR && len(m.Data) >= 4 {
			return 0, unix.Errno(-int32(binary.NativeEndian.Uint32(m.Data)))
		}
		if m.Header.Type == unix.NFNL_SUBSYS_NFTABLES<<8|unix.NFT_MSG_NEWGEN && len(m.Data) >= nfgenmsgLen {
			if id, ok := genID(m.Data[nfgenmsgLen:]); ok {
				return id, nil
			}
		}
	}
	return 0, errors.New("no generation in the kernel's answer")
}

// genID finds NFTA_GEN_ID, a big-endian 32-bit attribute, in attrs.
func genID(attrs []byte) (uint32, bool) {
	for len(attrs) >= unix.NLA_HDRLEN {
		l := int(binary.NativeEndian.Uint16(attrs))
		typ := binary.NativeEndian.Uint16(attrs[2:]) &^ unix.NLA_F_NESTED
		if l < unix.NLA_HDRLEN || l > len(attrs) {
			return 0, false
		}
		if typ == unix.NFTA_GEN_ID && l >= unix.NLA_HDRLEN+4 {
			return binary.BigEndian.Uint32(attrs[unix.NLA_HDRLEN:]), true
		}
		attrs = attrs[(l+unix.NLA_ALIGNTO-1)&^(unix.NLA_ALIGNTO-1):]
	}
	return 0, false
}
