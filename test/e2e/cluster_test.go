// Package e2e runs svcproxy run against a real kube-apiserver and etcd,
// inside network namespaces, and checks what it does with real traffic.
package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/svcproxy/svcproxy/internal/netnstest"
	"github.com/svcproxy/svcproxy/internal/testnet"
	"github.com/svcproxy/svcproxy/test/kubeapi"
)

// Address plan: node-a is 192.168.0.10; pods 10.1.1.5 (pod-a) and
// 10.1.2.6 (pod-b) run on it, 10.1.3.7 (pod-c) "on node-b"; 10.1.9.9
// (pod-z) is the client. Service cluster IPs come from the API server's
// 10.0.0.0/24. External clients are 203.0.113.7.
var (
	podA = netip.MustParseAddr("10.1.1.5")
	podB = netip.MustParseAddr("10.1.2.6")
	podC = netip.MustParseAddr("10.1.3.7")
	podZ = netip.MustParseAddr("10.1.9.9")

	externalClient = netip.MustParseAddr("203.0.113.7")
)

// Ports every pod serves.
const (
	echoPort   = 8080
	streamPort = 9000
)

// svcproxyBin is built once by TestMain.
var svcproxyBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "svcproxy-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	svcproxyBin = filepath.Join(dir, "svcproxy")
	if out, err := exec.Command("go", "build", "-o", svcproxyBin, "../../cmd/svcproxy").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building svcproxy: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// cluster is one node under test: its namespaces, the API server, and
// svcproxy running against it.
type cluster struct {
	topo   *testnet.Topology
	api    *kubeapi.Server
	client kubernetes.Interface
	mode   string
	// env is added to svcproxy's environment.
	env   []string
	proxy *exec.Cmd
	logs  *bytes.Buffer
}

func newCluster(t *testing.T, mode string, env ...string) *cluster {
	t.Helper()
	netnstest.RequireRoot(t, "nft", "iptables-legacy", "iptables-nft")
	kubeapi.Require(t)
	topo := testnet.New(t,
		testnet.PodSpec{Name: "pod-a", IPv4: podA}, testnet.PodSpec{Name: "pod-b", IPv4: podB},
		testnet.PodSpec{Name: "pod-c", IPv4: podC}, testnet.PodSpec{Name: "pod-z", IPv4: podZ})
	for _, name := range []string{"pod-a", "pod-b", "pod-c"} {
		topo.Pods[name].StartEcho(t,
			testnet.Port{Proto: testnet.TCP, Port: echoPort}, testnet.Port{Proto: testnet.UDP, Port: echoPort},
			testnet.Port{Proto: testnet.Stream, Port: streamPort})
	}
	topo.AddExternalClient(t, externalClient)
	api := kubeapi.Start(t, topo.Node)
	c := &cluster{topo: topo, api: api, client: api.Client(t), mode: mode, env: env}
	c.createNode(t)
	c.startProxy(t)
	t.Cleanup(func() { c.stopProxy(t) })
	return c
}

func (c *cluster) createNode(t *testing.T) {
	t.Helper()
	node := &v1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "node-a", Labels: map[string]string{"topology.kubernetes.io/zone": "zone-a"}},
	}
	created, err := c.client.CoreV1().Nodes().Create(context.Background(), node, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	created.Status.Addresses = []v1.NodeAddress{{Type: v1.NodeInternalIP, Address: testnet.NodeIPv4.String()}}
	if _, err := c.client.CoreV1().Nodes().UpdateStatus(context.Background(), created, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// startProxy runs `svcproxy run` in the node namespace.
func (c *cluster) startProxy(t *testing.T) {
	t.Helper()
	c.logs = &bytes.Buffer{}
	argv := append(c.topo.Node.Prefix(), svcproxyBin, "run",
		"--kubeconfig", c.api.Kubeconfig, "--hostname-override", "node-a", "--proxy-mode", c.mode,
		"--cluster-cidr", "10.1.0.0/16", "--min-sync-period", "100ms", "--sync-period", proxySyncPeriod,
		"--healthz-bind-address", "127.0.0.1:10256", "--metrics-bind-address", "127.0.0.1:10249",
		// The node is a network namespace: conntrack's table size is the
		// host's to set, not a test's.
		"--conntrack-max-per-core", "0")
	c.proxy = exec.Command(argv[0], argv[1:]...)
	c.proxy.Env = append(os.Environ(), c.env...)
	c.proxy.Stdout, c.proxy.Stderr = c.logs, c.logs
	if err := c.proxy.Start(); err != nil {
		t.Fatalf("starting svcproxy run: %v", err)
	}
}

// stopProxy sends SIGTERM, as the kubelet does, and waits.
func (c *cluster) stopProxy(t *testing.T) {
	t.Helper()
	if c.proxy == nil {
		return
	}
	_ = c.proxy.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- c.proxy.Wait() }()
	select {
	case err := <-done:
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			t.Errorf("svcproxy run: %v", err)
		}
	case <-time.After(10 * time.Second):
		_ = c.proxy.Process.Kill()
		<-done
		t.Error("svcproxy run did not exit within 10 s of SIGTERM")
	}
	if t.Failed() {
		t.Logf("svcproxy run log:\n%s", c.logs.String())
	}
	c.proxy = nil
}

// eventually retries check every 50 ms until it succeeds or budget runs
// out, then fails with its last error. The budgets are the promises the
// tests check ("reflected within 2 seconds"), not measurements.
func eventually(t *testing.T, budget time.Duration, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(budget)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v: %v", what, budget, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
