// Package filelock takes the exclusive lock that test processes sharing a
// cache of built binaries and images take, so that only one of them
// builds: go test ./... runs packages in parallel, and CI jobs may share
// a cache.
package filelock

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// poll is how often a waiting process tries the lock again.
const poll = time.Second

// logEvery is how often a waiting process says it is still waiting.
const logEvery = 30 * time.Second

// Lock takes an exclusive flock on the file at path, creating it, and
// returns the function that releases it. The kernel drops a flock when
// its holder dies, so a killed build never leaves the cache locked.
// While another process holds it, Lock says so through logf every
// logEvery, and it gives up when ctx ends rather than wait forever.
func Lock(ctx context.Context, logf func(string, ...any), path string) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("opening the lock: %w", err)
	}
	start, logged := time.Now(), time.Now()
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			// Closing the file releases the lock with it.
			return func() { f.Close() }, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("locking %s: %w", path, err)
		}
		if time.Since(logged) >= logEvery {
			logf("waiting for another process building into %s (%v so far)", filepath.Dir(path), time.Since(start).Round(time.Second))
			logged = time.Now()
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("waiting %v for another process building into %s: %w", time.Since(start).Round(time.Second), filepath.Dir(path), ctx.Err())
		case <-time.After(poll):
		}
	}
}
