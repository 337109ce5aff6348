package watch

import (
	"slices"
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	networking "k8s.io/api/networking/v1"

	"github.com/svcproxy/svcproxy/pkg/model"
)

// Tracker holds the current Services, EndpointSlices, ServiceCIDRs and
// Node, fed by informer event handlers, and the changes since the last
// Snapshot. It is safe for concurrent use; handlers of different
// informers call it from different goroutines.
//
// The Tracker never modifies the objects it is given and hands the same
// pointers out in Snapshots: like the informer cache they come from, they
// are read-only.
type Tracker struct {
	nodeName string
	now      func() time.Time

	mu       sync.Mutex
	services *objectChanges[*v1.Service]
	slices   *objectChanges[*discovery.EndpointSlice]
	node     *objectChanges[*v1.Node]
	cidrs    *objectChanges[*networking.ServiceCIDR]
	index    *serviceIndex
	// snapshotted is set by the first Snapshot; until then every Snapshot
	// is full.
	snapshotted bool
	notify      func()
	notifyNode  func(*v1.Node)
}

// NewTracker returns an empty Tracker for the node named nodeName. Node
// events for other nodes are ignored.
func NewTracker(nodeName string) *Tracker {
	return &Tracker{
		nodeName: nodeName,
		now:      time.Now,
		services: newObjectChanges(sameService),
		slices:   newObjectChanges(sameSlice),
		node:     newObjectChanges(sameNode),
		cidrs:    newObjectChanges(sameServiceCIDR),
		index:    newServiceIndex(),
	}
}

// NodeName returns the name of the node the Tracker follows.
func (t *Tracker) NodeName() string { return t.nodeName }

// Notify registers f to be called after each event that leaves a change
// pending, replacing any earlier f. It is called without the Tracker's lock
// held, on the informer's goroutine, so it must not block: SyncLoop.Trigger
// is the intended f.
func (t *Tracker) Notify(f func()) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.notify = f
}

// NotifyNode registers f to be called with this node's Node (nil once it
// is deleted) after every event about it, replacing any earlier f. Unlike
// Notify it is called whether or not the model sees a change: the Node's
// taints and deletion, which no rule depends on, decide the health check,
// and it must see them at once. It is called without the Tracker's lock
// held, on the informer's goroutine, so it must not block.
func (t *Tracker) NotifyNode(f func(node *v1.Node)) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.notifyNode = f
}

// OnServiceAdd records a new Service.
func (t *Tracker) OnServiceAdd(svc *v1.Service) { t.setService(svc) }

// OnServiceUpdate records a changed Service. The Tracker compares newSvc
// with the version it holds, not with oldSvc.
func (t *Tracker) OnServiceUpdate(_, newSvc *v1.Service) { t.setService(newSvc) }

// OnEndpointSliceAdd records a new EndpointSlice.
func (t *Tracker) OnEndpointSliceAdd(slice *discovery.EndpointSlice) { t.setSlice(slice) }

// OnEndpointSliceUpdate records a changed EndpointSlice. The Tracker
// compares newSlice with the version it holds, not with oldSlice.
func (t *Tracker) OnEndpointSliceUpdate(_, newSlice *discovery.EndpointSlice) {
	t.setSlice(newSlice)
}

// OnNodeAdd records this node's Node appearing.
func (t *Tracker) OnNodeAdd(node *v1.Node) { t.setNode(node) }

// OnNodeUpdate records a change of this node's Node.
func (t *Tracker) OnNodeUpdate(_, newNode *v1.Node) { t.setNode(newNode) }

// OnServiceCIDRAdd records a new ServiceCIDR.
func (t *Tracker) OnServiceCIDRAdd(cidr *networking.ServiceCIDR) { t.setServiceCIDR(cidr) }

// OnServiceCIDRUpdate records a changed ServiceCIDR.
func (t *Tracker) OnServiceCIDRUpdate(_, cidr *networking.ServiceCIDR) { t.setServiceCIDR(cidr) }

func (t *Tracker) setServiceCIDR(cidr *networking.ServiceCIDR) {
	if cidr == nil {
		return
	}
	t.record(func(now time.Time) bool { return t.cidrs.record(cidr.Name, cidr, now, time.Time{}) })
}

func (t *Tracker) deleteServiceCIDR(name string) {
	t.record(func(now time.Time) bool { return t.cidrs.record(name, nil, now, time.Time{}) })
}

// PendingChanges returns how many Services and EndpointSlices have a
// change the next Snapshot reports.
func (t *Tracker) PendingChanges() (services, endpointSlices int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.services.pending), len(t.slices.pending)
}

// TotalChanges returns how many events about Services and EndpointSlices
// left a change pending for the next Snapshot, since the Tracker was
// made; events that change nothing the model sees are not counted.
func (t *Tracker) TotalChanges() (services, endpointSlices int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.services.total, t.slices.total
}

func (t *Tracker) setService(svc *v1.Service) {
	if svc == nil {
		return
	}
	key := svc.Namespace + "/" + svc.Name
	// The informers already filter on LabelSelector; this guards against
	// objects fed to the tracker by other means.
	if model.OptedOut(svc.Labels) {
		svc = nil
	}
	t.record(func(now time.Time) bool { return t.recordService(key, svc, now) })
}

func (t *Tracker) deleteService(key string) {
	t.record(func(now time.Time) bool { return t.recordService(key, nil, now) })
}

