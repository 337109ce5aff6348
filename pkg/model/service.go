package model

import (
	"cmp"
	"fmt"
	"net/netip"
	"reflect"
	"slices"
	"strings"

	v1 "k8s.io/api/core/v1"
)

// LabelServiceProxyName, with any value, hands a Service to the proxy it
// names instead of the default one. k8s.io/api has no constant for it.
const LabelServiceProxyName = "service.kubernetes.io/service-proxy-name"

const (
	// defaultAffinitySeconds is the API's default ClientIP timeout (3h).
	defaultAffinitySeconds = 10800
	// maxAffinitySeconds is the API's upper bound for the timeout (1 day).
	maxAffinitySeconds = 86400
)

// service is a validated Service, not yet split by family.
type service struct {
	namespace, name string
	clusterIPs      []netip.Addr
	ports           []servicePortSpec
	externalIPs     []netip.Addr
	lbIPs           []netip.Addr
	sourceRanges    []netip.Prefix
	firewall        bool
	extLocal        bool
	intLocal        bool
	healthCheckPort uint16
	affinitySeconds int32
}

type servicePortSpec struct {
	name     string
	protocol Protocol
	port     uint16
	nodePort uint16
}

// convertServices validates Services. A Service that cannot be proxied at
// all is skipped with a warning; a bad part of an otherwise good Service
// (one port, one external IP) is skipped alone.
func convertServices(in []*v1.Service, warn *warnings) []*service {
	var out []*service
	for _, obj := range in {
		if obj == nil || ignored(obj) {
			continue
		}
		if svc := convertService(obj, warn); svc != nil {
			out = append(out, svc)
		}
	}
	slices.SortFunc(out, func(a, b *service) int {
		return cmp.Or(cmp.Compare(a.namespace, b.namespace), cmp.Compare(a.name, b.name))
	})
	return withoutDuplicates(out, warn)
}

// withoutDuplicates keeps one of several identical Services of one name,
// and none of several that differ: which one the API server holds is
// unknowable, and picking by input order would make the rules depend on
// it. The API server never has two; manifests joined by hand may.
func withoutDuplicates(sorted []*service, warn *warnings) []*service {
	out := sorted[:0]
	for i := 0; i < len(sorted); {
		j := i + 1
		same := true
		for j < len(sorted) && sorted[j].namespace == sorted[i].namespace && sorted[j].name == sorted[i].name {
			same = same && reflect.DeepEqual(sorted[i], sorted[j])
			j++
		}
		switch id := sorted[i].namespace + "/" + sorted[i].name; {
		case j-i == 1:
			out = append(out, sorted[i])
		case same:
			warn.add("Service", id, "listed %d times, identically: using one", j-i)
			out = append(out, sorted[i])
		default:
			warn.add("Service", id, "skipped: listed %d times, with different specs", j-i)
		}
		i = j
	}
	return out
}

// OptedOut reports whether an object's labels take it away from the
// default proxy, as kube-proxy honours them: LabelServiceProxyName, or
// v1.IsHeadlessService, which the EndpointSlice controller also sets on a
// headless Service's slices. Only the keys count, not their values.
func OptedOut(labels map[string]string) bool {
	_, named := labels[LabelServiceProxyName]
	_, headless := labels[v1.IsHeadlessService]
	return named || headless
}

// ignored reports whether the Service is not ours to proxy: ExternalName
// and headless Services have no virtual IP, and the opt-out labels are how
// users hand a Service to another proxy.
func ignored(obj *v1.Service) bool {
	if OptedOut(obj.Labels) {
		return true
	}
	return obj.Spec.Type == v1.ServiceTypeExternalName || obj.Spec.ClusterIP == v1.ClusterIPNone
}

func convertService(obj *v1.Service, warn *warnings) *service {
	id := obj.Namespace + "/" + obj.Name
	if err := validObjectName(obj.Namespace, obj.Name); err != nil {
		warn.add("Service", id, "skipped: %v", err)
		return nil
	}
	svc := &service{namespace: obj.Namespace, name: obj.Name}
	svc.clusterIPs = clusterIPs(obj, id, warn)
	if len(svc.clusterIPs) == 0 {
		return nil
	}
	svc.ports = servicePorts(obj, id, warn)
	if len(svc.ports) == 0 {
		warn.add("Service", id, "skipped: no valid ports")
		return nil
	}
	svc.externalIPs = parseIPList(obj.Spec.ExternalIPs, "spec.externalIPs", id, warn)
	if obj.Spec.Type == v1.ServiceTypeLoadBalancer {
		svc.lbIPs = loadBalancerIPs(obj, id, warn)
		svc.sourceRanges, svc.firewall = sourceRanges(obj, id, warn)
	}
	svc.extLocal = obj.Spec.ExternalTrafficPolicy == v1.ServiceExternalTrafficPolicyLocal
	svc.intLocal = obj.Spec.InternalTrafficPolicy != nil && *obj.Spec.InternalTrafficPolicy == v1.ServiceInternalTrafficPolicyLocal
	// Only a LoadBalancer with a Local external policy has a health
	// check node port, as in kube-proxy (and the API server allocates
	// none for other Services).
	if svc.extLocal && obj.Spec.Type == v1.ServiceTypeLoadBalancer {
		svc.healthCheckPort = validPortOrZero(obj.Spec.HealthCheckNodePort, "spec.healthCheckNodePort", id, warn)
	}
	svc.affinitySeconds = affinity(obj, id, warn)
	return svc
}

