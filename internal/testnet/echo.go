package testnet

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/svcproxy/svcproxy/internal/netns"
)

// Proto is a transport protocol the echo servers and clients speak.
type Proto string

const (
	// TCP answers each connection with one line, then closes it.
	TCP Proto = "tcp"
	// UDP answers each datagram with one datagram.
	UDP Proto = "udp"
	// Stream answers every line a client sends on one TCP connection, for
	// as long as the client keeps it open (clients dial it as TCP):
	// connections that must survive something, a proxy restart say, are
	// tested with it.
	Stream Proto = "stream"
)

// streamIdle bounds how long a Stream connection may stay silent, so a
// forgotten client cannot hold up cleanup for long.
const streamIdle = 2 * time.Minute

// Port is one port an echo server listens on.
type Port struct {
	// Proto is TCP or UDP.
	Proto Proto
	// Port is the port number; it must not be zero, because the IPv4 and
	// IPv6 servers have to share it.
	Port uint16
}

// echoLinger bounds how long a server waits on one client, so a client
// that never reads or never closes cannot hold up cleanup.
const echoLinger = 2 * time.Second

// StartEcho starts echo servers inside ns, one per port and family, on
// the wildcard addresses, so they answer on every address the namespace
// has now or gets later. Each answers with "<server addr:port> <client
// addr:port>" as it saw them. The servers stop, and their goroutines are
// waited for, when t ends; t fails if any cannot start.
func StartEcho(t testing.TB, ns *netns.NS, ports ...Port) {
	t.Helper()
	srv := &echoServer{}
	// Registered before anything starts, so a half-started set of
	// servers is stopped too.
	t.Cleanup(srv.stop)
	err := inNamespace(ns, func() error {
		for _, p := range ports {
			if err := srv.listen(p); err != nil {
				return fmt.Errorf("starting %s echo server on port %d in %s: %w", p.Proto, p.Port, ns.Name, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// StartEcho starts echo servers in the pod; see the function StartEcho.
func (p *Pod) StartEcho(t testing.TB, ports ...Port) {
	t.Helper()
	StartEcho(t, p.NS, ports...)
}

// echoServer is the set of sockets one StartEcho call serves.
type echoServer struct {
	mu      sync.Mutex
	closers []io.Closer
	wg      sync.WaitGroup
}

// listen opens the IPv4 and IPv6 sockets for p in the calling thread's
// namespace and serves them from new goroutines, which need no
// namespace of their own since the sockets already have one.
func (s *echoServer) listen(p Port) error {
	if p.Port == 0 {
		return errors.New("port 0 is not allowed")
	}
	for _, family := range []string{"4", "6"} {
		lc := net.ListenConfig{Control: setPktinfo}
		// Plain TCP, never MPTCP, so conntrack sees what a real client
		// would send.
		lc.SetMultipathTCP(false)
		addr := fmt.Sprintf(":%d", p.Port)
		switch p.Proto {
		case TCP, Stream:
			l, err := lc.Listen(context.Background(), "tcp"+family, addr)
			if err != nil {
				return err
			}
			s.track(l)
			s.wg.Add(1)
			answer := answerTCP
			if p.Proto == Stream {
				answer = s.answerStream
			}
			go s.serveTCP(l, answer)
		case UDP:
			c, err := lc.ListenPacket(context.Background(), "udp"+family, addr)
			if err != nil {
				return err
			}
			s.track(c)
			s.wg.Add(1)
			go s.serveUDP(c.(*net.UDPConn))
		default:
			return fmt.Errorf("unknown protocol %q", p.Proto)
		}
	}
	return nil
}

// track remembers a socket for stop.
func (s *echoServer) track(c io.Closer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closers = append(s.closers, c)
}

// stop closes every socket and waits for every goroutine serving them.
func (s *echoServer) stop() {
	s.mu.Lock()
	for _, c := range s.closers {
		_ = c.Close()
	}
	s.closers = nil
	s.mu.Unlock()
	s.wg.Wait()
}

// serveTCP accepts until the listener is closed, answering each
// connection with answer.
func (s *echoServer) serveTCP(l net.Listener, answer func(*net.TCPConn)) {
	defer s.wg.Done()
	for {
		c, err := l.Accept()
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if err != nil {
			// Out of descriptors or an aborted handshake; the next
			// Accept may well succeed.
			time.Sleep(10 * time.Millisecond)
			continue
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			answer(c.(*net.TCPConn))
		}()
	}
}

// answerTCP writes the answer line and closes the connection. It closes
// its own half first and waits for the client's, so the client reads
// the line before a FIN rather than racing a reset, and the server, not
// the client, keeps the TIME_WAIT: repeated asks never find their
// source port busy.
func answerTCP(c *net.TCPConn) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(echoLinger))
	local := c.LocalAddr().(*net.TCPAddr).AddrPort()
	remote := c.RemoteAddr().(*net.TCPAddr).AddrPort()
	if _, err := io.WriteString(c, answerLine(local, remote)); err != nil {
		return
	}
	_ = c.CloseWrite()
	_, _ = io.Copy(io.Discard, c)
}

// answerStream writes the answer line for every line the client sends,
// until the client closes or the server stops.
func (s *echoServer) answerStream(c *net.TCPConn) {
	s.track(c)
	defer c.Close()
	local := c.LocalAddr().(*net.TCPAddr).AddrPort()
	remote := c.RemoteAddr().(*net.TCPAddr).AddrPort()
	r := bufio.NewReader(c)
	for {
		_ = c.SetDeadline(time.Now().Add(streamIdle))
		if _, err := r.ReadString('\n'); err != nil {
			return
		}
		if _, err := io.WriteString(c, answerLine(local, remote)); err != nil {
			return
		}
	}
}

// serveUDP answers datagrams until the socket is closed. A wildcard UDP
// socket does not know which of its addresses a datagram was sent to,
// so it asks the kernel (IP_PKTINFO) and answers from that same
// address; answering from another would not match the client's
// conntrack entry and the reply would never reach it.
func (s *echoServer) serveUDP(c *net.UDPConn) {
	defer s.wg.Done()
	buf, oob := make([]byte, 2048), make([]byte, 512)
	port := c.LocalAddr().(*net.UDPAddr).AddrPort().Port()
	for {
		_, oobn, _, from, err := c.ReadMsgUDPAddrPort(buf, oob)
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if err != nil {
			continue
		}
		dst, replyOOB, err := packetDestination(oob[:oobn])
		if err != nil {
			continue
		}
		line := answerLine(netip.AddrPortFrom(dst, port), from)
		_, _, _ = c.WriteMsgUDPAddrPort([]byte(line), replyOOB, from)
	}
}

// answerLine is the echo servers' one line of output.
func answerLine(server, client netip.AddrPort) string {
	return unmap(server).String() + " " + unmap(client).String() + "\n"
}

// unmap turns an IPv4-mapped IPv6 address back into IPv4.
func unmap(ap netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

// setPktinfo asks the kernel to report each UDP datagram's destination
// address; TCP sockets need no such help.
func setPktinfo(network, _ string, rc syscall.RawConn) error {
	var level, opt int
	switch network {
	case "udp4":
		level, opt = unix.IPPROTO_IP, unix.IP_PKTINFO
	case "udp6":
		level, opt = unix.IPPROTO_IPV6, unix.IPV6_RECVPKTINFO
	default:
		return nil
	}
	var sockErr error
	if err := rc.Control(func(fd uintptr) {
		sockErr = unix.SetsockoptInt(int(fd), level, opt, 1)
	}); err != nil {
		return err
	}
	if sockErr != nil {
		return fmt.Errorf("setting packet info option: %w", sockErr)
	}
	return nil
}

// packetDestination finds the destination address in a datagram's
// control messages and builds the control message that sends the
// answer from that address.
func packetDestination(oob []byte) (netip.Addr, []byte, error) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return netip.Addr{}, nil, fmt.Errorf("parsing control messages: %w", err)
	}
	for _, m := range msgs {
		switch {
		case m.Header.Level == unix.IPPROTO_IP && m.Header.Type == unix.IP_PKTINFO && len(m.Data) >= unix.SizeofInet4Pktinfo:
			// struct in_pktinfo: ifindex, spec_dst, then the header's
			// destination address.
			dst := netip.AddrFrom4([4]byte(m.Data[8:12]))
			return dst, unix.PktInfo4(&unix.Inet4Pktinfo{Spec_dst: dst.As4()}), nil
		case m.Header.Level == unix.IPPROTO_IPV6 && m.Header.Type == unix.IPV6_PKTINFO && len(m.Data) >= unix.SizeofInet6Pktinfo:
			// struct in6_pktinfo: the destination address, then ifindex.
			dst := netip.AddrFrom16([16]byte(m.Data[0:16]))
			return dst, unix.PktInfo6(&unix.Inet6Pktinfo{Addr: dst.As16()}), nil
		}
	}
	return netip.Addr{}, nil, errors.New("no packet info in control messages")
}
