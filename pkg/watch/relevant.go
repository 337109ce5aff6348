package watch

import (
	"slices"
	"time"

	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	networking "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/equality"

	"github.com/svcproxy/svcproxy/pkg/model"
)

// LabelSelector selects the Services and EndpointSlices a default proxy
// handles: those model.OptedOut keeps, said in the API server's terms so
// that the others are never sent to the informers.
const LabelSelector = "!" + model.LabelServiceProxyName + ",!" + v1.IsHeadlessService

// AnnotationTriggerTime is the EndpointSlice annotation holding when the
// change that caused the slice's last update happened. It is another name
// for k8s.io/api's v1.EndpointsLastChangeTriggerTime, which this package
// reads by; new code should use that.
const AnnotationTriggerTime = v1.EndpointsLastChangeTriggerTime

// sameService reports whether two versions of a Service look alike to the
// model. It compares the whole spec except fields known to be irrelevant
// to proxying, so that a field the model starts reading later is not
// silently dropped here, and the load balancer status.
func sameService(a, b *v1.Service) bool {
	if a == nil || b == nil {
		return a == b
	}
	return equality.Semantic.DeepEqual(proxiedSpec(a.Spec), proxiedSpec(b.Spec)) &&
		equality.Semantic.DeepEqual(a.Status.LoadBalancer, b.Status.LoadBalancer)
}

// proxiedSpec returns spec without the fields a proxy does not read.
func proxiedSpec(spec v1.ServiceSpec) v1.ServiceSpec {
	spec.Selector = nil
	spec.PublishNotReadyAddresses = false
	spec.IPFamilies = nil
	spec.IPFamilyPolicy = nil
	spec.AllocateLoadBalancerNodePorts = nil
	spec.LoadBalancerClass = nil
	return spec
}

// sameSlice reports whether two versions of an EndpointSlice look alike to
// the model: the address type, owning Service, ports, and each endpoint's
// addresses, conditions, node, zone and hints. Hostnames, target
// references and annotations (the trigger time among them) are ignored.
func sameSlice(a, b *discovery.EndpointSlice) bool {
	if a == nil || b == nil {
		return a == b
	}
	if a.AddressType != b.AddressType ||
		a.Labels[discovery.LabelServiceName] != b.Labels[discovery.LabelServiceName] ||
		!equality.Semantic.DeepEqual(a.Ports, b.Ports) {
		return false
	}
	return slices.EqualFunc(a.Endpoints, b.Endpoints, sameEndpoint)
}

func sameEndpoint(a, b discovery.Endpoint) bool {
	return slices.Equal(a.Addresses, b.Addresses) &&
		equality.Semantic.DeepEqual(a.Conditions, b.Conditions) &&
		equality.Semantic.DeepEqual(a.NodeName, b.NodeName) &&
		equality.Semantic.DeepEqual(a.Zone, b.Zone) &&
		equality.Semantic.DeepEqual(a.Hints, b.Hints)
}

// sameNode reports whether two versions of this node's Node give the same
// model.Node; a missing Node gives none.
func sameNode(a, b *v1.Node) bool {
	if a == nil || b == nil {
		return a == b
	}
	na, _ := model.NodeFromObject(a)
	nb, _ := model.NodeFromObject(b)
	return na.Zone == nb.Zone && slices.Equal(na.IPs, nb.IPs) && slices.Equal(na.PodCIDRs, nb.PodCIDRs)
}

// sameServiceCIDR reports whether two versions of a ServiceCIDR give the
// same ranges.
func sameServiceCIDR(a, b *networking.ServiceCIDR) bool {
	if a == nil || b == nil {
		return a == b
	}
	return slices.Equal(a.Spec.CIDRs, b.Spec.CIDRs)
}

// triggerTime returns the slice's change trigger time, zero when the
// annotation is missing or does not parse.
func triggerTime(slice *discovery.EndpointSlice) time.Time {
	if slice == nil {
		return time.Time{}
	}
	s, ok := slice.Annotations[v1.EndpointsLastChangeTriggerTime]
	if !ok {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}
	}
	return t
}
