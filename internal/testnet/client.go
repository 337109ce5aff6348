package testnet

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/svcproxy/svcproxy/internal/netns"
)

// Answer is what an echo server said about one connection or datagram.
type Answer struct {
	// Endpoint is the server's own address and port as it saw them: the
	// endpoint a proxy picked, after any DNAT.
	Endpoint netip.AddrPort
	// Client is the client's address and port as the server saw them,
	// after any SNAT or masquerade.
	Client netip.AddrPort
}

// Dial connects from inside the namespace from, to dst, optionally from
// source address src (the zero Addr lets the kernel choose), giving up
// at timeout. For UDP it only creates a connected socket; nothing is
// sent. The connection is the caller's to close.
func Dial(from *netns.NS, proto Proto, src netip.Addr, dst netip.AddrPort, timeout time.Duration) (net.Conn, error) {
	if proto != TCP && proto != UDP {
		return nil, fmt.Errorf("dialing %s from %s: unknown protocol %q", dst, from.Name, proto)
	}
	d := net.Dialer{Deadline: time.Now().Add(timeout), LocalAddr: localAddr(proto, src)}
	network := string(proto) + "4"
	if dst.Addr().Unmap().Is6() {
		network = string(proto) + "6"
	}
	var conn net.Conn
	// The whole dial runs in the namespace: the socket must be created
	// there, and Go creates it inside Dial.
	err := inNamespace(from, func() error {
		var err error
		conn, err = d.Dial(network, unmap(dst).String())
		return err
	})
	if err != nil {
		// The dial may have worked and only the way back failed.
		if conn != nil {
			_ = conn.Close()
		}
		return nil, fmt.Errorf("dialing %s %s from %s: %w", proto, dst, from.Name, err)
	}
	return conn, nil
}

// localAddr is the Dialer's source address; nil (a nil interface, not a
// nil pointer) when src is zero.
func localAddr(proto Proto, src netip.Addr) net.Addr {
	if !src.IsValid() {
		return nil
	}
	if proto == UDP {
		return net.UDPAddrFromAddrPort(netip.AddrPortFrom(src, 0))
	}
	return net.TCPAddrFromAddrPort(netip.AddrPortFrom(src, 0))
}

// Ask connects from inside the namespace from to an echo server at dst
// (or to a service address a proxy sends there) and returns the
// server's answer. For TCP it is a new connection; for UDP a new socket,
// so a new source port and a new conntrack entry, sending one datagram.
// Everything, connecting included, must finish within timeout.
//
// An error says why there was no answer: use Refused for a connection
// rejected at once (a TCP reset or ICMP port unreachable, as for a
// REJECT rule or a port nothing listens on) and TimedOut for one that
// got no reply at all (a DROP rule).
func Ask(from *netns.NS, proto Proto, src netip.Addr, dst netip.AddrPort, timeout time.Duration) (Answer, error) {
	deadline := time.Now().Add(timeout)
	conn, err := Dial(from, proto, src, dst, timeout)
	if err != nil {
		return Answer{}, err
	}
	defer conn.Close()
	_ = conn.SetDeadline(deadline)
	if proto == UDP {
		if _, err := conn.Write([]byte("?\n")); err != nil {
			return Answer{}, fmt.Errorf("asking %s %s from %s: %w", proto, dst, from.Name, err)
		}
	}
	// An ICMP port unreachable for the datagram above surfaces on this
	// read as ECONNREFUSED, because the socket is connected.
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return Answer{}, fmt.Errorf("reading answer to %s %s from %s: %w", proto, dst, from.Name, err)
	}
	return parseAnswer(line)
}

// parseAnswer reads an echo server's line.
func parseAnswer(line string) (Answer, error) {
	fields := strings.Fields(line)
	if len(fields) != 2 {
		return Answer{}, fmt.Errorf("parsing answer %q: want two fields", line)
	}
	endpoint, err := netip.ParseAddrPort(fields[0])
	if err != nil {
		return Answer{}, fmt.Errorf("parsing answer %q: %w", line, err)
	}
	client, err := netip.ParseAddrPort(fields[1])
	if err != nil {
		return Answer{}, fmt.Errorf("parsing answer %q: %w", line, err)
	}
	return Answer{Endpoint: endpoint, Client: client}, nil
}

// AskMany asks n times, one after another, each time with a new
// connection or socket, and counts the answers by endpoint, for tests
// of how a proxy spreads load. Failed asks are returned, in order, and
// not counted.
func AskMany(from *netns.NS, proto Proto, src netip.Addr, dst netip.AddrPort, n int, timeout time.Duration) (map[netip.AddrPort]int, []error) {
	counts := map[netip.AddrPort]int{}
	var errs []error
	for range n {
		a, err := Ask(from, proto, src, dst, timeout)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		counts[a.Endpoint]++
	}
	return counts, errs
}

// Refused reports whether err means the connection was rejected at once:
// a TCP reset, or an ICMP port unreachable for TCP or UDP.
func Refused(err error) bool {
	return errors.Is(err, syscall.ECONNREFUSED)
}

// TimedOut reports whether err means nothing came back before the
// deadline, as when a rule drops the packets.
func TimedOut(err error) bool {
	return errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, syscall.ETIMEDOUT)
}
