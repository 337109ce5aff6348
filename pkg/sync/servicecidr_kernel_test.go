package sync

import (
	"context"
	"net/netip"
	"testing"

	networking "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/svcproxy/svcproxy/internal/testnet"
	"github.com/svcproxy/svcproxy/pkg/model"
)

// TestUnallocatedClusterIPs gives the traffic Services a ServiceCIDR,
// 172.30.0.0/16, and puts a server outside the node at 172.30.0.99, an
// address of it that no Service holds. As with kube-proxy, nftables mode
// drops a pod's connection to it, which iptables mode routes out of the
// node; the Services' own cluster IPs answer in both.
func TestUnallocatedClusterIPs(t *testing.T) {
	unallocated := netip.MustParseAddr("172.30.0.99")
	for _, mode := range trafficModes {
		t.Run(string(mode), func(t *testing.T) {
			e := newTrafficEnv(t, mode)
			e.topo.AddExternalClient(t, unallocated)
			testnet.StartEcho(t, e.topo.External, testnet.Port{Proto: testnet.TCP, Port: 80})
			m := trafficModelWith(t, trafficServices, func(in *model.Input, _ *model.Config) {
				in.ServiceCIDRs = []*networking.ServiceCIDR{{ObjectMeta: metav1.ObjectMeta{Name: "kubernetes"},
					Spec: networking.ServiceCIDRSpec{CIDRs: []string{"172.30.0.0/16"}}}}
			})
			if _, err := e.applier.Apply(context.Background(), m, false); err != nil {
				t.Fatal(err)
			}
			askOne(t, e.pod("pod-z"), testnet.TCP, podZ, "172.30.0.10:80")
			_, err := testnet.Ask(e.pod("pod-z"), testnet.TCP, podZ, netip.AddrPortFrom(unallocated, 80), trafficTimeout)
			switch {
			case mode == ModeNFTables && !testnet.TimedOut(err):
				t.Errorf("172.30.0.99:80 in nftables mode: %v; want it dropped", err)
			case mode != ModeNFTables && err != nil:
				t.Errorf("172.30.0.99:80 in %s mode: %v; want it routed out as kube-proxy's iptables mode does", mode, err)
			}
		})
	}
}
