package sync

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/svcproxy/svcproxy/internal/testnet"
	"github.com/svcproxy/svcproxy/pkg/model"
)

// hostileServices claim what is not a Service's: the node's loopback
// and link-local addresses as external IPs, a host port (2222) as a
// node port, another (2223) as a health check node port.
const hostileServices = `
apiVersion: v1
kind: Service
metadata: {namespace: t, name: grab}
spec:
  type: NodePort
  clusterIP: 172.30.0.42
  externalIPs: [127.0.0.1, 169.254.169.254, 0.0.0.0, 224.0.0.1, 255.255.255.255]
  ports: [{name: http, protocol: TCP, port: 9000, targetPort: 8080, nodePort: 2222}]
---
apiVersion: v1
kind: Service
metadata: {namespace: t, name: grab-hc}
spec:
  type: LoadBalancer
  externalTrafficPolicy: Local
  healthCheckNodePort: 2223
  clusterIP: 172.30.0.43
  ports: [{name: http, protocol: TCP, port: 80, targetPort: 8080, nodePort: 30099}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {namespace: t, name: grab-1, labels: {kubernetes.io/service-name: grab}}
addressType: IPv4
ports: [{name: http, protocol: TCP, port: 8080}]
endpoints:
- {addresses: [10.1.1.5], nodeName: node-a}
`

// TestHostileAddressesCaptureNothing applies hostileServices to a node
// that serves 127.0.0.1:9000 and its own 2222 and 2223, with route_localnet
// set (as a node migrated from kube-proxy's iptables mode may have it) and
// a host firewall dropping 2223. In every backend the node's own services
// stay the node's, and the firewall keeps dropping: only the Service's
// own cluster IP reaches the pod.
func TestHostileAddressesCaptureNothing(t *testing.T) {
	for _, mode := range trafficModes {
		t.Run(string(mode), func(t *testing.T) {
			e := newTrafficEnv(t, mode)
			node := e.topo.Node
			if _, err := node.Run(nil, "sysctl", "-qw", "net.ipv4.conf.all.route_localnet=1"); err != nil {
				t.Fatal(err)
			}
			hostFirewall(t, e, 2223)
			testnet.StartEcho(t, node, testnet.Port{Proto: testnet.TCP, Port: 9000}, testnet.Port{Proto: testnet.TCP, Port: 2222}, testnet.Port{Proto: testnet.TCP, Port: 2223})
			m, warns := trafficModelWarned(t, hostileServices, func(*model.Input, *model.Config) {})
			if len(warns) != 7 {
				t.Errorf("%d warnings, want 7 (5 external IPs, a node port, a health check port): %v", len(warns), warns)
			}
			if _, err := e.applier.Apply(context.Background(), m, false); err != nil {
				t.Fatal(err)
			}
			for _, dst := range []string{"127.0.0.1:9000", "192.168.0.10:2222"} {
				if a := askOne(t, node, testnet.TCP, netip.Addr{}, dst); a.Endpoint.String() != dst {
					t.Errorf("the node's own %s was answered by %s", dst, a.Endpoint)
				}
			}
			if a := askOne(t, e.topo.External, testnet.TCP, clientIn, "192.168.0.10:2222"); a.Endpoint.String() != "192.168.0.10:2222" {
				t.Errorf("a neighbour's connection to the node's 2222 was answered by %s", a.Endpoint)
			}
			if _, err := testnet.Ask(e.topo.External, testnet.TCP, clientIn, netip.MustParseAddrPort("192.168.0.10:2223"), time.Second); !testnet.TimedOut(err) {
				t.Errorf("through the host firewall's DROP on 2223: %v, want a timeout", err)
			}
			if a := askOne(t, e.pod("pod-z"), testnet.TCP, netip.Addr{}, "172.30.0.42:9000"); a.Endpoint.Addr() != podA {
				t.Errorf("the Service's own cluster IP reached %s, want %s", a.Endpoint, podA)
			}
		})
	}
}

// hostFirewall drops new TCP connections to port on the node, in the
// backend's own variant, as a host firewall would, before svcproxy runs.
func hostFirewall(t *testing.T, e *trafficEnv, port int) {
	t.Helper()
	var err error
	if e.mode == ModeNFTables {
		rules := fmt.Sprintf("add table inet hostfw\nadd chain inet hostfw input { type filter hook input priority 0 ; }\nadd rule inet hostfw input tcp dport %d drop\n", port)
		_, err = e.topo.Node.Run(strings.NewReader(rules), "nft", "-f", "-")
	} else {
		_, err = e.topo.Node.Run(nil, IPTablesCommand(model.IPv4, e.mode, ""), "-A", "INPUT", "-p", "tcp", "--dport", fmt.Sprint(port), "-j", "DROP")
	}
	if err != nil {
		t.Fatal(err)
	}
}