func validObjectName(namespace, name string) error {
	if namespace == "" {
		return fmt.Errorf("metadata.namespace is missing")
	}
	if errs := labelErrors(namespace); len(errs) > 0 {
		return fmt.Errorf("metadata.namespace %q is invalid: %s", namespace, errs[0])
	}
	if name == "" {
		return fmt.Errorf("metadata.name is missing")
	}
	if errs := subdomainErrors(name); len(errs) > 0 {
		return fmt.Errorf("metadata.name %q is invalid: %s", name, errs[0])
	}
	return nil
}

// clusterIPs returns the valid cluster IPs, at most one per family, the
// first of each family winning as in spec.clusterIPs.
func clusterIPs(obj *v1.Service, id string, warn *warnings) []netip.Addr {
	raw := obj.Spec.ClusterIPs
	if len(raw) == 0 && obj.Spec.ClusterIP != "" {
		raw = []string{obj.Spec.ClusterIP}
	}
	if len(raw) == 0 {
		warn.add("Service", id, "skipped: spec.clusterIP is missing")
		return nil
	}
	var out []netip.Addr
	for _, s := range raw {
		ip, err := ParseIP(s)
		if err == nil {
			err = usableAddress(ip)
		}
		if err != nil {
			warn.add("Service", id, "cluster IP skipped: %v", err)
			continue
		}
		if slices.ContainsFunc(out, func(a netip.Addr) bool { return FamilyOf(a) == FamilyOf(ip) }) {
			warn.add("Service", id, "cluster IP %s ignored: a Service has one cluster IP per family", ip)
			continue
		}
		out = append(out, ip)
	}
	if len(out) == 0 {
		warn.add("Service", id, "skipped: no valid cluster IP")
	}
	return out
}

func servicePorts(obj *v1.Service, id string, warn *warnings) []servicePortSpec {
	var out []servicePortSpec
	for i, p := range obj.Spec.Ports {
		field := fmt.Sprintf("spec.ports[%d]", i)
		spec, err := servicePort(obj.Spec.Type, p)
		if err != nil {
			warn.add("Service", id, "%s skipped: %v", field, err)
			continue
		}
		if slices.ContainsFunc(out, func(o servicePortSpec) bool {
			return o.name == spec.name && o.protocol == spec.protocol
		}) {
			warn.add("Service", id, "%s skipped: duplicate port name %q for %s", field, spec.name, spec.protocol)
			continue
		}
		out = append(out, spec)
	}
	return out
}

func servicePort(typ v1.ServiceType, p v1.ServicePort) (servicePortSpec, error) {
	proto, err := ParseProtocol(p.Protocol)
	if err != nil {
		return servicePortSpec{}, err
	}
	if p.Name != "" {
		if errs := labelErrors(p.Name); len(errs) > 0 {
			return servicePortSpec{}, fmt.Errorf("name %q is invalid: %s", p.Name, errs[0])
		}
	}
	port, err := validPort(p.Port)
	if err != nil {
		return servicePortSpec{}, fmt.Errorf("port: %w", err)
	}
	spec := servicePortSpec{name: p.Name, protocol: proto, port: port}
	if (typ == v1.ServiceTypeNodePort || typ == v1.ServiceTypeLoadBalancer) && p.NodePort != 0 {
		if spec.nodePort, err = validPort(p.NodePort); err != nil {
			return servicePortSpec{}, fmt.Errorf("nodePort: %w", err)
		}
	}
	return spec, nil
}

// ParseProtocol validates a Kubernetes protocol; empty means TCP, the API
// server's default.
func ParseProtocol(p v1.Protocol) (Protocol, error) {
	switch p {
	case v1.ProtocolTCP, "":
		return TCP, nil
	case v1.ProtocolUDP:
		return UDP, nil
	case v1.ProtocolSCTP:
		return SCTP, nil
	}
	return "", fmt.Errorf("unknown protocol %q", p)
}

func validPort(p int32) (uint16, error) {
	if p < 1 || p > 65535 {
		return 0, fmt.Errorf("%d is out of range 1-65535", p)
	}
	return uint16(p), nil
}

func validPortOrZero(p int32, field, id string, warn *warnings) uint16 {
	if p == 0 {
		return 0
	}
	port, err := validPort(p)
	if err != nil {
		warn.add("Service", id, "%s ignored: %v", field, err)
	}
	return port
}

