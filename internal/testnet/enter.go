package testnet

import (
	"errors"
	"fmt"
	"os"
	"runtime"

	"golang.org/x/sys/unix"

	"github.com/svcproxy/svcproxy/internal/netns"
)

// netnsDirs are where `ip netns add` may have bind-mounted a named
// namespace; /run is the usual one and /var/run a symlink to it on most
// systems, but not all.
var netnsDirs = []string{"/run/netns", "/var/run/netns"}

// inNamespace runs fn on an OS thread that has joined the network
// namespace of ns. Sockets fn creates stay in that namespace after fn
// returns, so only their creation needs the thread.
//
// fn runs on a goroutine of its own: if the thread cannot be returned to
// its original namespace, that goroutine exits with the thread still
// locked, and the Go runtime then terminates the thread instead of
// reusing it, so no other goroutine ever runs in the wrong namespace.
func inNamespace(ns *netns.NS, fn func() error) error {
	errc := make(chan error, 1)
	go func() { errc <- runLocked(ns, fn) }()
	return <-errc
}

// runLocked is the body of inNamespace; it must run on a goroutine that
// exits when it returns.
func runLocked(ns *netns.NS, fn func() error) error {
	runtime.LockOSThread()
	target, err := openNamespace(ns)
	if err != nil {
		runtime.UnlockOSThread()
		return err
	}
	defer unix.Close(target)
	orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("opening the thread's own network namespace: %w", err)
	}
	defer unix.Close(orig)
	if err := unix.Setns(target, unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("entering network namespace %s: %w", ns.Name, err)
	}
	fnErr := fn()
	if err := unix.Setns(orig, unix.CLONE_NEWNET); err != nil {
		// Deliberately still locked: the thread dies with this goroutine.
		return errors.Join(fnErr, fmt.Errorf("leaving network namespace %s: %w", ns.Name, err))
	}
	runtime.UnlockOSThread()
	return fnErr
}

// openNamespace opens the bind mount `ip netns add` made for ns.
func openNamespace(ns *netns.NS) (int, error) {
	var errs []error
	for _, dir := range netnsDirs {
		fd, err := unix.Open(dir+"/"+ns.Name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err == nil {
			return fd, nil
		}
		errs = append(errs, &os.PathError{Op: "open", Path: dir + "/" + ns.Name, Err: err})
	}
	return -1, fmt.Errorf("opening network namespace %s: %w", ns.Name, errors.Join(errs...))
}

// writeSysctls sets sysctls inside ns. Files under /proc/sys/net are
// looked up in the namespace of the thread that opens them, so this
// needs no `ip netns exec` and no sysctl binary.
func writeSysctls(ns *netns.NS, values []sysctl) error {
	return inNamespace(ns, func() error {
		for _, s := range values {
			if err := os.WriteFile("/proc/sys/"+s.key, []byte(s.value), 0o644); err != nil {
				return fmt.Errorf("setting sysctl %s=%s in %s: %w", s.key, s.value, ns.Name, err)
			}
		}
		return nil
	})
}
