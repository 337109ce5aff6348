package sync

import (
	"context"
	"net/netip"
	"strings"
	"testing"

	"github.com/svcproxy/svcproxy/internal/netnstest"
	"github.com/svcproxy/svcproxy/internal/testnet"
	"github.com/svcproxy/svcproxy/pkg/manifest"
	"github.com/svcproxy/svcproxy/pkg/model"
)

// IPv6 address plan: pods fd00:1:1::5 (pod-a, on node-a) and fd00:1:3::7
// (pod-c), client pod fd00:1:9::9, node fd00:192::10, external client
// 2001:db8:203::7, cluster IP fd00:30::10.
var (
	podA6   = netip.MustParseAddr("fd00:1:1::5")
	podC6   = netip.MustParseAddr("fd00:1:3::7")
	podZ6   = netip.MustParseAddr("fd00:1:9::9")
	client6 = netip.MustParseAddr("2001:db8:203::7")
)

const ipv6Services = `
apiVersion: v1
kind: Service
metadata: {namespace: t, name: web6}
spec: {type: NodePort, clusterIP: "fd00:30::10", ipFamilies: [IPv6], ports: [{name: http, protocol: TCP, port: 80, nodePort: 30080}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {namespace: t, name: web6-1, labels: {kubernetes.io/service-name: web6}}
addressType: IPv6
ports: [{name: http, protocol: TCP, port: 8080}]
endpoints:
- {addresses: ["fd00:1:1::5"], nodeName: node-a}
- {addresses: ["fd00:1:3::7"], nodeName: node-b}
`

// TestTrafficIPv6 sends real IPv6 connections through each backend.
func TestTrafficIPv6(t *testing.T) {
	for _, mode := range trafficModes {
		t.Run(string(mode), func(t *testing.T) {
			netnstest.RequireRoot(t, "nft", "ip6tables-legacy-restore", "ip6tables-nft-restore")
			topo := testnet.New(t, testnet.PodSpec{Name: "pod-a", IPv6: podA6}, testnet.PodSpec{Name: "pod-c", IPv6: podC6},
				testnet.PodSpec{Name: "pod-z", IPv6: podZ6})
			for _, p := range []string{"pod-a", "pod-c"} {
				topo.Pods[p].StartEcho(t, testnet.Port{Proto: testnet.TCP, Port: 8080})
			}
			topo.AddExternalClient(t, client6)
			m := ipv6Model(t)
			if _, err := newApplier(ExecRunner{Prefix: topo.Node.Prefix()}, mode, model.IPv6, nil, nil).Apply(context.Background(), m, false); err != nil {
				t.Fatal(err)
			}
			counts := ask(t, topo.Pods["pod-z"].NS, testnet.TCP, netip.Addr{}, "[fd00:30::10]:80", 40)
			if !sameAddrs(endpointsOf(counts), podA6, podC6) {
				t.Errorf("cluster IP connections reached %v", counts)
			}
			if a := askOne(t, topo.Pods["pod-z"].NS, testnet.TCP, netip.Addr{}, "[fd00:30::10]:80"); a.Client.Addr() != podZ6 {
				t.Errorf("endpoint saw %s, want the pod's own %s", a.Client, podZ6)
			}
			for range 20 {
				a := askOne(t, topo.Pods["pod-a"].NS, testnet.TCP, netip.Addr{}, "[fd00:30::10]:80")
				if (a.Endpoint.Addr() == podA6) == (a.Client.Addr() == podA6) {
					t.Fatalf("endpoint %s saw client %s: only hairpin traffic is masqueraded", a.Endpoint, a.Client)
				}
			}
			a := askOne(t, topo.External, testnet.TCP, client6, "[fd00:192::10]:30080")
			if a.Client.Addr() == client6 {
				t.Errorf("NodePort endpoint saw the external client %s: must be masqueraded", a.Client)
			}
		})
	}
}

func ipv6Model(t *testing.T) *model.Model {
	t.Helper()
	objs, _, err := manifest.Load("ipv6 traffic test", strings.NewReader(ipv6Services))
	if err != nil {
		t.Fatal(err)
	}
	models, warns := model.Build(model.Input{
		Services: objs.Services, EndpointSlices: objs.EndpointSlices,
		Node: model.Node{Name: "node-a", IPs: []netip.Addr{testnet.NodeIPv6}},
	}, model.Config{ClusterCIDRs: []netip.Prefix{netip.MustParsePrefix("fd00:1::/32")}, MasqueradeBit: model.DefaultMasqueradeBit})
	if len(warns) > 0 || len(models) != 1 || models[0].Family != model.IPv6 {
		t.Fatalf("model: %v %v", models, warns)
	}
	return models[0]
}
