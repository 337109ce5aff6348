package kubeapi

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"

	"golang.org/x/sys/unix"

	"github.com/svcproxy/svcproxy/internal/netns"
)

// nsDialer opens TCP connections from inside a network namespace. The
// servers listen on the namespace's own loopback, which the test process,
// living in the host namespace, cannot otherwise reach; joining the two
// with a veth pair would mean changing the host's interfaces and routes.
type nsDialer struct {
	path string // bind mount of the namespace made by ip netns add
}

// newNSDialer finds the namespace file of ns.
func newNSDialer(ns *netns.NS) (*nsDialer, error) {
	for _, dir := range []string{"/run/netns", "/var/run/netns"} {
		path := filepath.Join(dir, ns.Name)
		if _, err := os.Stat(path); err == nil {
			return &nsDialer{path: path}, nil
		}
	}
	return nil, fmt.Errorf("finding network namespace %s under /run/netns", ns.Name)
}

// DialContext creates the socket inside the namespace and connects it. A
// socket stays in the namespace it was created in, so only its creation
// needs the namespace switch; the connection is then used from any thread.
func (d *nsDialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	// Only address literals (the servers are on 127.0.0.1): for a host
	// name the dialer may race connections from other goroutines, whose
	// threads are not in the namespace.
	if host, _, err := net.SplitHostPort(address); err != nil || net.ParseIP(host) == nil {
		return nil, fmt.Errorf("dialing %s in a network namespace: only IP addresses are supported", address)
	}
	type result struct {
		conn net.Conn
		err  error
	}
	ch := make(chan result, 1)
	// The switch happens on a goroutine of its own so that, should the
	// thread fail to return to the host namespace, it can exit still
	// locked, and Go then retires the thread instead of reusing it.
	go func() {
		conn, err := d.dialLocked(ctx, network, address)
		ch <- result{conn, err}
	}()
	r := <-ch
	return r.conn, r.err
}

// dialLocked dials from inside the namespace.
func (d *nsDialer) dialLocked(ctx context.Context, network, address string) (net.Conn, error) {
	var conn net.Conn
	err := d.inNamespace(func() error {
		var dialer net.Dialer
		var err error
		conn, err = dialer.DialContext(ctx, network, address)
		return err
	})
	if err != nil && conn != nil {
		conn.Close()
		return nil, err
	}
	return conn, err
}

// listen opens a TCP listener inside the namespace. Like a connected
// socket, a listening one stays in the namespace it was created in.
func (d *nsDialer) listen(address string) (net.Listener, error) {
	type result struct {
		l   net.Listener
		err error
	}
	ch := make(chan result, 1)
	go func() {
		var l net.Listener
		err := d.inNamespace(func() error {
			var err error
			l, err = net.Listen("tcp", address)
			return err
		})
		ch <- result{l, err}
	}()
	r := <-ch
	return r.l, r.err
}

// inNamespace locks the calling goroutine to its thread, moves the thread
// into the namespace, runs fn, and moves it back. It unlocks the thread
// only once it is back in the host namespace; if it cannot get back, the
// goroutine must end so that Go retires the thread.
func (d *nsDialer) inNamespace(fn func() error) error {
	runtime.LockOSThread()
	host, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("opening the current network namespace: %w", err)
	}
	defer host.Close()
	target, err := os.Open(d.path)
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("opening network namespace %s: %w", d.path, err)
	}
	defer target.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("entering network namespace %s: %w", d.path, err)
	}
	fnErr := fn()
	if err := unix.Setns(int(host.Fd()), unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("returning to the host network namespace: %w", err)
	}
	runtime.UnlockOSThread()
	return fnErr
}
