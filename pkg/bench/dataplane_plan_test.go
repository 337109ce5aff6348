package bench

import (
	"fmt"
	"math"
	"net/netip"
	"slices"
	"time"

	"github.com/svcproxy/svcproxy/pkg/model"
)

// Address plan of the data-plane benchmark, on top of the generator's
// (cluster.go) and internal/testnet's (the node is 192.168.0.10 in both):
//
//	client pod     "client"     10.249.0.5/24   where every probe starts
//	backend pods   "backend-j"  10.250.j.2/24   j = 0 … endpoints-1
//	probe k's endpoint j        10.250.j.(k+2)  an address of backend-j
//
// Both ranges lie inside the cluster CIDR (10.0.0.0/8), as pod IPs do,
// and far above the generated pods (10.0.0.1 to at most 10.76.75.64), so
// only the probed Services lead anywhere: the generated endpoints of all
// the others are addresses nothing answers on.
var (
	clientPodIP  = netip.MustParseAddr("10.249.0.5")
	backendsBase = netip.MustParseAddr("10.250.0.2")
)

const (
	// maxProbes is how many probed Services the plan has addresses for:
	// probe k's endpoints are .(k+2) of each backend's /24, .2 to .254.
	maxProbes = 253
	// maxBackends is how many backend pods the plan has /24s for.
	maxBackends = 256
)

// probe is one probed Service: where it sits among the generated ones,
// its cluster IP and port, and the endpoints that must answer for it.
type probe struct {
	// Index is the Service's index in the generated cluster; Services are
	// sorted by name and svc-00000 … keeps that order, so it is also the
	// Service's position among the rendered ones.
	Index int
	// VIP is the cluster IP and port a client connects to.
	VIP netip.AddrPort
	// Backends are the probe's endpoints, each an address of a backend pod
	// at the target port.
	Backends []netip.AddrPort
}

// planProbes picks n Services out of services, spread evenly over the
// whole range, the first and the last always among them, and gives each
// a set of backends, endpoint j of each in backend pod j.
func planProbes(services, endpoints, n int) ([]probe, error) {
	if n < 2 || n > maxProbes || n > services {
		return nil, fmt.Errorf("planning probes: %d probes of %d Services is out of range 2-%d", n, services, min(services, maxProbes))
	}
	if endpoints < 1 || endpoints > maxBackends {
		return nil, fmt.Errorf("planning probes: %d endpoints is out of range 1-%d", endpoints, maxBackends)
	}
	probes := make([]probe, n)
	for k := range probes {
		// Rounded to the nearest: k=0 is Service 0, k=n-1 the last one.
		i := int(math.Round(float64(k) * float64(services-1) / float64(n-1)))
		probes[k] = probe{Index: i, VIP: netip.AddrPortFrom(offset(clusterBase, i+1), servicePort)}
		for j := range endpoints {
			probes[k].Backends = append(probes[k].Backends, netip.AddrPortFrom(backendAddr(k, j), targetPort))
		}
	}
	return probes, nil
}

// backendAddr is probe k's endpoint j: the (k+2)th address of backend pod
// j's /24, so every probe has endpoints of its own.
func backendAddr(k, j int) netip.Addr {
	return offset(backendsBase, j<<8+k)
}

// backendPodAddr is backend pod j's own address, probe 0's endpoint j.
func backendPodAddr(j int) netip.Addr { return backendAddr(0, j) }

// withProbeBackends returns in with the endpoints of each probed Service
// replaced by the probe's backends: as many endpoints as before, with the
// same ports, conditions and nodes, so the rules stay shaped as the
// generator made them. The slices are copied; in is not modified.
func withProbeBackends(in model.Input, probes []probe) (model.Input, error) {
	out := in
	out.EndpointSlices = slices.Clone(in.EndpointSlices)
	for _, p := range probes {
		s := out.EndpointSlices[p.Index].DeepCopy()
		if len(s.Endpoints) != len(p.Backends) {
			return model.Input{}, fmt.Errorf("giving %s its probe backends: it has %d endpoints, the probe %d", s.Name, len(s.Endpoints), len(p.Backends))
		}
		for j := range s.Endpoints {
			s.Endpoints[j].Addresses = []string{p.Backends[j].Addr().String()}
		}
		out.EndpointSlices[p.Index] = s
	}
	return out, nil
}

// probeTargets is the order a round connects in: every probe once, in
// order. Rounds interleave the probes, so a burst of noise on a shared
// machine hits every position alike rather than one probe.
func probeTargets(probes []probe) []netip.AddrPort {
	out := make([]netip.AddrPort, len(probes))
	for k, p := range probes {
		out[k] = p.VIP
	}
	return out
}

// percentile returns the q-quantile (0 < q ≤ 1) of sorted by the nearest
// rank method: the smallest sample at least q of all samples are less
// than or equal to. It is 0 without samples.
func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(q * float64(len(sorted))))
	return sorted[min(max(rank, 1), len(sorted))-1]
}

// micros is d in microseconds, the unit the benchmark reports in.
func micros(d time.Duration) float64 {
	return float64(d) / float64(time.Microsecond)
}
