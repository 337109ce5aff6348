package health

import (
	"fmt"
	"net/netip"

	"github.com/svcproxy/svcproxy/pkg/model"
)

// healthCheckPorts returns what each health check node port in models
// must report. The local endpoints of a Service are its distinct ready
// local endpoint addresses over all its ports, in the family that has
// most, so a dual-stack pod counts once. Only ready endpoints count, as
// in kube-proxy: a node left with terminating endpoints only fails the
// check, so load balancers drain it while those endpoints finish.
//
// Two Services claiming one port is an error; the first, in model
// order, keeps it.
func healthCheckPorts(models []*model.Model) (map[uint16]serviceHealth, []error) {
	want := map[uint16]serviceHealth{}
	var errs []error
	reported := map[conflict]bool{}
	for _, m := range models {
		if m == nil {
			continue
		}
		perService := map[uint16]map[netip.Addr]bool{}
		for _, sp := range m.Services {
			port := sp.HealthCheckNodePort
			if port == 0 {
				continue
			}
			svc := ServiceName{Namespace: sp.Name.Namespace, Name: sp.Name.Name}
			if cur, ok := want[port]; ok && cur.service != svc {
				if reported[conflict{port, svc}] {
					continue
				}
				reported[conflict{port, svc}] = true
				errs = append(errs, fmt.Errorf("health check node port %d of Service %s/%s: already used by Service %s/%s",
					port, svc.Namespace, svc.Name, cur.service.Namespace, cur.service.Name))
				continue
			}
			if perService[port] == nil {
				perService[port] = map[netip.Addr]bool{}
			}
			for _, ep := range sp.LocalEndpoints {
				if ep.Ready {
					perService[port][ep.IP] = true
				}
			}
			cur := want[port]
			cur.service = svc
			cur.localEndpoints = max(cur.localEndpoints, len(perService[port]))
			want[port] = cur
		}
	}
	return want, errs
}

// conflict is a Service that asked for a port another Service holds.
type conflict struct {
	port    uint16
	service ServiceName
}
