// Package kubeapi runs a real etcd and kube-apiserver inside a throwaway
// network namespace, so control-loop tests exercise the API machinery the
// proxy meets in production (watches, resource versions, RBAC, server-side
// validation and dry run) rather than a fake clientset.
//
// The servers listen on the namespace's loopback at fixed ports, which
// cannot clash because every test has its own namespace. Processes run
// inside the namespace (such as the svcproxy binary, via ns.Prefix()) use
// Server.Kubeconfig; the test process uses Server.Config, whose dialer
// connects from inside the namespace.
package kubeapi

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/svcproxy/svcproxy/internal/netns"
)

// SkipEnv names the environment variable that, set to 1, skips every test
// needing the apiserver, for quick runs on machines that have root.
const SkipEnv = "SVCPROXY_SKIP_APISERVER"

// ServiceCIDR is the apiserver's --service-cluster-ip-range. The first
// address, KubernetesServiceIP, goes to the default/kubernetes Service.
const ServiceCIDR = "10.0.0.0/24"

// KubernetesServiceIP is the cluster IP of the default/kubernetes Service,
// which the serving certificate also covers.
const KubernetesServiceIP = "10.0.0.1"

// Addresses inside the namespace. Fixed ports are safe because each
// Server has a network namespace, and so a loopback, to itself.
const (
	etcdClientURL = "http://127.0.0.1:2379"
	etcdPeerURL   = "http://127.0.0.1:2380"
	apiserverHost = "127.0.0.1"
	apiserverPort = 6443
)

// Server is a running etcd and kube-apiserver pair inside a network
// namespace. Both stop when the test that started them ends.
type Server struct {
	// Config reaches the apiserver as a system:masters admin from the test
	// process. It dials through the namespace, so use it (or a copy made
	// with rest.CopyConfig) rather than building one from Kubeconfig.
	Config *rest.Config
	// Kubeconfig is the path of a kubeconfig file with the same admin
	// credentials, for processes run inside the namespace.
	Kubeconfig string
	// URL is the apiserver's address inside the namespace.
	URL string

	ns            *netns.NS
	apiserverBin  string
	apiserverArgs []string
	etcd          *process
	apiserver     *process
	etcdLog       string
	apiserverLog  string
}

// Require skips t, saying why, unless it runs as root with ip available
// and SVCPROXY_SKIP_APISERVER is not 1. Call it before netns.New, which
// would otherwise fail rather than skip.
func Require(t testing.TB) {
	t.Helper()
	if os.Getenv(SkipEnv) == "1" {
		t.Skipf("skipping: %s=1", SkipEnv)
	}
	netns.RequireRoot(t)
}

// Start runs etcd and kube-apiserver inside ns and waits until the
// apiserver is ready. Everything stops at t.Cleanup, before ns itself is
// deleted (cleanups run last-registered first). It skips t when not root.
func Start(t testing.TB, ns *netns.NS) *Server {
	t.Helper()
	Require(t)
	etcdBin, apiserverBin := Binaries(t)
	if _, err := ns.Run(nil, "ip", "link", "set", "lo", "up"); err != nil {
		t.Fatalf("bringing up loopback: %v", err)
	}
	dialer, err := newNSDialer(ns)
	if err != nil {
		t.Fatalf("preparing to dial into the namespace: %v", err)
	}
	dir := t.TempDir()
	certs, err := newPKI(dir)
	if err != nil {
		t.Fatalf("generating certificates: %v", err)
	}
	s := &Server{
		URL:          "https://" + apiserverHost + ":" + strconv.Itoa(apiserverPort),
		ns:           ns,
		apiserverBin: apiserverBin,
		etcdLog:      filepath.Join(dir, "etcd.log"),
		apiserverLog: filepath.Join(dir, "kube-apiserver.log"),
	}
	s.Config = restConfig(s.URL, certs, dialer)
	if s.Kubeconfig, err = writeKubeconfig(filepath.Join(dir, "kubeconfig"), s.URL, certs); err != nil {
		t.Fatalf("writing the kubeconfig: %v", err)
	}
	s.apiserverArgs = apiserverArgs(dir, certs)
	t.Cleanup(func() { s.cleanup(t) })

	if s.etcd, err = startProcess(ns, s.etcdLog, etcdBin, etcdArgs(dir)...); err != nil {
		t.Fatalf("starting etcd: %v", err)
	}
	s.waitForEtcd(t, dialer)
	s.startAPIServer(t)
	return s
}