func parseIPList(list []string, field, id string, warn *warnings) []netip.Addr {
	var out []netip.Addr
	for _, s := range list {
		ip, err := ParseIP(s)
		if err == nil {
			err = usableAddress(ip)
		}
		if err != nil {
			warn.add("Service", id, "%s entry skipped: %v", field, err)
			continue
		}
		out = append(out, ip)
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return slices.Compact(out)
}

func loadBalancerIPs(obj *v1.Service, id string, warn *warnings) []netip.Addr {
	var raw []string
	for _, ing := range obj.Status.LoadBalancer.Ingress {
		// An ingress in Proxy mode is a load balancer that connects to the
		// node itself; capturing its VIP here would bypass it.
		if ing.IP == "" || (ing.IPMode != nil && *ing.IPMode == v1.LoadBalancerIPModeProxy) {
			continue
		}
		raw = append(raw, ing.IP)
	}
	return parseIPList(raw, "status.loadBalancer.ingress", id, warn)
}

// sourceRanges parses loadBalancerSourceRanges. firewall is true when the
// Service asked for ranges at all: if none of them is valid the Service is
// closed rather than opened to everyone, since opening it is the one
// mistake a user who wrote ranges cannot have meant.
func sourceRanges(obj *v1.Service, id string, warn *warnings) (ranges []netip.Prefix, firewall bool) {
	for _, s := range obj.Spec.LoadBalancerSourceRanges {
		if strings.TrimSpace(s) == "" {
			continue
		}
		firewall = true
		p, err := ParseCIDR(s)
		if err != nil {
			warn.add("Service", id, "spec.loadBalancerSourceRanges entry skipped: %v", err)
			continue
		}
		ranges = append(ranges, p)
	}
	if firewall && len(ranges) == 0 {
		warn.add("Service", id, "no valid spec.loadBalancerSourceRanges: load balancer traffic is dropped")
	}
	slices.SortFunc(ranges, comparePrefixes)
	return slices.Compact(ranges), firewall
}

// firewallFor reports whether the Service's load balancer traffic of
// family fam passes through its source ranges. Only ranges of that family
// can say who may connect, so ranges all of the other family leave it
// open, as kube-proxy leaves it; ranges none of which parsed close it
// (see sourceRanges).
func (svc *service) firewallFor(fam Family) bool {
	if len(svc.sourceRanges) == 0 {
		return svc.firewall
	}
	return len(prefixesOfFamily(svc.sourceRanges, fam)) > 0
}

func affinity(obj *v1.Service, id string, warn *warnings) int32 {
	if obj.Spec.SessionAffinity != v1.ServiceAffinityClientIP {
		return 0
	}
	cfg := obj.Spec.SessionAffinityConfig
	if cfg == nil || cfg.ClientIP == nil || cfg.ClientIP.TimeoutSeconds == nil {
		return defaultAffinitySeconds
	}
	t := *cfg.ClientIP.TimeoutSeconds
	if t < 1 || t > maxAffinitySeconds {
		warn.add("Service", id, "sessionAffinityConfig.clientIP.timeoutSeconds %d is out of range 1-%d: using %d",
			t, maxAffinitySeconds, defaultAffinitySeconds)
		return defaultAffinitySeconds
	}
	return t
}

// portsFor returns the Service's ports in one family, endpoints chosen.
func (svc *service) portsFor(fam Family, eps endpointIndex, node Node) []*ServicePort {
	i := slices.IndexFunc(svc.clusterIPs, func(a netip.Addr) bool { return FamilyOf(a) == fam })
	if i < 0 {
		return nil
	}
	var out []*ServicePort
	for _, p := range svc.ports {
		sp := &ServicePort{
			Name:                PortName{svc.namespace, svc.name, p.name, p.protocol},
			ClusterIP:           svc.clusterIPs[i],
			Port:                p.port,
			NodePort:            p.nodePort,
			ExternalIPs:         addrsOfFamily(svc.externalIPs, fam),
			LoadBalancerIPs:     addrsOfFamily(svc.lbIPs, fam),
			SourceRanges:        prefixesOfFamily(svc.sourceRanges, fam),
			Firewall:            svc.firewallFor(fam),
			InternalPolicyLocal: svc.intLocal,
			AffinitySeconds:     svc.affinitySeconds,
		}
		sp.Hash = ServicePortHash(sp.Name)
		// Like kube-proxy, a Local external policy only means something
		// for a port that takes external traffic.
		sp.ExternalPolicyLocal = svc.extLocal && sp.ExternallyAccessible()
		// The health check port is the Service's, not the port's: load
		// balancers probe it whatever this node's rules for the port,
		// also when every ingress is ipMode Proxy and the port has no
		// NodePort (kube-proxy opens it then too).
		sp.HealthCheckNodePort = svc.healthCheckPort
		if len(sp.LoadBalancerIPs) == 0 {
			sp.SourceRanges, sp.Firewall = nil, false
		}
		endpoints := eps.lookup(svc.namespace, svc.name, p.name, p.protocol, fam)
		categorize(sp, endpoints, node)
		keepOtherServing(sp, endpoints)
		out = append(out, sp)
	}
	return out
}
