package sync

import (
	"context"
	"net/netip"
	"strings"
	"testing"

	"github.com/svcproxy/svcproxy/internal/testnet"
	"github.com/svcproxy/svcproxy/pkg/manifest"
	"github.com/svcproxy/svcproxy/pkg/model"
)

// contestedServices has a Service, first in name order, whose external
// IP is another Service's cluster IP, and that other Service has no
// endpoints: the case where iptables used to DNAT the cluster IP to the
// taker while nftables rejected it.
const contestedServices = `
apiVersion: v1
kind: Service
metadata: {namespace: t, name: a-taker}
spec: {clusterIP: 172.30.0.41, externalIPs: [172.30.0.40], ports: [{name: http, protocol: TCP, port: 80, targetPort: 8080}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {namespace: t, name: a-taker-1, labels: {kubernetes.io/service-name: a-taker}}
addressType: IPv4
ports: [{name: http, protocol: TCP, port: 8080}]
endpoints:
- {addresses: [10.1.1.5], nodeName: node-a}
---
apiVersion: v1
kind: Service
metadata: {namespace: t, name: b-victim}
spec: {clusterIP: 172.30.0.40, ports: [{name: http, protocol: TCP, port: 80, targetPort: 8080}]}
`

// TestContestedClusterIPStaysItsServices sends real traffic to a cluster
// IP that another Service names as its external IP: in every backend it
// is the cluster IP's Service's (rejected, for it has no endpoints), not
// the taker's, whose own cluster IP still works.
func TestContestedClusterIPStaysItsServices(t *testing.T) {
	for _, mode := range trafficModes {
		t.Run(string(mode), func(t *testing.T) {
			e := newTrafficEnv(t, mode)
			objs, _, err := manifest.Load("contested", strings.NewReader(contestedServices))
			if err != nil {
				t.Fatal(err)
			}
			in := model.Input{Services: objs.Services, EndpointSlices: objs.EndpointSlices,
				Node: model.Node{Name: "node-a", IPs: []netip.Addr{testnet.NodeIPv4}}}
			models, warns := model.Build(in, model.Config{MasqueradeBit: model.DefaultMasqueradeBit})
			if len(warns) != 1 || !strings.Contains(warns[0].String(), "t/b-victim") {
				t.Fatalf("warnings %v, want one naming the victim", warns)
			}
			if _, err := e.applier.Apply(context.Background(), models[0], false); err != nil {
				t.Fatal(err)
			}
			if _, err := testnet.Ask(e.pod("pod-z"), testnet.TCP, netip.Addr{}, netip.MustParseAddrPort("172.30.0.40:80"), trafficTimeout); !testnet.Refused(err) {
				t.Errorf("to the victim's cluster IP: %v, want connection refused", err)
			}
			if a := askOne(t, e.pod("pod-z"), testnet.TCP, netip.Addr{}, "172.30.0.41:80"); a.Endpoint.Addr() != podA {
				t.Errorf("to the taker's cluster IP: reached %s, want %s", a.Endpoint, podA)
			}
		})
	}
}
