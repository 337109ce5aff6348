package rootfs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// lockPoll is how often a waiting builder tries the lock again.
const lockPoll = time.Second

// lockLog is how often a waiting builder says it is still waiting.
const lockLog = 30 * time.Second

// lock takes an exclusive flock on the file at path, creating it, and
// returns the function that releases it. Test processes sharing a cache
// (go test ./..., CI jobs) take it so that only one builds; the kernel
// drops a flock when its holder dies, so a killed build never leaves the
// cache locked. It gives up when ctx ends rather than wait forever.
func lock(ctx context.Context, logf func(string, ...any), path string) (unlock func(), err error) {
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
		if time.Since(logged) >= lockLog {
			logf("waiting for another process building into %s (%v so far)", filepath.Dir(path), time.Since(start).Round(time.Second))
			logged = time.Now()
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("waiting %v for another process building into %s: %w", time.Since(start).Round(time.Second), filepath.Dir(path), ctx.Err())
		case <-time.After(lockPoll):
		}
	}
}
