// Package kubeapi gives tests a real etcd and kube-apiserver inside a
// throwaway network namespace: the harness of internal/kubeapi, with the
// build, start and cleanup tied to a test's lifetime.
package kubeapi

import (
	"context"
	"os"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/svcproxy/svcproxy/internal/kubeapi"
	"github.com/svcproxy/svcproxy/internal/netns"
	"github.com/svcproxy/svcproxy/internal/netnstest"
)

// SkipEnv names the environment variable that, set to 1, skips every test
// needing the apiserver, for quick runs on machines that have root.
const SkipEnv = "SVCPROXY_SKIP_APISERVER"

// ServiceCIDR and KubernetesServiceIP are the apiserver's service range
// and the cluster IP of default/kubernetes in it.
const (
	ServiceCIDR         = kubeapi.ServiceCIDR
	KubernetesServiceIP = kubeapi.KubernetesServiceIP
)

// Server is a running etcd and kube-apiserver pair; both stop when the
// test that started them ends.
type Server struct {
	*kubeapi.Server
}

// Require skips t, saying why, unless it runs as root with ip available
// and SVCPROXY_SKIP_APISERVER is not 1. Call it before netns.New, which
// would otherwise fail rather than skip.
func Require(t testing.TB) {
	t.Helper()
	if os.Getenv(SkipEnv) == "1" {
		t.Skipf("skipping: %s=1", SkipEnv)
	}
	netnstest.RequireRoot(t)
}

// Start builds the servers if needed, runs them inside ns and waits until
// the apiserver is ready. Everything stops at t.Cleanup, before ns itself
// is deleted (cleanups run last-registered first). It skips t when not
// root.
func Start(t testing.TB, ns *netns.NS) *Server {
	t.Helper()
	Require(t)
	ctx, cancel := testContext(t)
	defer cancel()
	bins, err := kubeapi.Build(ctx, t.Logf, kubeapi.Etcd, kubeapi.APIServer)
	if err != nil {
		t.Fatalf("building the servers (raise go test -timeout if the first build ran out of time): %v", err)
	}
	s, err := kubeapi.Start(ctx, ns, bins, kubeapi.Options{Dir: t.TempDir(), Logf: t.Logf})
	if s != nil {
		t.Cleanup(func() {
			if err := s.Close(); err != nil {
				t.Errorf("cleaning up: %v", err)
			}
			if t.Failed() {
				t.Log(s.LogTails())
			}
		})
	}
	if err != nil {
		t.Fatalf("starting the API server (its log follows at the end): %v", err)
	}
	return &Server{s}
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

// Stop stops the apiserver, leaving etcd and its data in place.
func (s *Server) Stop(t testing.TB) {
	t.Helper()
	if err := s.Server.Stop(); err != nil {
		t.Fatal(err)
	}
}

// Restart starts the apiserver again on the same address, certificates
// and etcd data, and waits until it is ready.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	ctx, cancel := testContext(t)
	defer cancel()
	if err := s.Server.Restart(ctx); err != nil {
		t.Fatalf("restarting: %v", err)
	}
}

// Client returns a clientset that reaches the apiserver from the test
// process, dialing through the server's network namespace.
func (s *Server) Client(t testing.TB) kubernetes.Interface {
	t.Helper()
	c, err := kubernetes.NewForConfig(s.Config)
	if err != nil {
		t.Fatalf("creating a clientset: %v", err)
	}
	return c
}
