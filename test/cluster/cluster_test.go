package cluster

import (
	"context"
	"net/netip"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/svcproxy/svcproxy/internal/kubecluster"
)

// Address plan (docs/test-addresses.md): the node is node-a,
// 192.168.0.10; its pods get addresses from 10.1.1.0/24, and the bridge
// has 10.1.1.1.
var podCIDR = netip.MustParsePrefix(kubecluster.PodCIDR)

// TestClusterRunsAPod brings the cluster up, runs a pod of the pause
// image, sees it Running with an address from the bridge's range, and
// checks that the teardown leaves nothing behind.
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
		ObjectMeta: metav1.ObjectMeta{Name: "pause", Namespace: "default"},
		Spec: v1.PodSpec{Containers: []v1.Container{{
			Name:            "pause",
			Image:           kubecluster.PauseImage,
			ImagePullPolicy: v1.PullNever,
		}}},
	}
	if _, err := client.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating the pod: %v", err)
	}
	start := time.Now()
	waitFor(ctx, t, "the pod to run", func() (bool, error) {
		got, err := client.CoreV1().Pods("default").Get(ctx, "pause", metav1.GetOptions{})
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

	if err := c.Close(); err != nil {
		t.Fatalf("tearing the cluster down: %v", err)
	}
	if left := c.Leftovers(); len(left) > 0 {
		t.Errorf("left behind after Close: %v", left)
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
