package filelock

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"
)

// TestLockIsExclusive takes the lock twice: the second waits while the
// first holds it, gives up when its context ends, and gets the lock once
// the first lets go. flock locks belong to an open file, so one process
// shows what two would.
func TestLockIsExclusive(t *testing.T) {
	path := filepath.Join(t.TempDir(), "build.lock")
	logf := func(string, ...any) {}
	unlock, err := Lock(context.Background(), logf, path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	if _, err := Lock(ctx, logf, path); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("second Lock while the first holds it: %v, want it to wait until its context ends", err)
	}
	unlock()
	again, err := Lock(context.Background(), logf, path)
	if err != nil {
		t.Fatalf("Lock after unlock: %v", err)
	}
	again()
}

// TestLockReportsAnUnusablePath fails with the path, not a wait.
func TestLockReportsAnUnusablePath(t *testing.T) {
	_, err := Lock(context.Background(), func(string, ...any) {}, filepath.Join(t.TempDir(), "missing", "build.lock"))
	if err == nil {
		t.Fatal("Lock in a missing directory succeeded")
	}
}
