package testnet

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/svcproxy/svcproxy/internal/netns"
)

// TimedAnswer is a TCP echo server's answer together with how long the
// connection took to set up.
type TimedAnswer struct {
	Answer
	// Connect is the time from the client's connect call, which sends the
	// SYN, until the client saw the connection established, that is until
	// the SYN/ACK came back. Reading the answer and closing are not in it.
	Connect time.Duration
}

// AskTimed asks each of dsts in turn over TCP from inside the namespace
// from, each over a new connection (so a new source port and a new
// conntrack entry), and times each connection's handshake. It enters the
// namespace once for all of them, so entering is not in the times.
//
// Every connect, and every answer, must come within timeout. AskTimed
// stops at the first failure and returns the answers so far with an
// error that Refused, Unreachable and TimedOut tell apart.
func AskTimed(from *netns.NS, dsts []netip.AddrPort, timeout time.Duration) ([]TimedAnswer, error) {
	out := make([]TimedAnswer, 0, len(dsts))
	err := inNamespace(from, func() error {
		for _, dst := range dsts {
			a, err := askTimed(dst, timeout)
			if err != nil {
				return fmt.Errorf("asking tcp %s from %s: %w", dst, from.Name, err)
			}
			out = append(out, a)
		}
		return nil
	})
	return out, err
}

// askTimed makes one timed connection to dst in the calling thread's
// namespace and reads the answer. It uses the socket calls directly, so
// the time measured is the kernel's and not the Go network poller's.
func askTimed(dst netip.AddrPort, timeout time.Duration) (TimedAnswer, error) {
	deadline := time.Now().Add(timeout)
	dst = unmap(dst)
	family, sa := unix.AF_INET, unix.Sockaddr(&unix.SockaddrInet4{Port: int(dst.Port()), Addr: dst.Addr().As4()})
	if dst.Addr().Is6() {
		family, sa = unix.AF_INET6, &unix.SockaddrInet6{Port: int(dst.Port()), Addr: dst.Addr().As16()}
	}
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.IPPROTO_TCP)
	if err != nil {
		return TimedAnswer{}, fmt.Errorf("creating a socket: %w", err)
	}
	defer unix.Close(fd)
	start := time.Now()
	if err := unix.Connect(fd, sa); err != nil && !errors.Is(err, unix.EINPROGRESS) {
		return TimedAnswer{}, fmt.Errorf("connecting: %w", err)
	}
	if err := waitFor(fd, unix.POLLOUT, deadline); err != nil {
		return TimedAnswer{}, fmt.Errorf("connecting: %w", err)
	}
	connect := time.Since(start)
	soErr, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR)
	if err != nil {
		return TimedAnswer{}, fmt.Errorf("reading the connect result: %w", err)
	}
	if soErr != 0 {
		return TimedAnswer{}, fmt.Errorf("connecting: %w", unix.Errno(soErr))
	}
	line, err := readAll(fd, deadline)
	if err != nil {
		return TimedAnswer{}, fmt.Errorf("reading the answer: %w", err)
	}
	a, err := parseAnswer(line)
	return TimedAnswer{Answer: a, Connect: connect}, err
}

// readAll reads until the server closes its side, which an echo server
// does right after its line: the client then closes second and the
// server, not the client, keeps the TIME_WAIT, as with Ask.
func readAll(fd int, deadline time.Time) (string, error) {
	var sb strings.Builder
	buf := make([]byte, 256)
	for {
		if err := waitFor(fd, unix.POLLIN, deadline); err != nil {
			return sb.String(), err
		}
		n, err := unix.Read(fd, buf)
		switch {
		case errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR):
			continue
		case err != nil:
			return sb.String(), err
		case n == 0:
			return sb.String(), nil
		}
		sb.Write(buf[:n])
	}
}

// waitFor polls fd for events until deadline, retrying polls a signal
// interrupts. Running out of time is os.ErrDeadlineExceeded, so
// TimedOut recognises it.
func waitFor(fd int, events int16, deadline time.Time) error {
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return os.ErrDeadlineExceeded
		}
		fds := []unix.PollFd{{Fd: int32(fd), Events: events}}
		n, err := unix.Poll(fds, int(left.Milliseconds())+1)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return fmt.Errorf("polling: %w", err)
		}
		if n > 0 {
			return nil
		}
	}
}
