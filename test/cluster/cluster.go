// Package cluster gives tests a real single-node Kubernetes cluster: the
// harness of internal/kubecluster, with the build, start and teardown
// tied to a test's lifetime. It is slow (the first build takes several
// minutes, each start some seconds) and needs packages CI does not
// install yet, so its tests run only when asked to with Env.
package cluster

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/svcproxy/svcproxy/internal/kubeapi"
	"github.com/svcproxy/svcproxy/internal/kubecluster"
	"github.com/svcproxy/svcproxy/internal/netnstest"
)

// SkipEnv names the environment variable that, set to 1, skips the
// cluster tests, which take a few minutes.
const SkipEnv = "SVCPROXY_SKIP_CLUSTER"

// howToRun is what the skip messages say the tests need.
const howToRun = "run as root after apt-get install -y containerd runc containernetworking-plugins debootstrap"

// needed are the host's files the node runs: containerd and runc, and the
// CNI plugins, from Debian's containerd, runc and
// containernetworking-plugins packages; and debootstrap, which builds the
// images' root filesystem.
var needed = []string{
	"/usr/bin/containerd", "/usr/bin/containerd-shim-runc-v2", "/usr/bin/ctr", "/usr/sbin/runc",
	"/usr/lib/cni/bridge", "/usr/lib/cni/host-local", "/usr/lib/cni/loopback", "/usr/sbin/debootstrap",
}

// Require skips t, saying how to run it, unless the test runs as root,
// the packages the node needs are installed and SkipEnv is not 1.
func Require(t testing.TB) {
	t.Helper()
	if os.Getenv(SkipEnv) == "1" {
		t.Skipf("skipping: %s=1", SkipEnv)
	}
	netnstest.RequireRoot(t, "nsenter", "unshare")
	for _, path := range needed {
		if _, err := exec.LookPath(path); err != nil {
			t.Skipf("skipping: %s is missing: %s", filepath.Base(path), howToRun)
		}
	}
}

// Start builds the cluster's binaries if needed, brings the cluster up and
// waits until its node is Ready. The cluster is torn down at t.Cleanup,
// which fails t if anything of it is left behind.
func Start(t testing.TB) *kubecluster.Cluster {
	t.Helper()
	return StartWith(t, kubecluster.Options{})
}

// StartWith is Start with options; their Dir and Logf are the test's.
func StartWith(t testing.TB, opts kubecluster.Options) *kubecluster.Cluster {
	t.Helper()
	Require(t)
	ctx, cancel := testContext(t)
	defer cancel()
	bins, err := kubeapi.Build(ctx, t.Logf, kubecluster.Binaries...)
	if err != nil {
		t.Fatalf("building the cluster (raise go test -timeout if the first build ran out of time): %v", err)
	}
	opts.Dir, opts.Logf = t.TempDir(), t.Logf
	c, err := kubecluster.Start(ctx, bins, opts)
	if err != nil {
		t.Fatalf("starting the cluster: %v\n%s", err, c.LogTails())
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Log(c.LogTails())
		}
		if err := c.Close(); err != nil {
			t.Errorf("tearing the cluster down: %v", err)
		}
	})
	return c
}

// testContext ends 30 s before the test deadline, so that a slow first
// build fails with a useful message instead of go test's panic.
func testContext(t testing.TB) (context.Context, context.CancelFunc) {
	if d, ok := t.(interface{ Deadline() (time.Time, bool) }); ok {
		if deadline, ok := d.Deadline(); ok {
			return context.WithDeadline(context.Background(), deadline.Add(-30*time.Second))
		}
	}
	return context.WithCancel(context.Background())
}
