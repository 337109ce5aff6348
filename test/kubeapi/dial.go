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

// dialLocked locks the calling goroutine to its thread, moves the thread
// into the namespace, dials, and moves it back. It unlocks the thread only
// once it is back in the host namespace.
func (d *nsDialer) dialLocked(ctx context.Context, network, address string) (net.Conn, error) {
	runtime.LockOSThread()
	host, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		runtime.UnlockOSThread()
		return nil, fmt.Errorf("opening the current network namespace: %w", err)
	}
	defer host.Close()
	target, err := os.Open(d.path)
	if err != nil {
		runtime.UnlockOSThread()
		return nil, fmt.Errorf("opening network namespace %s: %w", d.path, err)
	}
	defer target.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return nil, fmt.Errorf("entering network namespace %s: %w", d.path, err)
	}
	var dialer net.Dialer
	conn, dialErr := dialer.DialContext(ctx, network, address)
	if err := unix.Setns(int(host.Fd()), unix.CLONE_NEWNET); err != nil {
		if conn != nil {
			conn.Close()
		}
		return nil, fmt.Errorf("returning to the host network namespace: %w", err)
	}
	runtime.UnlockOSThread()
	return conn, dialErr
}
