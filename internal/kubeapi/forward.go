package kubeapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"

	"github.com/svcproxy/svcproxy/internal/netns"
)

// Forward makes the apiserver reachable at its own URL (127.0.0.1:6443)
// from inside another namespace, so a process there can use Kubeconfig
// unchanged. It listens on that namespace's loopback and relays each
// connection to the apiserver. Relaying in user space keeps both
// namespaces' interfaces, routes and rules untouched: a proxy under test
// then sees exactly the kernel state it made. Close stops it.
func (s *Server) Forward(into *netns.NS) (io.Closer, error) {
	if _, err := into.Run(nil, "ip", "link", "set", "lo", "up"); err != nil {
		return nil, fmt.Errorf("bringing up loopback in %s: %w", into.Name, err)
	}
	d, err := newNSDialer(into)
	if err != nil {
		return nil, err
	}
	l, err := d.listen(net.JoinHostPort(apiserverHost, strconv.Itoa(apiserverPort)))
	if err != nil {
		return nil, fmt.Errorf("listening in %s: %w", into.Name, err)
	}
	f := &forwarder{l: l, dial: s.dialer.DialContext, conns: map[net.Conn]bool{}}
	go f.serve()
	return f, nil
}

// forwarder relays connections from a listener to the apiserver.
type forwarder struct {
	l    net.Listener
	dial func(ctx context.Context, network, address string) (net.Conn, error)

	mu     sync.Mutex
	conns  map[net.Conn]bool
	closed bool
}

func (f *forwarder) serve() {
	for {
		c, err := f.l.Accept()
		if err != nil {
			return
		}
		go f.relay(c)
	}
}

// relay copies both ways until either side closes.
func (f *forwarder) relay(in net.Conn) {
	out, err := f.dial(context.Background(), "tcp", net.JoinHostPort(apiserverHost, strconv.Itoa(apiserverPort)))
	if err != nil || !f.track(in, out) {
		in.Close()
		if out != nil {
			out.Close()
		}
		return
	}
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		done <- struct{}{}
	}
	go pipe(out, in)
	go pipe(in, out)
	<-done
	in.Close()
	out.Close()
	<-done
	f.untrack(in, out)
}

// track registers a relayed pair, refusing it once Close has begun.
func (f *forwarder) track(conns ...net.Conn) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return false
	}
	for _, c := range conns {
		f.conns[c] = true
	}
	return true
}

func (f *forwarder) untrack(conns ...net.Conn) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range conns {
		delete(f.conns, c)
	}
}

// Close stops listening and cuts every relayed connection.
func (f *forwarder) Close() error {
	f.mu.Lock()
	f.closed = true
	var errs []error
	for c := range f.conns {
		if err := c.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, err)
		}
	}
	f.mu.Unlock()
	if err := f.l.Close(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
