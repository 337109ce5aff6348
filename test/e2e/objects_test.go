package e2e

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/svcproxy/svcproxy/internal/testnet"
)

const ns = "default"

// service returns a selectorless Service: no controller runs here, so the
// tests write its EndpointSlices themselves.
func service(name, clusterIP string, port int32, proto v1.Protocol) *v1.Service {
	return &v1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: v1.ServiceSpec{
			ClusterIP: clusterIP,
			Ports:     []v1.ServicePort{{Name: "p", Protocol: proto, Port: port}},
		},
	}
}

// endpoint is a slice endpoint; state is "ready", "terminating" (still
// serving) or "down".
type endpoint struct {
	ip    netip.Addr
	state string
}

func slice(svc string, proto v1.Protocol, port int32, eps ...endpoint) *discovery.EndpointSlice {
	s := &discovery.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: ns, Name: svc + "-1", Labels: map[string]string{discovery.LabelServiceName: svc}},
		AddressType: discovery.AddressTypeIPv4,
		Ports:       []discovery.EndpointPort{{Name: ptr.To("p"), Protocol: ptr.To(proto), Port: ptr.To(port)}},
	}
	for _, e := range eps {
		cond := discovery.EndpointConditions{Ready: ptr.To(e.state == "ready"), Serving: ptr.To(e.state != "down"), Terminating: ptr.To(e.state == "terminating")}
		node := "node-b"
		if e.ip == podA || e.ip == podB {
			node = "node-a"
		}
		s.Endpoints = append(s.Endpoints, discovery.Endpoint{Addresses: []string{e.ip.String()}, Conditions: cond, NodeName: ptr.To(node)})
	}
	return s
}

func ready(ips ...netip.Addr) []endpoint {
	var out []endpoint
	for _, ip := range ips {
		out = append(out, endpoint{ip, "ready"})
	}
	return out
}

func (c *cluster) createService(t *testing.T, svc *v1.Service, sl *discovery.EndpointSlice) {
	t.Helper()
	ctx := context.Background()
	if _, err := c.client.CoreV1().Services(ns).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating Service %s: %v", svc.Name, err)
	}
	if sl != nil {
		if _, err := c.client.DiscoveryV1().EndpointSlices(ns).Create(ctx, sl, metav1.CreateOptions{}); err != nil {
			t.Fatalf("creating EndpointSlice %s: %v", sl.Name, err)
		}
	}
}

func (c *cluster) updateSlice(t *testing.T, sl *discovery.EndpointSlice) {
	t.Helper()
	if _, err := c.client.DiscoveryV1().EndpointSlices(ns).Update(context.Background(), sl, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("updating EndpointSlice %s: %v", sl.Name, err)
	}
}

func (c *cluster) updateService(t *testing.T, name string, change func(*v1.Service)) {
	t.Helper()
	ctx := context.Background()
	svc, err := c.client.CoreV1().Services(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	change(svc)
	if _, err := c.client.CoreV1().Services(ns).Update(ctx, svc, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("updating Service %s: %v", name, err)
	}
}

func (c *cluster) pod(name string) *testnet.Pod { return c.topo.Pods[name] }

// reaches asks dst n times from the client pod and reports an error
// unless exactly the wanted endpoints answered.
func (c *cluster) reaches(proto testnet.Proto, dst string, n int, want ...netip.Addr) func() error {
	return func() error {
		// One quick probe first, so that a check that cannot pass yet
		// costs 300 ms, not n timeouts.
		if _, err := testnet.Ask(c.pod("pod-z").NS, proto, netip.Addr{}, netip.MustParseAddrPort(dst), 300*time.Millisecond); err != nil {
			return err
		}
		counts, errs := testnet.AskMany(c.pod("pod-z").NS, proto, netip.Addr{}, netip.MustParseAddrPort(dst), n, 500*time.Millisecond)
		if len(errs) > 0 {
			return fmt.Errorf("%d of %d failed: %v", len(errs), n, errs[0])
		}
		var got []netip.Addr
		for ep := range counts {
			got = append(got, ep.Addr())
		}
		slices.SortFunc(got, netip.Addr.Compare)
		slices.SortFunc(want, netip.Addr.Compare)
		if !slices.Equal(got, want) {
			return fmt.Errorf("reached %v, want %v", got, want)
		}
		return nil
	}
}

// unanswered reports an error while dst still answers.
func (c *cluster) unanswered(dst string) func() error {
	return func() error {
		a, err := testnet.Ask(c.pod("pod-z").NS, testnet.TCP, netip.Addr{}, netip.MustParseAddrPort(dst), 300*time.Millisecond)
		if err == nil {
			return fmt.Errorf("still answered by %s", a.Endpoint)
		}
		return nil
	}
}
