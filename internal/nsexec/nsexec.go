// Package nsexec runs code inside another network namespace: for the
// kernel interfaces that belong to the namespace of the thread that opens
// them (sockets, /proc/sys/net), so that svcproxy, run against a
// namespace as its tests run it, never reads or writes the host's.
package nsexec

import (
	"errors"
	"fmt"
	"runtime"

	"github.com/vishvananda/netns"
)

// Do runs fn in the network namespace at path ("/run/netns/NAME"), on a
// thread locked to it for the call; an empty path runs fn where the
// process is. Whatever fn opens there stays in that namespace.
func Do(path string, fn func() error) error {
	if path == "" {
		return fn()
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		return fmt.Errorf("reading this thread's network namespace: %w", err)
	}
	defer orig.Close()
	target, err := netns.GetFromPath(path)
	if err != nil {
		return fmt.Errorf("opening network namespace %s: %w", path, err)
	}
	defer target.Close()
	if err := netns.Set(target); err != nil {
		return fmt.Errorf("entering network namespace %s: %w", path, err)
	}
	err = fn()
	if rerr := netns.Set(orig); rerr != nil {
		// A thread stuck in the wrong namespace must not go back to the
		// pool: locked once more, it stays with this goroutine, and the
		// runtime ends it when the goroutine ends.
		runtime.LockOSThread()
		return errors.Join(err, fmt.Errorf("returning to the process's network namespace: %w", rerr))
	}
	return err
}
