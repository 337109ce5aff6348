// Package kubeapi runs a real etcd and kube-apiserver inside a network
// namespace, so that control-loop tests and `svcproxy bench` exercise the
// API machinery a proxy meets in production (watches, resource versions,
// RBAC, server-side validation) rather than a fake clientset.
//
// The servers listen on the namespace's loopback at fixed ports, which
// cannot clash because every Server has its own namespace. Processes run
// inside that namespace use Server.Kubeconfig; the calling process uses
// Server.Config, whose dialer connects from inside the namespace; and
// Forward makes the apiserver reachable on the loopback of other
// namespaces, for proxies that each need a namespace of their own.
package kubeapi

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strconv"

	"k8s.io/client-go/rest"

	"github.com/svcproxy/svcproxy/internal/daemon"
	"github.com/svcproxy/svcproxy/internal/netns"
)

// ServiceCIDR is the default --service-cluster-ip-range. The first
// address, KubernetesServiceIP, goes to the default/kubernetes Service.
const ServiceCIDR = "10.0.0.0/24"

// KubernetesServiceIP is the cluster IP of the default/kubernetes Service
// in ServiceCIDR, which the serving certificate also covers.
const KubernetesServiceIP = "10.0.0.1"

// Addresses inside the namespace. Fixed ports are safe because each
// Server has a network namespace, and so a loopback, to itself.
const (
	etcdClientURL = "http://127.0.0.1:2379"
	etcdPeerURL   = "http://127.0.0.1:2380"
	apiserverHost = "127.0.0.1"
	apiserverPort = 6443
)

// Options configure a Server.
type Options struct {
	// Dir holds the certificates, data and logs. Required.
	Dir string
	// ServiceCIDR is the --service-cluster-ip-range; ServiceCIDR when
	// empty.
	ServiceCIDR string
	// Logf receives progress messages; nil discards them.
	Logf Logf
	// Nodes prepares the apiserver for real kubelets and controllers, as
	// internal/kubecluster runs them: the Node authorizer beside RBAC,
	// privileged pods, the ServiceAccount admission plugin (a
	// controller-manager now creates the accounts and their tokens), and
	// kubelets reached at their InternalIP with a client certificate of
	// the apiserver's own, so that logs and exec work.
	Nodes bool
	// Address is an address of the namespace at which the apiserver is
	// also served and which it advertises, so that it becomes the
	// endpoint of the kubernetes Service and pods reach it the in-cluster
	// way. Empty: the apiserver serves only loopback, which the endpoint
	// reconciler refuses, so the kubernetes Service has no endpoints and a
	// test that needs them creates an EndpointSlice.
	Address string
}

// Server is a running etcd and kube-apiserver pair inside a network
// namespace. Close stops both.
type Server struct {
	// Config reaches the apiserver as a system:masters admin from the
	// calling process. It dials through the server's network namespace,
	// so use it (or a copy made with rest.CopyConfig) rather than building
	// one from Kubeconfig.
	Config *rest.Config
	// Kubeconfig is the path of a kubeconfig file with the same admin
	// credentials, for processes run inside the namespace, or in one the
	// apiserver is forwarded into.
	Kubeconfig string
	// URL is the apiserver's address inside the namespace.
	URL string

	ns            *netns.NS
	dialer        *nsDialer
	logf          Logf
	apiserverBin  string
	apiserverArgs []string
	etcd          *daemon.Daemon
	apiserver     *daemon.Daemon
	etcdLog       string
	apiserverLog  string
	certs         *pki
}

