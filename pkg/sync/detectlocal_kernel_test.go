package sync

import (
	"context"
	"testing"

	"github.com/svcproxy/svcproxy/internal/testnet"
	"github.com/svcproxy/svcproxy/pkg/model"
)

// TestDetectLocalByInterface tells pod traffic by the interface it comes
// in on, as kube-proxy's --detect-local-mode InterfaceNamePrefix does,
// with no cluster CIDR at all: the pods' links to the node are vpod0,
// vpod1, .... A pod keeps its source to a cluster IP and skips the Local
// external policy of a NodePort; an outside client is masqueraded to the
// cluster IP, and reaches only the local endpoint through the NodePort.
func TestDetectLocalByInterface(t *testing.T) {
	for _, mode := range trafficModes {
		t.Run(string(mode), func(t *testing.T) {
			e := newTrafficEnv(t, mode)
			m := trafficModelWith(t, trafficServices, func(_ *model.Input, cfg *model.Config) {
				cfg.ClusterCIDRs, cfg.PodInterface, cfg.PodInterfacePrefix = nil, "vpod", true
			})
			if _, err := e.applier.Apply(context.Background(), m, false); err != nil {
				t.Fatal(err)
			}
			if a := askOne(t, e.pod("pod-z"), testnet.TCP, podZ, "172.30.0.10:80"); a.Client.Addr() != podZ {
				t.Errorf("pod-z reached the cluster IP as %s, want its own address", a.Client)
			}
			if a := askOne(t, e.topo.External, testnet.TCP, clientIn, "172.30.0.10:80"); !masqueradedTo(e, a, "pod-a", "pod-b", "pod-c") {
				t.Errorf("an outside client reached %s as %s, want it masqueraded", a.Endpoint, a.Client)
			}
			fromPod := ask(t, e.pod("pod-z"), testnet.TCP, podZ, "192.168.0.10:30081", 30)
			if !sameAddrs(endpointsOf(fromPod), podA, podC) {
				t.Errorf("pod-z reached %v through the Local NodePort, want every endpoint", endpointsOf(fromPod))
			}
			outside := ask(t, e.topo.External, testnet.TCP, clientIn, "192.168.0.10:30081", 10)
			if !sameAddrs(endpointsOf(outside), podA) {
				t.Errorf("an outside client reached %v through the Local NodePort, want only the local endpoint", endpointsOf(outside))
			}
		})
	}
}