// recordService records svc (nil when gone) under key, in the changes
// and in the index; the caller holds the lock.
func (t *Tracker) recordService(key string, svc *v1.Service, now time.Time) bool {
	t.index.setService(t.services.current[key], svc)
	return t.services.record(key, svc, now, time.Time{})
}

func (t *Tracker) setSlice(slice *discovery.EndpointSlice) {
	if slice == nil {
		return
	}
	key := slice.Namespace + "/" + slice.Name
	if model.OptedOut(slice.Labels) {
		slice = nil
	}
	trigger := triggerTime(slice)
	t.record(func(now time.Time) bool { return t.recordSlice(key, slice, now, trigger) })
}

func (t *Tracker) deleteSlice(key string) {
	t.record(func(now time.Time) bool { return t.recordSlice(key, nil, now, time.Time{}) })
}

// recordSlice records slice (nil when gone) under key, in the changes and
// in the index; the caller holds the lock.
func (t *Tracker) recordSlice(key string, slice *discovery.EndpointSlice, now, trigger time.Time) bool {
	t.index.setSlice(t.slices.current[key], slice)
	return t.slices.record(key, slice, now, trigger)
}

func (t *Tracker) setNode(node *v1.Node) {
	if node == nil || node.Name != t.nodeName {
		return
	}
	t.record(func(now time.Time) bool { return t.node.record(node.Name, node, now, time.Time{}) })
	t.nodeEvent(node)
}

func (t *Tracker) deleteNode(name string) {
	if name != t.nodeName {
		return
	}
	t.record(func(now time.Time) bool { return t.node.record(name, nil, now, time.Time{}) })
	t.nodeEvent(nil)
}

// nodeEvent passes this node's Node, as it now is, to NotifyNode's f.
func (t *Tracker) nodeEvent(node *v1.Node) {
	t.mu.Lock()
	f := t.notifyNode
	t.mu.Unlock()
	if f != nil {
		f(node)
	}
}

// record runs change under the lock and calls the notify callback, outside
// it, when change leaves a change pending.
func (t *Tracker) record(change func(now time.Time) bool) {
	t.mu.Lock()
	pending := change(t.now())
	notify := t.notify
	t.mu.Unlock()
	if pending && notify != nil {
		notify()
	}
}

// Snapshot returns the current objects and the changes since the last
// Snapshot, and forgets those changes. The slices are new; the objects in
// them are shared and read-only.
func (t *Tracker) Snapshot() (model.Input, Changes) {
	t.mu.Lock()
	defer t.mu.Unlock()
	in := model.Input{
		Services:       t.services.objects(),
		EndpointSlices: t.slices.objects(),
		ServiceCIDRs:   t.cidrs.objects(),
		Node:           model.Node{Name: t.nodeName},
	}
	node, warnings := model.NodeFromObject(t.node.current[t.nodeName])
	if node.Name != "" {
		in.Node = node
	}
	ch := Changes{Full: !t.snapshotted}
	t.snapshotted = true
	touched := map[model.ServiceKey]bool{}

	// The keys come from the objects, not from the tracker's string keys,
	// so that nothing has to split "namespace/name" again. A pending pair
	// has at least one object, and both have the same name.
	for _, p := range t.services.take() {
		for _, s := range []*v1.Service{p.previous, p.current} {
			if s != nil {
				touched[model.ServiceKey{Namespace: s.Namespace, Name: s.Name}] = true
			}
		}
		ch.noteSince(p.since)
	}
	for _, p := range t.slices.take() {
		for _, s := range []*discovery.EndpointSlice{p.previous, p.current} {
			if key, ok := serviceOf(s); ok {
				touched[key] = true
			}
		}
		fam := sliceFamily(p.current, p.previous)
		for _, at := range p.triggers {
			ch.Triggers = append(ch.Triggers, Trigger{Time: at, Family: fam})
		}
		ch.noteSince(p.since)
	}
	for _, p := range t.node.take() {
		ch.NodeChanged, ch.Full, ch.NodeWarnings = true, true, warnings
		ch.noteSince(p.since)
	}
	// ServiceCIDRs reach a rule that no Service owns.
	for _, p := range t.cidrs.take() {
		ch.Full = true
		ch.noteSince(p.since)
	}
	ch.Objects = t.index.changes(touched)
	slices.SortStableFunc(ch.Triggers, func(a, b Trigger) int { return a.Time.Compare(b.Time) })
	return in, ch
}

// sliceFamily returns the family of the first of candidates that is not nil:
// 0 for FQDN slices, which the model does not use.
func sliceFamily(candidates ...*discovery.EndpointSlice) model.Family {
	for _, s := range candidates {
		if s == nil {
			continue
		}
		switch s.AddressType {
		case discovery.AddressTypeIPv4:
			return model.IPv4
		case discovery.AddressTypeIPv6:
			return model.IPv6
		}
		return 0
	}
	return 0
}

// noteSince keeps the oldest change time.
func (c *Changes) noteSince(since time.Time) {
	if c.OldestChange.IsZero() || since.Before(c.OldestChange) {
		c.OldestChange = since
	}
}

// serviceOf returns the key of the Service owning slice; false when slice
// is nil or does not say.
func serviceOf(slice *discovery.EndpointSlice) (model.ServiceKey, bool) {
	if slice == nil {
		return model.ServiceKey{}, false
	}
	name := slice.Labels[discovery.LabelServiceName]
	if name == "" {
		return model.ServiceKey{}, false
	}
	return model.ServiceKey{Namespace: slice.Namespace, Name: name}, true
}
