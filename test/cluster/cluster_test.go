package cluster

import (
	"bufio"
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/svcproxy/svcproxy/internal/kubeapi"
	"github.com/svcproxy/svcproxy/internal/kubecluster"
)

// Address plan (docs/test-addresses.md): the node is node-a,
// 192.168.0.10; its pods get addresses from 10.1.1.0/24, and the bridge,
// the node side of every pod's link, has 10.1.1.1.
var (
	podCIDR = netip.MustParsePrefix(kubecluster.PodCIDR)
	bridge  = podCIDR.Addr().Next()
)

// TestClusterRunsAPod brings the cluster up, runs a pod of the echo image
// (in a sandbox of the pause image), sees it Running with an address from
// the bridge's range, connects to it from the node, and checks that the
// teardown leaves nothing behind.
func TestClusterRunsAPod(t *testing.T) {
	c := Start(t)
	client, err := kubernetes.NewForConfig(c.API.Config)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	waitFor(ctx, t, "the default service account", func() (bool, error) {
		_, err := client.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{})
		return err == nil, nil
	})
	pod := &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "echo", Namespace: "default"},
		Spec: v1.PodSpec{Containers: []v1.Container{{
			Name:            "echo",
			Image:           kubecluster.EchoImage,
			ImagePullPolicy: v1.PullNever,
			Ports:           []v1.ContainerPort{{ContainerPort: kubecluster.EchoPort}},
		}}},
	}
	if _, err := client.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating the pod: %v", err)
	}
	start := time.Now()
	waitFor(ctx, t, "the pod to run", func() (bool, error) {
		got, err := client.CoreV1().Pods("default").Get(ctx, "echo", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		pod = got
		return got.Status.Phase == v1.PodRunning, nil
	})
	t.Logf("pod Running %v after its creation", time.Since(start).Round(time.Millisecond))
	ip, err := netip.ParseAddr(pod.Status.PodIP)
	if err != nil || !podCIDR.Contains(ip) {
		t.Errorf("pod IP %q: want an address in %v", pod.Status.PodIP, podCIDR)
	}
	if pod.Spec.NodeName != kubecluster.NodeName {
		t.Errorf("pod runs on %q, want %q", pod.Spec.NodeName, kubecluster.NodeName)
	}
	if ip.IsValid() {
		checkEcho(ctx, t, c, netip.AddrPortFrom(ip, kubecluster.EchoPort))
	}
	checkLogs(ctx, t, client)
	checkKubernetesEndpoint(ctx, t, client)

	if err := c.Close(); err != nil {
		t.Fatalf("tearing the cluster down: %v", err)
	}
	if left := c.Leftovers(); len(left) > 0 {
		t.Errorf("left behind after Close: %v", left)
	}
}

// checkLogs reads the echo pod's log, which the apiserver fetches from
// the kubelet with its client certificate: what exec and logs need.
func checkLogs(ctx context.Context, t *testing.T, client kubernetes.Interface) {
	t.Helper()
	logs, err := client.CoreV1().Pods("default").GetLogs("echo", &v1.PodLogOptions{}).DoRaw(ctx)
	if err != nil {
		t.Fatalf("reading the pod's logs: %v", err)
	}
	if want := fmt.Sprintf("serving on [::]:%d", kubecluster.EchoPort); !strings.Contains(string(logs), want) {
		t.Errorf("pod logs = %q, want a line %q", logs, want)
	}
}

// checkKubernetesEndpoint checks that the kubernetes Service points at the
// apiserver on the node's address, where pods reach it, as a service proxy
// in a pod does through the Service's cluster IP.
func checkKubernetesEndpoint(ctx context.Context, t *testing.T, client kubernetes.Interface) {
	t.Helper()
	want := kubecluster.NodeIP + ":6443"
	waitFor(ctx, t, "the kubernetes Service's endpoint "+want, func() (bool, error) {
		slice, err := client.DiscoveryV1().EndpointSlices("default").Get(ctx, "kubernetes", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		var got []string
		for _, ep := range slice.Endpoints {
			for _, p := range slice.Ports {
				if len(ep.Addresses) > 0 && p.Port != nil {
					got = append(got, fmt.Sprintf("%s:%d", ep.Addresses[0], *p.Port))
				}
			}
		}
		return len(got) == 1 && got[0] == want, fmt.Errorf("endpoints %v", got)
	})
}

// checkEcho connects to the echo server at addr from the node and checks
// its answer: the pod saw the connection on its own address, coming from
// the bridge, so it crossed the pod network untranslated.
func checkEcho(ctx context.Context, t *testing.T, c *kubecluster.Cluster, addr netip.AddrPort) {
	t.Helper()
	dial, err := kubeapi.Dialer(c.NetNS)
	if err != nil {
		t.Fatal(err)
	}
	dialCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	conn, err := dial(dialCtx, "tcp", addr.String())
	if err != nil {
		t.Fatalf("connecting to the pod from the node: %v", err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		t.Fatalf("reading the pod's answer: %v", err)
	}
	var server, client string
	if _, err := fmt.Sscan(line, &server, &client); err != nil {
		t.Fatalf("pod answered %q: %v", line, err)
	}
	clientAddr, err := netip.ParseAddrPort(client)
	if server != addr.String() || err != nil || clientAddr.Addr() != bridge {
		t.Errorf("pod answered %q, want %v and a client port on %v", strings.TrimSpace(line), addr, bridge)
	}
}

// waitFor polls done until it reports true, failing t with the last
// error or state when ctx ends.
func waitFor(ctx context.Context, t *testing.T, what string, done func() (bool, error)) {
	t.Helper()
	var lastErr error
	for {
		ok, err := done()
		if ok {
			return
		}
		lastErr = err
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %v (last error: %v)", what, ctx.Err(), lastErr)
		case <-time.After(250 * time.Millisecond):
		}
	}
}
