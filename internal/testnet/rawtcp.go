package testnet

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"time"

	"golang.org/x/sys/unix"

	"github.com/svcproxy/svcproxy/internal/netns"
)

// TCP flags, for SendTCP.
const (
	FlagFIN = 0x01
	FlagSYN = 0x02
)

// SendTCP sends one bare TCP segment with flags from src to dst, from
// inside from: a packet no socket would send, such as SYN with FIN,
// which conntrack finds INVALID.
func SendTCP(from *netns.NS, src, dst netip.AddrPort, flags byte) error {
	seg := tcpSegment(src, dst, flags)
	return inNamespace(from, func() error {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_TCP)
		if err != nil {
			return fmt.Errorf("opening a raw socket: %w", err)
		}
		defer unix.Close(fd)
		if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: src.Addr().As4()}); err != nil {
			return fmt.Errorf("binding to %s: %w", src.Addr(), err)
		}
		if err := unix.Sendto(fd, seg, 0, &unix.SockaddrInet4{Addr: dst.Addr().As4()}); err != nil {
			return fmt.Errorf("sending to %s: %w", dst, err)
		}
		return nil
	})
}

// tcpSegment builds a 20-byte TCP header from src to dst with flags and a
// correct checksum, so that only its flags can make it INVALID.
func tcpSegment(src, dst netip.AddrPort, flags byte) []byte {
	seg := make([]byte, 20)
	binary.BigEndian.PutUint16(seg[0:], src.Port())
	binary.BigEndian.PutUint16(seg[2:], dst.Port())
	binary.BigEndian.PutUint32(seg[4:], 1)
	seg[12] = 5 << 4 // data offset: five words, no options
	seg[13] = flags
	binary.BigEndian.PutUint16(seg[14:], 65535)
	// The checksum covers the IPv4 pseudo-header and the segment.
	s, d := src.Addr().As4(), dst.Addr().As4()
	pseudo := append(append(append([]byte{}, s[:]...), d[:]...), 0, unix.IPPROTO_TCP, 0, byte(len(seg)))
	var sum uint32
	for _, b := range [][]byte{pseudo, seg} {
		for i := 0; i+1 < len(b); i += 2 {
			sum += uint32(binary.BigEndian.Uint16(b[i:]))
		}
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	binary.BigEndian.PutUint16(seg[16:], ^uint16(sum))
	return seg
}

// TCPWatch sees the TCP segments a network namespace receives for one
// port, whatever their flags, as no TCP socket would.
type TCPWatch struct {
	fd   int
	port uint16
}

// WatchTCP starts watching, inside ns, for TCP segments to port.
func WatchTCP(ns *netns.NS, port uint16) (*TCPWatch, error) {
	w := &TCPWatch{port: port}
	err := inNamespace(ns, func() error {
		var err error
		w.fd, err = unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_TCP)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("opening a raw socket in %s: %w", ns.Name, err)
	}
	return w, nil
}

// Next waits up to timeout for a segment to the port and returns its
// flags; ok is false if none came.
func (w *TCPWatch) Next(timeout time.Duration) (flags byte, ok bool, err error) {
	tv := unix.NsecToTimeval(timeout.Nanoseconds())
	if err := unix.SetsockoptTimeval(w.fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		return 0, false, err
	}
	deadline := time.Now().Add(timeout)
	buf := make([]byte, 1500)
	for time.Now().Before(deadline) {
		n, _, err := unix.Recvfrom(w.fd, buf, 0)
		if err == unix.EAGAIN || err == unix.EINTR {
			continue
		}
		if err != nil {
			return 0, false, err
		}
		// A raw IPv4 socket reads the IP header too.
		ihl := int(buf[0]&0x0f) * 4
		if n >= ihl+20 && binary.BigEndian.Uint16(buf[ihl+2:]) == w.port {
			return buf[ihl+13], true, nil
		}
	}
	return 0, false, nil
}

// Close stops watching.
func (w *TCPWatch) Close() error { return unix.Close(w.fd) }
