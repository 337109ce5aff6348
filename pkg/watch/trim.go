package watch

import (
	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
)

// trim drops from an object, before the informer caches it, what the
// proxy never reads: managed fields, annotations (but an EndpointSlice's
// trigger time), a Service's selector, and each endpoint's target
// reference. At 10,000 Services × 10 endpoints that is most of the cache:
// managed fields and target references alone outweigh the addresses the
// proxy needs. The informer owns the object it is given (it was just
// decoded), so trimming it in place is safe.
func trim(obj any) (any, error) {
	switch o := obj.(type) {
	case *v1.Service:
		o.ManagedFields, o.Annotations = nil, nil
		o.Spec.Selector = nil
	case *discovery.EndpointSlice:
		o.ManagedFields = nil
		if t, ok := o.Annotations[v1.EndpointsLastChangeTriggerTime]; ok {
			o.Annotations = map[string]string{v1.EndpointsLastChangeTriggerTime: t}
		} else {
			o.Annotations = nil
		}
		for i := range o.Endpoints {
			o.Endpoints[i].TargetRef = nil
			o.Endpoints[i].DeprecatedTopology = nil
		}
	case *v1.Node:
		o.ManagedFields, o.Annotations = nil, nil
		o.Status.Images = nil
	}
	return obj, nil
}