// Start runs etcd and kube-apiserver (from bins, see Build) inside ns and
// waits until the apiserver is ready. On error nothing is left running.
func Start(ctx context.Context, ns *netns.NS, bins map[Binary]string, opts Options) (_ *Server, err error) {
	if _, err := ns.Run(nil, "ip", "link", "set", "lo", "up"); err != nil {
		return nil, fmt.Errorf("bringing up loopback: %w", err)
	}
	dialer, err := newNSDialer(ns)
	if err != nil {
		return nil, fmt.Errorf("preparing to dial into the namespace: %w", err)
	}
	certs, err := newPKI(opts.Dir, opts.Address)
	if err != nil {
		return nil, fmt.Errorf("generating certificates: %w", err)
	}
	s := &Server{
		URL:          "https://" + apiserverHost + ":" + strconv.Itoa(apiserverPort),
		ns:           ns,
		dialer:       dialer,
		logf:         opts.Logf,
		apiserverBin: bins[APIServer],
		etcdLog:      filepath.Join(opts.Dir, "etcd.log"),
		apiserverLog: filepath.Join(opts.Dir, "kube-apiserver.log"),
		certs:        certs,
	}
	if s.logf == nil {
		s.logf = func(string, ...any) {}
	}
	s.Config = restConfig(s.URL, certs, dialer)
	if s.Kubeconfig, err = writeKubeconfig(filepath.Join(opts.Dir, "kubeconfig"), s.URL, certs); err != nil {
		return nil, err
	}
	s.apiserverArgs = apiserverArgs(opts, certs)
	defer func() {
		if err != nil {
			err = errors.Join(err, s.Close())
		}
	}()
	if s.etcd, err = startProcess(ns, s.etcdLog, bins[Etcd], etcdArgs(opts.Dir)...); err != nil {
		return s, fmt.Errorf("starting etcd: %w", err)
	}
	if err := s.waitForEtcd(ctx); err != nil {
		return s, err
	}
	return s, s.startAPIServer(ctx)
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
func apiserverArgs(opts Options, certs *pki) []string {
	cidr := opts.ServiceCIDR
	if cidr == "" {
		cidr = ServiceCIDR
	}
	args := append(addressArgs(opts.Address),
		"--etcd-servers="+etcdClientURL,
		"--secure-port="+strconv.Itoa(apiserverPort),
		// Unused while the TLS files are given, but keeps the default
		// (/var/run/kubernetes) from being touched on the host.
		"--cert-dir="+filepath.Join(opts.Dir, "apiserver-certs"),
		"--tls-cert-file="+certs.servingCert,
		"--tls-private-key-file="+certs.servingKey,
		"--client-ca-file="+certs.caCert,
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file="+certs.serviceAccountPublic,
		"--service-account-signing-key-file="+certs.serviceAccountKey,
		"--service-cluster-ip-range="+cidr,
		// Priority and fairness only adds startup work for a server that
		// never sees contention, and would throttle a benchmark's writes.
		"--enable-priority-and-fairness=false",
		// As on a kubeadm cluster: node components such as a service
		// proxy, or its init container, run privileged.
		"--allow-privileged=true",
	)
	if opts.Nodes {
		return append(args, nodeArgs(certs)...)
	}
	return append(args,
		// RBAC, not AlwaysAllow, so tests can check that the proxy's
		// ClusterRole grants what it needs.
		"--authorization-mode=RBAC",
		// No controller-manager creates service accounts or their tokens,
		// so the ServiceAccount plugin would reject every pod.
		"--disable-admission-plugins=ServiceAccount",
	)
}

// addressArgs are the flags that place the apiserver on the network, as
// Options.Address says.
func addressArgs(address string) []string {
	if address == "" {
		return []string{
			"--bind-address=" + apiserverHost,
			"--advertise-address=" + apiserverHost,
			"--endpoint-reconciler-type=none",
		}
	}
	// Every address of the namespace, so loopback keeps working for the
	// test process and the components configured with URL.
	return []string{"--bind-address=0.0.0.0", "--advertise-address=" + address}
}

// nodeArgs are the flags of Options.Nodes.
func nodeArgs(certs *pki) []string {
	return []string{
		// The Node authorizer lets each kubelet, with its system:node
		// certificate, read what its own pods need and nothing else.
		"--authorization-mode=Node,RBAC",
		// Node names do not resolve, so logs and exec reach the kubelet at
		// the address it reports.
		"--kubelet-preferred-address-types=InternalIP",
		"--kubelet-client-certificate=" + certs.kubeletClientCert,
		"--kubelet-client-key=" + certs.kubeletClientKey,
	}
}

// startAPIServer starts kube-apiserver and waits for it to be ready.
func (s *Server) startAPIServer(ctx context.Context) error {
	var err error
	if s.apiserver, err = startProcess(s.ns, s.apiserverLog, s.apiserverBin, s.apiserverArgs...); err != nil {
		return fmt.Errorf("starting kube-apiserver: %w", err)
	}
	return s.waitForAPIServer(ctx)
}

// Stop stops the apiserver, leaving etcd and its data in place, so that a
// test can observe how clients behave while the API is unreachable.
func (s *Server) Stop() error {
	if s.apiserver == nil {
		return nil
	}
	if err := s.apiserver.Stop(stopGrace); err != nil {
		return fmt.Errorf("stopping kube-apiserver: %w", err)
	}
	return nil
}

// Restart starts the apiserver again on the same address, certificates and
// etcd data, stopping it first if it is still running, and waits until it
// is ready.
func (s *Server) Restart(ctx context.Context) error {
	if err := s.Stop(); err != nil {
		return err
	}
	return s.startAPIServer(ctx)
}

// Close stops the apiserver and then etcd, which it needs to shut down
// cleanly. Calling it again is harmless.
func (s *Server) Close() error {
	var errs []error
	for _, p := range []*daemon.Daemon{s.apiserver, s.etcd} {
		if p == nil {
			continue
		}
		if err := p.Stop(stopGrace); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// LogTails returns the end of both servers' logs, to explain a failure.
func (s *Server) LogTails() string {
	var out string
	for _, path := range []string{s.etcdLog, s.apiserverLog} {
		out += fmt.Sprintf("last lines of %s:\n%s\n", filepath.Base(path), daemon.LogTail(path, 40))
	}
	return out
}

// Dialer returns a dialer that connects from inside ns, for reaching
// servers on another namespace's loopback (a proxy's metrics, say).
func Dialer(ns *netns.NS) (func(ctx context.Context, network, address string) (net.Conn, error), error) {
	d, err := newNSDialer(ns)
	if err != nil {
		return nil, err
	}
	return d.DialContext, nil
}

// String describes the server for log messages.
func (s *Server) String() string {
	return fmt.Sprintf("kube-apiserver %s in network namespace %s", s.URL, s.ns.Name)
}
