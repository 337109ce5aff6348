package watch

import (
	"context"
	"sync"
	"testing"
	"time"

	networking "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/cache"

	"github.com/svcproxy/svcproxy/pkg/model"
)

// waitTimeout bounds how long a test waits for informers; generous so a
// loaded machine does not fail it.
const waitTimeout = 30 * time.Second

// startWatcher runs a Watcher on client until the test ends and waits for
// it to sync.
func startWatcher(t *testing.T, client *fake.Clientset) *Watcher {
	t.Helper()
	w, err := NewWatcher(client, NewTracker(testNode), 0)
	if err != nil {
		t.Fatalf("NewWatcher: %v", err)
	}
	if w.HasSynced() {
		t.Fatal("HasSynced() = true before Run")
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { w.Run(ctx) })
	t.Cleanup(func() { cancel(); wg.Wait() })

	syncCtx, syncCancel := context.WithTimeout(ctx, waitTimeout)
	defer syncCancel()
	if !cache.WaitForCacheSync(syncCtx.Done(), w.HasSynced) {
		t.Fatal("informers did not sync")
	}
	return w
}

// eventually polls the Tracker until check accepts a Snapshot.
func eventually(t *testing.T, tr *Tracker, what string, check func(model.Input, Changes) bool) {
	t.Helper()
	var in model.Input
	var ch Changes
	err := wait.PollUntilContextTimeout(context.Background(), 10*time.Millisecond, waitTimeout, true,
		func(context.Context) (bool, error) {
			in, ch = tr.Snapshot()
			return check(in, ch), nil
		})
	if err != nil {
		t.Fatalf("waiting for %s: last snapshot %+v, changes %+v", what, in, ch)
	}
}

func TestWatcherFeedsTracker(t *testing.T) {
	client := fake.NewClientset(
		service("a", "172.30.0.1"),
		service("hidden", "172.30.0.9", onService(labelled(model.LabelServiceProxyName))),
		endpointSlice("a-1", "a", []string{"10.1.1.5"}),
		node(testNode, []string{"192.168.0.10"}),
		node(otherNode, []string{"192.168.0.11"}),
	)
	w := startWatcher(t, client)
	tr := w.tracker

	in, ch := tr.Snapshot()
	if got := keysOf(in.Services); len(got) != 1 || got[0] != "ns/a" {
		t.Errorf("services after sync = %v, want [ns/a]", got)
	}
	if got := keysOf(in.EndpointSlices); len(got) != 1 || got[0] != "ns/a-1" {
		t.Errorf("slices after sync = %v, want [ns/a-1]", got)
	}
	if in.Node.Name != testNode || len(in.Node.IPs) != 1 || in.Node.IPs[0].String() != "192.168.0.10" {
		t.Errorf("node after sync = %+v, want %s with 192.168.0.10", in.Node, testNode)
	}
	if !ch.Full || !ch.NodeChanged {
		t.Errorf("first changes = %+v, want full with the node changed", ch)
	}

	ctx := context.Background()
	if _, err := client.CoreV1().Services("ns").Create(ctx, service("b", "172.30.0.2"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	slice := endpointSlice("a-1", "a", []string{"10.1.1.5", "10.1.1.6"})
	if _, err := client.DiscoveryV1().EndpointSlices("ns").Update(ctx, slice, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	want := sets.New(model.ServiceKey{Namespace: "ns", Name: "a"}, model.ServiceKey{Namespace: "ns", Name: "b"})
	touched := sets.New[model.ServiceKey]()
	eventually(t, tr, "the new service and the slice update", func(_ model.Input, ch Changes) bool {
		for key := range ch.Objects.Services {
			touched.Insert(key)
		}
		return touched.Equal(want)
	})

	if err := client.CoreV1().Nodes().Delete(ctx, testNode, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, tr, "the node deletion", func(in model.Input, ch Changes) bool {
		return ch.NodeChanged && len(in.Node.IPs) == 0 && in.Node.Name == testNode
	})
}

func TestNewWatcherErrors(t *testing.T) {
	tests := []struct {
		name    string
		client  *fake.Clientset
		tracker *Tracker
	}{
		{name: "no tracker", client: fake.NewClientset()},
		{name: "no node name", client: fake.NewClientset(), tracker: NewTracker("")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewWatcher(tt.client, tt.tracker, 0); err == nil {
				t.Error("NewWatcher succeeded, want an error")
			}
		})
	}
}

// TestWatcherFollowsServiceCIDRs runs the watcher against an API server
// that serves ServiceCIDRs: their changes reach the Tracker as full
// changes, and the first sync did not wait for them.
func TestWatcherFollowsServiceCIDRs(t *testing.T) {
	client := fake.NewClientset()
	client.Resources = []*metav1.APIResourceList{{GroupVersion: networking.SchemeGroupVersion.String(),
		APIResources: []metav1.APIResource{{Name: "servicecidrs", Kind: "ServiceCIDR"}}}}
	w := startWatcher(t, client)
	w.tracker.Snapshot() // the first Snapshot is full anyway
	cidr := &networking.ServiceCIDR{ObjectMeta: metav1.ObjectMeta{Name: "kubernetes"}, Spec: networking.ServiceCIDRSpec{CIDRs: []string{"172.30.0.0/16"}}}
	if _, err := client.NetworkingV1().ServiceCIDRs().Create(context.Background(), cidr, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, w.tracker, "the ServiceCIDR", func(in model.Input, ch Changes) bool {
		return len(in.ServiceCIDRs) == 1 && ch.Full
	})
	if err := client.NetworkingV1().ServiceCIDRs().Delete(context.Background(), "kubernetes", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, w.tracker, "the ServiceCIDR's deletion", func(in model.Input, ch Changes) bool {
		return len(in.ServiceCIDRs) == 0 && ch.Full
	})
}

// TestWatcherWithoutServiceCIDRs runs against an API server without
// them: nothing waits for or watches them.
func TestWatcherWithoutServiceCIDRs(t *testing.T) {
	w := startWatcher(t, fake.NewClientset())
	if len(w.factories) != 2 {
		t.Errorf("%d informer factories, want 2 without ServiceCIDRs", len(w.factories))
	}
}
