package bench

import (
	"errors"
	"fmt"
	"net/netip"

	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/svcproxy/svcproxy/pkg/model"
)

// Address plan of the synthetic cluster:
//   - the node "node-a" has 192.168.0.10;
//   - pods (endpoints) come from the cluster CIDR 10.0.0.0/8;
//   - cluster IPs come from 172.16.0.0/12;
//   - load balancer ingress IPs come from 198.18.0.0/15, the range set
//     aside for benchmarks (RFC 2544);
//   - only Services that need a NodePort (NodePort, LoadBalancer and
//     externalTrafficPolicy Local ones) take ports: the kth of them, in
//     Service order and counting from 0, has NodePort 10000+2k and health
//     check NodePort 10001+2k, so no two Services share a port.
var (
	nodeIP      = netip.MustParseAddr("192.168.0.10")
	clusterCIDR = netip.MustParsePrefix("10.0.0.0/8")
	podBase     = netip.MustParseAddr("10.0.0.0")
	clusterBase = netip.MustParseAddr("172.16.0.0")
	lbBase      = netip.MustParseAddr("198.18.0.0")
)

const (
	// NodeName is the name of the node the rules are built for.
	NodeName = "node-a"
	// Namespace is the namespace of every generated object.
	Namespace = "bench"
	// MaxServices is the most Services a cluster may have. The names
	// (svc-00000 to svc-49999) then keep their numeric order, and the
	// cluster IP, pod (at MaxEndpoints each) and LB ranges stay unused
	// past 172.16.195.80, 10.76.75.64 and 198.18.195.80.
	MaxServices = 50000
	// MaxNodePortServices is the most Services that may need a NodePort,
	// bounded by the NodePort plan (two ports each from 10000).
	MaxNodePortServices = 27000
	// MaxEndpoints is the most endpoints a Service may have.
	MaxEndpoints = 100

	servicePort   = 80
	targetPort    = 8080
	portName      = "http"
	affinityTTL   = 10800
	firstNodePort = 10000
)

// Mix describes a synthetic cluster: how many Services, how many endpoints
// each, and which of them use which feature. An Every field of N makes
// every Nth Service (the Nth, the 2Nth, …) use the feature; 0 makes none.
type Mix struct {
	Services  int
	Endpoints int
	// NodePortEvery makes Services of type NodePort.
	NodePortEvery int
	// LoadBalancerEvery makes Services of type LoadBalancer with one
	// ingress IP (they have a NodePort too).
	LoadBalancerEvery int
	// AffinityEvery gives Services ClientIP session affinity.
	AffinityEvery int
	// LocalEvery gives Services externalTrafficPolicy Local (and a
	// NodePort, since the policy needs external traffic).
	LocalEvery int
}

// Validate reports a mix the generator cannot build.
func (m Mix) Validate() error {
	var errs []error
	if m.Services < 1 || m.Services > MaxServices {
		errs = append(errs, fmt.Errorf("services %d is out of range 1-%d", m.Services, MaxServices))
	}
	if m.Endpoints < 1 || m.Endpoints > MaxEndpoints {
		errs = append(errs, fmt.Errorf("endpoints %d is out of range 1-%d", m.Endpoints, MaxEndpoints))
	}
	negative := false
	for _, every := range []int{m.NodePortEvery, m.LoadBalancerEvery, m.AffinityEvery, m.LocalEvery} {
		if every < 0 {
			negative = true
			errs = append(errs, fmt.Errorf("an every-N value is negative: %d", every))
		}
	}
	if !negative {
		if n := m.nodePortsBefore(m.Services); n > MaxNodePortServices {
			errs = append(errs, fmt.Errorf("%d Services need a NodePort, more than the %d the port plan has room for", n, MaxNodePortServices))
		}
	}
	return errors.Join(errs...)
}

// nodePortsBefore counts the Services before Service i that need a
// NodePort: those of type NodePort or LoadBalancer, or with a Local
// external traffic policy. It counts the union of the three "every Nth"
// sets by inclusion–exclusion, so it costs the same for any i.
func (m Mix) nodePortsBefore(i int) int {
	sets := []int{m.NodePortEvery, m.LoadBalancerEvery, m.LocalEvery}
	total := 0
	// Each non-empty subset of the sets, as a bit mask, adds or removes
	// the Services that are in all of its sets: every lcm-th one.
	for mask := 1; mask < 1<<len(sets); mask++ {
		period, members := 1, 0
		for bit, n := range sets {
			if mask&(1<<bit) == 0 {
				continue
			}
			members++
			// A set that is empty, or whose first member is at i or
			// later, leaves nothing before i; checking before each lcm
			// also keeps it from overflowing (both factors are at most i).
			if n == 0 || n > i || period > i {
				period = 0
				break
			}
			period = lcm(period, n)
		}
		if period == 0 {
			continue
		}
		if members%2 == 1 {
			total += i / period
		} else {
			total -= i / period
		}
	}
	return total
}

