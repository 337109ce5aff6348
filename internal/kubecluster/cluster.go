// Package kubecluster runs a real single-node Kubernetes cluster for
// tests: internal/kubeapi's etcd and kube-apiserver, a controller-manager
// and a scheduler, and one node made of containerd (with runc and the CNI
// bridge plugin) and a kubelet, all of it in a network namespace and a
// private mount namespace of its own, so that nothing of the cluster
// reaches the host and Close leaves nothing behind: no process, mount,
// cgroup or network namespace.
//
// No image can be pulled: the node has only PauseImage and EchoImage,
// built from ./pause and ./echo and imported by Start.
package kubecluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/svcproxy/svcproxy/internal/daemon"
	"github.com/svcproxy/svcproxy/internal/kubeapi"
	"github.com/svcproxy/svcproxy/internal/netns"
)

// The node. Its address and pods come from docs/test-addresses.md: node-a
// is 192.168.0.10, and its pods are in 10.1.1.0/24 of the cluster CIDR
// 10.1.0.0/16, the first address going to the bridge.
const (
	NodeName = "node-a"
	NodeIP   = "192.168.0.10"
	PodCIDR  = "10.1.1.0/24"
)

// DNSServiceIP is the cluster IP of the kube-dns Service, which pods get
// as their name server: the tenth address of kubeapi.ServiceCIDR, as
// kubeadm takes the tenth of its own.
const DNSServiceIP = "10.0.0.10"

// Binaries are what Start runs, and kubectl for Cluster.Kubectl; build
// them with kubeapi.Build.
var Binaries = []kubeapi.Binary{
	kubeapi.Etcd, kubeapi.APIServer, kubeapi.ControllerManager, kubeapi.Scheduler, kubeapi.Kubelet, kubeapi.Kubectl,
}

// Options configure a Cluster.
type Options struct {
	// Dir holds all of the cluster's state: certificates, etcd's data,
	// containerd's images and containers, the kubelet's pods, and every
	// log. Required; a test's t.TempDir.
	Dir string
	// Logf receives progress messages; nil discards them.
	Logf kubeapi.Logf
	// IPTables is the host's iptables variant, IPTablesNFT (Debian's
	// default, and so the default) or IPTablesLegacy: the one `iptables`
	// runs for the node's processes, where the kubelet puts its
	// KUBE-IPTABLES-HINT chain for proxies to detect.
	IPTables string
}

// Cluster is a running single-node cluster. Close stops it.
type Cluster struct {
	// API is the cluster's apiserver; API.Config reaches it from the
	// calling process as an admin.
	API *kubeapi.Server
	// NetNS is the node's network namespace, which the apiserver shares.
	NetNS *netns.NS

	dir              string
	logf             kubeapi.Logf
	bins             map[kubeapi.Binary]string
	iptables         string
	iptablesDir      string // links to the iptables variant, first on PATH
	holder           *holder
	cgroupRoot       string // set once created
	containerdSocket string
	containerd       *daemon.Daemon
	kubelet          *daemon.Daemon
	controller       *daemon.Daemon
	scheduler        *daemon.Daemon
	closed           bool
}

