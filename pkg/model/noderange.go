package model

import (
	"fmt"
	"strconv"
	"strings"
)

// PortRange is the range node ports are allocated from, as the API
// server's --service-node-port-range gives it. The zero value is the API
// server's default, DefaultNodePortRange.
type PortRange struct {
	First, Last uint16
}

// DefaultNodePortRange is the API server's default node port range.
var DefaultNodePortRange = PortRange{First: 30000, Last: 32767}

// orDefault returns r, or DefaultNodePortRange for the zero value.
func (r PortRange) orDefault() PortRange {
	if r == (PortRange{}) {
		return DefaultNodePortRange
	}
	return r
}

// contains reports whether p is in r.
func (r PortRange) contains(p uint16) bool { return p >= r.First && p <= r.Last }

// String returns "FIRST-LAST".
func (r PortRange) String() string { return fmt.Sprintf("%d-%d", r.First, r.Last) }

// ParsePortRange parses "FIRST-LAST", as the API server's
// --service-node-port-range takes it.
func ParsePortRange(s string) (PortRange, error) {
	a, b, ok := strings.Cut(strings.TrimSpace(s), "-")
	first, err1 := strconv.ParseUint(a, 10, 16)
	last, err2 := strconv.ParseUint(b, 10, 16)
	if !ok || err1 != nil || err2 != nil || first == 0 || first > last {
		return PortRange{}, fmt.Errorf("port range %q: want FIRST-LAST, 1 <= FIRST <= LAST <= 65535", s)
	}
	return PortRange{First: uint16(first), Last: uint16(last)}, nil
}

// keepNodePortsIn drops the Service's node ports and health check node
// port that lie outside r, with a warning. The API server allocates none
// there, and a port outside it may be a host service's (22, 2222): a
// NodePort rule would capture that service's traffic, and a health check
// port's ACCEPT would open it through the host's firewall.
func (svc *service) keepNodePortsIn(r PortRange, warn *warnings) {
	id := svc.namespace + "/" + svc.name
	for i := range svc.ports {
		if p := svc.ports[i].nodePort; p != 0 && !r.contains(p) {
			warn.add("Service", id, "port %q nodePort %d is outside the node port range %s: node port skipped", svc.ports[i].name, p, r)
			svc.ports[i].nodePort = 0
		}
	}
	if p := svc.healthCheckPort; p != 0 && !r.contains(p) {
		warn.add("Service", id, "spec.healthCheckNodePort %d is outside the node port range %s: skipped", p, r)
		svc.healthCheckPort = 0
	}
}