func lcm(a, b int) int {
	x, y := a, b
	for y != 0 {
		x, y = y, x%y
	}
	return a / x * b
}

// Config is the proxy configuration the benchmark builds models with. Its
// node port range is the one the port plan allocates from, as a cluster
// whose API server ran with --service-node-port-range=10000-65535 would
// have: the default range has room for 1,383 such Services only.
func Config() model.Config {
	return model.Config{
		ClusterCIDRs:  []netip.Prefix{clusterCIDR},
		MasqueradeBit: model.DefaultMasqueradeBit,
		NodePortRange: model.PortRange{First: firstNodePort, Last: 65535},
	}
}

// Generate returns the cluster a mix describes. It is deterministic: the
// same mix gives the same objects, in the same order.
func Generate(m Mix) (model.Input, error) {
	if err := m.Validate(); err != nil {
		return model.Input{}, fmt.Errorf("validating the cluster mix: %w", err)
	}
	in := model.Input{Node: model.Node{Name: NodeName, IPs: []netip.Addr{nodeIP}}}
	for i := range m.Services {
		in.Services = append(in.Services, m.service(i))
		in.EndpointSlices = append(in.EndpointSlices, m.slice(i))
	}
	return in, nil
}

func every(n, i int) bool { return n > 0 && (i+1)%n == 0 }

func serviceName(i int) string { return fmt.Sprintf("svc-%05d", i) }

// offset returns base plus n, within IPv4.
func offset(base netip.Addr, n int) netip.Addr {
	b := base.As4()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	v += uint32(n)
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// service returns Service i of the mix.
func (m Mix) service(i int) *v1.Service {
	svc := &v1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: Namespace, Name: serviceName(i)},
		Spec: v1.ServiceSpec{
			Type:       v1.ServiceTypeClusterIP,
			ClusterIP:  offset(clusterBase, i+1).String(),
			ClusterIPs: []string{offset(clusterBase, i+1).String()},
			Ports: []v1.ServicePort{{
				Name: portName, Protocol: v1.ProtocolTCP, Port: servicePort,
				TargetPort: intstr.FromInt32(targetPort),
			}},
		},
	}
	if every(m.NodePortEvery, i) {
		svc.Spec.Type = v1.ServiceTypeNodePort
	}
	if every(m.LoadBalancerEvery, i) {
		svc.Spec.Type = v1.ServiceTypeLoadBalancer
		svc.Status.LoadBalancer.Ingress = []v1.LoadBalancerIngress{{IP: offset(lbBase, i+1).String()}}
	}
	if every(m.LocalEvery, i) {
		if svc.Spec.Type == v1.ServiceTypeClusterIP {
			svc.Spec.Type = v1.ServiceTypeNodePort
		}
		svc.Spec.ExternalTrafficPolicy = v1.ServiceExternalTrafficPolicyLocal
		svc.Spec.HealthCheckNodePort = int32(firstNodePort + 2*m.nodePortsBefore(i) + 1)
	}
	if svc.Spec.Type != v1.ServiceTypeClusterIP {
		svc.Spec.Ports[0].NodePort = int32(firstNodePort + 2*m.nodePortsBefore(i))
	}
	if every(m.AffinityEvery, i) {
		ttl := int32(affinityTTL)
		svc.Spec.SessionAffinity = v1.ServiceAffinityClientIP
		svc.Spec.SessionAffinityConfig = &v1.SessionAffinityConfig{ClientIP: &v1.ClientIPConfig{TimeoutSeconds: &ttl}}
	}
	return svc
}

// slice returns the EndpointSlice of Service i: its first endpoint runs
// on this node, the others on "node-b".
func (m Mix) slice(i int) *discovery.EndpointSlice {
	name, proto, port := portName, v1.ProtocolTCP, int32(targetPort)
	s := &discovery.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: Namespace, Name: serviceName(i) + "-1",
			Labels: map[string]string{discovery.LabelServiceName: serviceName(i)},
		},
		AddressType: discovery.AddressTypeIPv4,
		Ports:       []discovery.EndpointPort{{Name: &name, Protocol: &proto, Port: &port}},
	}
	for j := range m.Endpoints {
		node := "node-b"
		if j == 0 {
			node = NodeName
		}
		ready := true
		s.Endpoints = append(s.Endpoints, discovery.Endpoint{
			Addresses:  []string{offset(podBase, i*m.Endpoints+j+1).String()},
			Conditions: discovery.EndpointConditions{Ready: &ready},
			NodeName:   &node,
		})
	}
	return s
}