// Start brings the cluster up from bins (see Binaries) and waits until
// the node is Ready. It first removes what clusters of killed tests left
// behind (see removeStale). On error it has already closed what it
// started, and returns the Cluster anyway so that LogTails can explain
// the failure.
func Start(ctx context.Context, bins map[kubeapi.Binary]string, opts Options) (_ *Cluster, err error) {
	c := &Cluster{dir: opts.Dir, logf: opts.Logf, bins: bins, iptables: opts.IPTables}
	if c.iptables == "" {
		c.iptables = IPTablesNFT
	}
	if c.logf == nil {
		c.logf = func(string, ...any) {}
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, c.Close())
		}
	}()
	start := time.Now()
	for _, step := range []struct {
		what string
		run  func(context.Context) error
	}{
		{"removing clusters of tests that died", c.removeStale},
		{"creating the network namespace", c.createNetNS},
		{"starting the API server", c.startAPI},
		{"entering the node's namespaces", c.startHolder},
		{"creating the cgroup root", c.createCgroupRoot},
		{"choosing the host's iptables variant", c.chooseIPTables},
		{"starting containerd", c.startContainerd},
		{"importing the images", c.importImages},
		{"starting the kubelet", c.startKubelet},
		{"starting the controllers", c.startControllers},
		{"waiting for the node to be Ready", c.waitForNode},
	} {
		stepStart := time.Now()
		if err := step.run(ctx); err != nil {
			return c, fmt.Errorf("%s: %w", step.what, err)
		}
		c.logf("cluster: %s took %v", step.what, time.Since(stepStart).Round(time.Millisecond))
	}
	c.logf("cluster: node %s Ready %v after start", NodeName, time.Since(start).Round(time.Millisecond))
	return c, nil
}

// mkdir creates a directory in the cluster's directory and returns its
// path.
func (c *Cluster) mkdir(elem ...string) (string, error) {
	dir := filepath.Join(append([]string{c.dir}, elem...)...)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("creating %s: %w", dir, err)
	}
	return dir, nil
}

// removeStale removes the remains of clusters whose tests were killed
// before they could tear them down.
func (c *Cluster) removeStale(ctx context.Context) error {
	return removeStale(ctx, c.logf)
}

// createNetNS creates the node's network namespace and gives the node its
// address. It sits on the loopback device: the node needs an address of
// its own for the kubelet to report, but no link to anywhere, and a dummy
// device is not an option on kernels built without that driver, as some
// CI machines are.
func (c *Cluster) createNetNS(context.Context) error {
	ns, err := netns.Create(ownNamePrefix())
	if err != nil {
		return err
	}
	c.NetNS = ns
	if _, err := ns.Run(nil, "ip", "link", "set", "lo", "up"); err != nil {
		return err
	}
	if _, err := ns.Run(nil, "ip", "address", "add", NodeIP+"/32", "dev", "lo"); err != nil {
		return err
	}
	// A node has a default route, and connections from the node to a
	// cluster IP need one: the route is looked up before the service
	// proxy's DNAT in OUTPUT, which then reroutes them to the pod. Out of
	// loopback, anything not translated goes nowhere.
	_, err = ns.Run(nil, "ip", "route", "add", "default", "dev", "lo")
	return err
}

// startAPI starts etcd and kube-apiserver, configured for nodes and
// served at the node's address, which pods reach through the bridge.
func (c *Cluster) startAPI(ctx context.Context) error {
	dir, err := c.mkdir("apiserver")
	if err != nil {
		return err
	}
	c.API, err = kubeapi.Start(ctx, c.NetNS, c.bins, kubeapi.Options{Dir: dir, Logf: c.logf, Nodes: true, Address: NodeIP})
	return err
}

// startHolder starts the process whose namespaces the node runs in.
func (c *Cluster) startHolder(context.Context) error {
	dir, err := c.mkdir("host")
	if err != nil {
		return err
	}
	c.holder, err = startHolder(c.NetNS, dir)
	return err
}

// chooseIPTables links the iptables commands to the host's variant.
func (c *Cluster) chooseIPTables(context.Context) error {
	dir, err := c.mkdir("iptables-" + c.iptables)
	if err != nil {
		return err
	}
	c.iptablesDir = dir
	return linkIPTables(dir, c.iptables)
}

// createCgroupRoot creates the cgroup the kubelet puts its pods under,
// named after the network namespace, which is unique on the host.
func (c *Cluster) createCgroupRoot(context.Context) error {
	root := "/" + c.NetNS.Name
	if err := createCgroupRoot(root); err != nil {
		// Remove whatever part was made.
		return errors.Join(err, removeCgroupRoot(root))
	}
	c.cgroupRoot = root
	return nil
}
