package watch

import (
	"slices"

	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"

	"github.com/svcproxy/svcproxy/pkg/model"
)

// serviceIndex keeps the current Services and EndpointSlices by the
// Service key they build under, so that a Snapshot hands the model
// builder the objects of the changed Services without walking the
// cluster: at 10,000 Services that walk was most of an endpoint change's
// user-space time.
type serviceIndex struct {
	services map[model.ServiceKey]*v1.Service
	// slices holds each key's EndpointSlices: a list, not a map by name,
	// since a Service has one or a few and a map each would cost
	// megabytes at 10,000 Services.
	slices map[model.ServiceKey][]*discovery.EndpointSlice
	// orphans are the EndpointSlices that name no Service, by
	// "namespace/name"; they only ever warn.
	orphans map[string]*discovery.EndpointSlice
}

func newServiceIndex() *serviceIndex {
	return &serviceIndex{
		services: map[model.ServiceKey]*v1.Service{},
		slices:   map[model.ServiceKey][]*discovery.EndpointSlice{},
		orphans:  map[string]*discovery.EndpointSlice{},
	}
}

// setService replaces the Service previous (nil when there was none)
// with current (nil when it is gone); both have the same name.
func (x *serviceIndex) setService(previous, current *v1.Service) {
	if previous != nil {
		delete(x.services, model.ServiceKey{Namespace: previous.Namespace, Name: previous.Name})
	}
	if current != nil {
		x.services[model.ServiceKey{Namespace: current.Namespace, Name: current.Name}] = current
	}
}

// setSlice replaces the EndpointSlice previous with current, either nil,
// both of one name; the two may name different Services, since the
// service-name label can change.
func (x *serviceIndex) setSlice(previous, current *discovery.EndpointSlice) {
	if previous != nil {
		if key, ok := serviceOf(previous); ok {
			kept := slices.DeleteFunc(x.slices[key], func(s *discovery.EndpointSlice) bool { return s.Name == previous.Name })
			if len(kept) == 0 {
				delete(x.slices, key)
			} else {
				x.slices[key] = kept
			}
		} else {
			delete(x.orphans, previous.Namespace+"/"+previous.Name)
		}
	}
	if current == nil {
		return
	}
	if key, ok := serviceOf(current); ok {
		x.slices[key] = append(x.slices[key], current)
	} else {
		x.orphans[current.Namespace+"/"+current.Name] = current
	}
}

// changes returns the objects of each of keys and the orphans, in new
// slices; the objects are shared and read-only. The builder orders what
// it reads, so the map order here reaches no rule.
func (x *serviceIndex) changes(keys map[model.ServiceKey]bool) model.Changes {
	ch := model.Changes{Services: make(map[model.ServiceKey]model.Objects, len(keys))}
	for key := range keys {
		var objs model.Objects
		if svc := x.services[key]; svc != nil {
			objs.Services = []*v1.Service{svc}
		}
		objs.EndpointSlices = slices.Clone(x.slices[key])
		ch.Services[key] = objs
	}
	for _, s := range x.orphans {
		ch.Orphans = append(ch.Orphans, s)
	}
	return ch
}
