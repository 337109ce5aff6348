package model

import (
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	"k8s.io/utils/ptr"
)

// FuzzBuild feeds arbitrary strings and numbers into every field the model
// validates. Build must not panic, and whatever it keeps must be safe to
// print into rules: names only from the DNS alphabet, addresses canonical.
func FuzzBuild(f *testing.F) {
	f.Add("web", "http", "172.30.0.10", "198.51.100.20", " 203.0.113.0/24", "10.1.0.5", "TCP", int32(80), int32(30080), int32(8080))
	f.Add(`x" -j ACCEPT`, "p\n-A", "010.0.0.1", "::ffff:1.2.3.4", "nonsense", "fe80::1%eth0", "ICMP", int32(-1), int32(70000), int32(0))
	f.Fuzz(func(t *testing.T, name, port, clusterIP, extIP, srcRange, epIP, proto string, p, np, epPort int32) {
		s := &v1.Service{}
		s.Namespace, s.Name = "ns", name
		s.Spec = v1.ServiceSpec{
			Type:                     v1.ServiceTypeLoadBalancer,
			ClusterIP:                clusterIP,
			ExternalIPs:              []string{extIP},
			LoadBalancerSourceRanges: []string{srcRange},
			Ports:                    []v1.ServicePort{{Name: port, Protocol: v1.Protocol(proto), Port: p, NodePort: np}},
		}
		s.Status.LoadBalancer.Ingress = []v1.LoadBalancerIngress{{IP: extIP}}
		sl := slice("s", name, discovery.AddressTypeIPv4, epPort, ep(epIP))
		sl.Ports[0].Name = ptr.To(port)
		sl.Ports[0].Protocol = ptr.To(v1.Protocol(proto))
		models, _ := Build(Input{Services: []*v1.Service{s}, EndpointSlices: []*discovery.EndpointSlice{sl}, Node: testNode}, Config{})
		for _, m := range models {
			for _, sp := range m.Services {
				checkSafe(t, sp)
			}
		}
	})
}

func checkSafe(t *testing.T, sp *ServicePort) {
	t.Helper()
	const dnsAlphabet = "abcdefghijklmnopqrstuvwxyz0123456789-."
	for _, s := range []string{sp.Name.Namespace, sp.Name.Name, sp.Name.Port} {
		if strings.Trim(s, dnsAlphabet) != "" {
			t.Errorf("unsafe name %q survived validation", s)
		}
	}
	if !sp.ClusterIP.IsValid() || sp.ClusterIP.Zone() != "" || sp.Port == 0 {
		t.Errorf("invalid cluster IP or port survived: %v %d", sp.ClusterIP, sp.Port)
	}
	for _, ep := range append(sp.ClusterEndpoints, sp.LocalEndpoints...) {
		if !ep.IP.IsValid() || ep.IP.Zone() != "" || ep.Port == 0 || ep.IP.IsLoopback() {
			t.Errorf("invalid endpoint survived: %v", ep)
		}
	}
}