// etcdArgs configures a single-member etcd on the namespace's loopback.
func etcdArgs(dir string) []string {
	return []string{
		"--name=svcproxy-test",
		"--data-dir=" + filepath.Join(dir, "etcd"),
		"--listen-client-urls=" + etcdClientURL,
		"--advertise-client-urls=" + etcdClientURL,
		"--listen-peer-urls=" + etcdPeerURL,
		"--initial-advertise-peer-urls=" + etcdPeerURL,
		"--initial-cluster=svcproxy-test=" + etcdPeerURL,
		// The data is thrown away with the test, so durability buys
		// nothing and fsync would dominate the apiserver's startup.
		"--unsafe-no-fsync",
	}
}

// apiserverArgs configures kube-apiserver against the local etcd.
func apiserverArgs(dir string, certs *pki) []string {
	return []string{
		"--etcd-servers=" + etcdClientURL,
		"--bind-address=" + apiserverHost,
		"--advertise-address=" + apiserverHost,
		"--secure-port=" + strconv.Itoa(apiserverPort),
		// The endpoint reconciler refuses a loopback address, and the
		// apiserver listens on nothing else; so default/kubernetes gets no
		// endpoints; a test that needs them creates an EndpointSlice.
		"--endpoint-reconciler-type=none",
		// Unused while the TLS files are given, but keeps the default
		// (/var/run/kubernetes) from being touched on the host.
		"--cert-dir=" + filepath.Join(dir, "apiserver-certs"),
		"--tls-cert-file=" + certs.servingCert,
		"--tls-private-key-file=" + certs.servingKey,
		"--client-ca-file=" + certs.caCert,
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + certs.serviceAccountPublic,
		"--service-account-signing-key-file=" + certs.serviceAccountKey,
		"--service-cluster-ip-range=" + ServiceCIDR,
		// RBAC, not AlwaysAllow, so tests can check that the proxy's
		// ClusterRole grants what it needs.
		"--authorization-mode=RBAC",
		// No controller-manager creates service accounts or their tokens,
		// so the ServiceAccount plugin would reject every pod.
		"--disable-admission-plugins=ServiceAccount",
		// Priority and fairness only adds startup work for a test server
		// that never sees contention.
		"--enable-priority-and-fairness=false",
	}
}

// startAPIServer starts kube-apiserver and waits for it to be ready.
func (s *Server) startAPIServer(t testing.TB) {
	t.Helper()
	var err error
	if s.apiserver, err = startProcess(s.ns, s.apiserverLog, s.apiserverBin, s.apiserverArgs...); err != nil {
		t.Fatalf("starting kube-apiserver: %v", err)
	}
	s.waitForAPIServer(t)
}

// Stop stops the apiserver, leaving etcd and its data in place, so that a
// test can observe how clients behave while the API is unreachable.
func (s *Server) Stop(t testing.TB) {
	t.Helper()
	if s.apiserver == nil {
		return
	}
	if err := s.apiserver.stop(); err != nil {
		t.Fatalf("stopping kube-apiserver: %v", err)
	}
}

// Restart starts the apiserver again on the same address, certificates and
// etcd data, stopping it first if it is still running, and waits until it
// is ready.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.Stop(t)
	s.startAPIServer(t)
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

// cleanup stops the apiserver and then etcd, which it needs to shut down
// cleanly, and shows the end of their logs if the test failed.
func (s *Server) cleanup(t testing.TB) {
	for _, p := range []*process{s.apiserver, s.etcd} {
		if p == nil {
			continue
		}
		if err := p.stop(); err != nil {
			t.Errorf("cleaning up: %v", err)
		}
	}
	if t.Failed() {
		s.logTails(t)
	}
}

// logTails logs the end of both servers' output, to explain a failure.
func (s *Server) logTails(t testing.TB) {
	t.Helper()
	for _, path := range []string{s.etcdLog, s.apiserverLog} {
		t.Logf("last lines of %s:\n%s", filepath.Base(path), logTail(path, 40))
	}
}

// String describes the server for log messages.
func (s *Server) String() string {
	return fmt.Sprintf("kube-apiserver %s in network namespace %s", s.URL, s.ns.Name)
}
