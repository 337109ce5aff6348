package kubecluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestOwnerPID checks which names removeStale may consider its own: only
// those with the prefix, a PID and a suffix.
func TestOwnerPID(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		want int
	}{
		{name: "cluster", in: "svcproxy-cluster-4242-1a2b3c4d", want: 4242},
		{name: "another prefix", in: "svcproxy-test-4242-1a2b3c4d", want: 0},
		{name: "no pid", in: "svcproxy-cluster-1a2b3c4d", want: 0},
		{name: "no suffix", in: "svcproxy-cluster-4242", want: 0},
		{name: "pid zero", in: "svcproxy-cluster-0-1a2b3c4d", want: 0},
		{name: "negative pid", in: "svcproxy-cluster--1-1a2b3c4d", want: 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ownerPID(tc.in); got != tc.want {
				t.Errorf("ownerPID(%q) = %d, want %d", tc.in, got, tc.want)
			}
		})
	}
	if got := ownNamePrefix(); ownerPID(got+"1a2b3c4d") == 0 {
		t.Errorf("ownNamePrefix() = %q: its names have no owner", got)
	}
}

// TestRemoveStaleConcurrently leaves the network namespace of a cluster
// whose process died, then has several clusters start at once, as
// parallel tests do: each removes what is stale without tripping over
// the others, and the namespace is gone.
func TestRemoveStaleConcurrently(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to create network namespaces")
	}
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("%s%d-%s", namePrefix, dead.Process.Pid, "0test000")
	if alive(dead.Process.Pid) {
		t.Skipf("PID %d was reused", dead.Process.Pid)
	}
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v: %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", name).Run() })
	errs := make(chan error, 4)
	for range cap(errs) {
		go func() { errs <- removeStale(context.Background(), t.Logf) }()
	}
	for range cap(errs) {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	if _, err := os.Stat(filepath.Join(netnsDir, name)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s left: %v", name, err)
	}
}
