package watch

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	networking "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/svcproxy/svcproxy/pkg/model"
)

// Test address plan (the part of docs/test-addresses.md these tests use):
//
//	cluster IPs   172.30.0.0/16
//	pod IPs       10.1.1.0/24 (node-a's pods)
//	node IPs      this node 192.168.0.10 and fd00:192::10, others
//	              192.168.0.11 and up
const (
	testNode  = "node-a"
	otherNode = "node-b"
)

// epoch is the fake clock's start; each event advances it by a second.
var epoch = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func service(name, clusterIP string, mutate ...func(*v1.Service)) *v1.Service {
	svc := &v1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, ResourceVersion: "1"},
		Spec: v1.ServiceSpec{
			Type:      v1.ServiceTypeClusterIP,
			ClusterIP: clusterIP, ClusterIPs: []string{clusterIP},
			Ports: []v1.ServicePort{{Name: "http", Protocol: v1.ProtocolTCP, Port: 80}},
		},
	}
	for _, m := range mutate {
		m(svc)
	}
	return svc
}

func endpointSlice(name, svcName string, ips []string, mutate ...func(*discovery.EndpointSlice)) *discovery.EndpointSlice {
	s := &discovery.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: "ns", Name: name, ResourceVersion: "1",
			Labels: map[string]string{discovery.LabelServiceName: svcName},
		},
		AddressType: discovery.AddressTypeIPv4,
		Ports:       []discovery.EndpointPort{{Name: ptr.To("http"), Protocol: ptr.To(v1.ProtocolTCP), Port: ptr.To[int32](8080)}},
	}
	for _, ip := range ips {
		s.Endpoints = append(s.Endpoints, discovery.Endpoint{
			Addresses:  []string{ip},
			Conditions: discovery.EndpointConditions{Ready: ptr.To(true)},
			NodeName:   ptr.To(testNode),
		})
	}
	for _, m := range mutate {
		m(s)
	}
	return s
}

func node(name string, ips []string, mutate ...func(*v1.Node)) *v1.Node {
	n := &v1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, ResourceVersion: "1",
		Labels: map[string]string{v1.LabelTopologyZone: "zone-1"}}}
	for _, ip := range ips {
		n.Status.Addresses = append(n.Status.Addresses, v1.NodeAddress{Type: v1.NodeInternalIP, Address: ip})
	}
	for _, m := range mutate {
		m(n)
	}
	return n
}

func labelled(key string) func(metav1.Object) {
	return func(o metav1.Object) {
		l := o.GetLabels()
		if l == nil {
			l = map[string]string{}
		}
		l[key] = ""
		o.SetLabels(l)
	}
}

func resourceVersion(rv string) func(metav1.Object) {
	return func(o metav1.Object) { o.SetResourceVersion(rv) }
}

func triggeredAt(at time.Time) func(*discovery.EndpointSlice) {
	return func(s *discovery.EndpointSlice) {
		s.Annotations = map[string]string{v1.EndpointsLastChangeTriggerTime: at.Format(time.RFC3339Nano)}
	}
}

func onService(f func(metav1.Object)) func(*v1.Service) { return func(s *v1.Service) { f(s) } }
func onSlice(f func(metav1.Object)) func(*discovery.EndpointSlice) {
	return func(s *discovery.EndpointSlice) { f(s) }
}
func onNode(f func(metav1.Object)) func(*v1.Node) { return func(n *v1.Node) { f(n) } }

// newTestTracker returns a Tracker whose clock starts at epoch and moves
// one second per reading.
func newTestTracker() *Tracker {
	tr := NewTracker(testNode)
	now := epoch
	tr.now = func() time.Time {
		now = now.Add(time.Second)
		return now
	}
	return tr
}

// wantChanges is the part of Changes a case checks.
type wantChanges struct {
	Services    []string
	NodeChanged bool
	Full        bool
	Triggers    []time.Time
}

// trackerCase feeds events to a Tracker and checks its next Snapshot.
type trackerCase struct {
	name string
	// before is applied and snapshotted before the case's events.
	before, events []func(*Tracker)
	want           wantChanges
	// wantServices and wantSlices are the keys of the current objects.
	wantServices, wantSlices []string
}

var (
	svcA   = service("a", "172.30.0.1")
	sliceA = endpointSlice("a-1", "a", []string{"10.1.1.5"})
	t1, t2 = epoch.Add(-time.Minute), epoch.Add(-30 * time.Second)
)

// serviceCases cover Service events.
func serviceCases() []trackerCase {
	return []trackerCase{{
		name:         "new service",
		events:       []func(*Tracker){func(tr *Tracker) { tr.OnServiceAdd(svcA) }},
		want:         wantChanges{Services: []string{"ns/a"}},
		wantServices: []string{"ns/a"},
	}, {
		name: "add then delete of a new service is no change",
		events: []func(*Tracker){
			func(tr *Tracker) { tr.OnServiceAdd(svcA) },
			func(tr *Tracker) { deleteService(tr, svcA) },
		},
	}, {
		name:   "update then update is one change",
		before: []func(*Tracker){func(tr *Tracker) { tr.OnServiceAdd(svcA) }},
		events: []func(*Tracker){
			func(tr *Tracker) { tr.OnServiceUpdate(svcA, service("a", "172.30.0.2")) },
			func(tr *Tracker) { tr.OnServiceUpdate(service("a", "172.30.0.2"), service("a", "172.30.0.3")) },
		},
		want:         wantChanges{Services: []string{"ns/a"}},
		wantServices: []string{"ns/a"},
	}, {
		name:   "update and update back is no change",
		before: []func(*Tracker){func(tr *Tracker) { tr.OnServiceAdd(svcA) }},
		events: []func(*Tracker){
			func(tr *Tracker) { tr.OnServiceUpdate(svcA, service("a", "172.30.0.2")) },
			func(tr *Tracker) { tr.OnServiceUpdate(service("a", "172.30.0.2"), service("a", "172.30.0.1")) },
		},
		wantServices: []string{"ns/a"},
	}, {
		name:   "service update the model cannot see is dropped",
		before: []func(*Tracker){func(tr *Tracker) { tr.OnServiceAdd(svcA) }},
		events: []func(*Tracker){func(tr *Tracker) {
			tr.OnServiceUpdate(svcA, service("a", "172.30.0.1", onService(resourceVersion("2")), func(s *v1.Service) {
				s.Spec.Selector = map[string]string{"app": "a"}
				s.Status.Conditions = []metav1.Condition{{Type: "Ready"}}
			}))
		}},
		wantServices: []string{"ns/a"},
	}, {
		name:   "deleted service",
		before: []func(*Tracker){func(tr *Tracker) { tr.OnServiceAdd(svcA) }},
		events: []func(*Tracker){func(tr *Tracker) { deleteService(tr, svcA) }},
		want:   wantChanges{Services: []string{"ns/a"}},
	}}
}

// sliceCases cover EndpointSlice events, opting out and trigger times.
func sliceCases() []trackerCase {
	return []trackerCase{{
		name:       "slice change touches its service",
		events:     []func(*Tracker){func(tr *Tracker) { tr.OnEndpointSliceAdd(sliceA) }},
		want:       wantChanges{Services: []string{"ns/a"}},
		wantSlices: []string{"ns/a-1"},
	}, {
		name:   "slice moving to another service touches both",
		before: []func(*Tracker){func(tr *Tracker) { tr.OnEndpointSliceAdd(sliceA) }},
		events: []func(*Tracker){func(tr *Tracker) {
			tr.OnEndpointSliceUpdate(sliceA, endpointSlice("a-1", "b", []string{"10.1.1.5"}))
		}},
		want:       wantChanges{Services: []string{"ns/a", "ns/b"}},
		wantSlices: []string{"ns/a-1"},
	}, {
		name:   "slice update the model cannot see is dropped",
		before: []func(*Tracker){func(tr *Tracker) { tr.OnEndpointSliceAdd(sliceA) }},
		events: []func(*Tracker){func(tr *Tracker) {
			tr.OnEndpointSliceUpdate(sliceA, endpointSlice("a-1", "a", []string{"10.1.1.5"},
				onSlice(resourceVersion("2")), triggeredAt(t1), func(s *discovery.EndpointSlice) {
					s.Endpoints[0].Hostname = ptr.To("pod-1")
					s.Endpoints[0].TargetRef = &v1.ObjectReference{Kind: "Pod", Name: "pod-1"}
				}))
		}},
		wantSlices: []string{"ns/a-1"},
	}, {
		name:   "endpoint condition change is seen",
		before: []func(*Tracker){func(tr *Tracker) { tr.OnEndpointSliceAdd(sliceA) }},
		events: []func(*Tracker){func(tr *Tracker) {
			tr.OnEndpointSliceUpdate(sliceA, endpointSlice("a-1", "a", []string{"10.1.1.5"}, func(s *discovery.EndpointSlice) {
				s.Endpoints[0].Conditions.Terminating = ptr.To(true)
			}))
		}},
		want:       wantChanges{Services: []string{"ns/a"}},
		wantSlices: []string{"ns/a-1"},
	}, {
		name: "opted-out objects are ignored",
		events: []func(*Tracker){
			func(tr *Tracker) {
				tr.OnServiceAdd(service("b", "172.30.0.2", onService(labelled(model.LabelServiceProxyName))))
			},
			func(tr *Tracker) { tr.OnServiceAdd(service("c", "None", onService(labelled(v1.IsHeadlessService)))) },
			func(tr *Tracker) {
				tr.OnEndpointSliceAdd(endpointSlice("c-1", "c", []string{"10.1.1.7"}, onSlice(labelled(v1.IsHeadlessService))))
			},
		},
	}, {
		name:   "opting out is a deletion",
		before: []func(*Tracker){func(tr *Tracker) { tr.OnServiceAdd(svcA) }},
		events: []func(*Tracker){func(tr *Tracker) {
			tr.OnServiceUpdate(svcA, service("a", "172.30.0.1", onService(labelled(model.LabelServiceProxyName))))
		}},
		want: wantChanges{Services: []string{"ns/a"}},
	}, {
		name: "trigger times are collected",
		events: []func(*Tracker){
			func(tr *Tracker) {
				tr.OnEndpointSliceAdd(endpointSlice("a-1", "a", []string{"10.1.1.5"}, triggeredAt(t2)))
			},
			func(tr *Tracker) {
				tr.OnEndpointSliceAdd(endpointSlice("b-1", "b", []string{"10.1.1.6"}, triggeredAt(t1)))
			},
		},
		want:       wantChanges{Services: []string{"ns/a", "ns/b"}, Triggers: []time.Time{t1, t2}},
		wantSlices: []string{"ns/a-1", "ns/b-1"},
	}}
}

// nodeCases cover Node events.
func nodeCases() []trackerCase {
	return []trackerCase{{
		name:   "node appearing is a full change",
		events: []func(*Tracker){func(tr *Tracker) { tr.OnNodeAdd(node(testNode, []string{"192.168.0.10"})) }},
		want:   wantChanges{NodeChanged: true, Full: true},
	}, {
		name:   "other nodes are ignored",
		events: []func(*Tracker){func(tr *Tracker) { tr.OnNodeAdd(node(otherNode, []string{"192.168.0.11"})) }},
	}, {
		name:   "node update the model cannot see is dropped",
		before: []func(*Tracker){func(tr *Tracker) { tr.OnNodeAdd(node(testNode, []string{"192.168.0.10"})) }},
		events: []func(*Tracker){func(tr *Tracker) {
			tr.OnNodeUpdate(nil, node(testNode, []string{"192.168.0.10"}, onNode(resourceVersion("7")), func(n *v1.Node) {
				n.Status.Conditions = []v1.NodeCondition{{Type: v1.NodeReady, Status: v1.ConditionTrue}}
				n.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: "kubelet"}}
			}))
		}},
	}, {
		name:   "node address change",
		before: []func(*Tracker){func(tr *Tracker) { tr.OnNodeAdd(node(testNode, []string{"192.168.0.10"})) }},
		events: []func(*Tracker){func(tr *Tracker) {
			tr.OnNodeUpdate(nil, node(testNode, []string{"192.168.0.10", "fd00:192::10"}))
		}},
		want: wantChanges{NodeChanged: true, Full: true},
	}}
}

func TestTrackerChanges(t *testing.T) {
	tests := slices.Concat(serviceCases(), sliceCases(), nodeCases())
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := newTestTracker()
			for _, ev := range tt.before {
				ev(tr)
			}
			tr.Snapshot()
			for _, ev := range tt.events {
				ev(tr)
			}
			empty := tt.want.Services == nil && !tt.want.NodeChanged
			if got := pending(tr); got == empty {
				t.Errorf("Pending() = %v, want %v", got, !empty)
			}
			in, ch := tr.Snapshot()
			checkChanges(t, ch, tt.want)
			checkObjects(t, in, ch)
			if diff := cmp.Diff(tt.wantServices, keysOf(in.Services)); diff != "" {
				t.Errorf("services (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantSlices, keysOf(in.EndpointSlices)); diff != "" {
				t.Errorf("slices (-want +got):\n%s", diff)
			}
		})
	}
}

func checkChanges(t *testing.T, ch Changes, want wantChanges) {
	t.Helper()
	got := wantChanges{
		Services:    serviceNames(ch.Objects.Services),
		NodeChanged: ch.NodeChanged,
		Full:        ch.Full,
		Triggers:    triggerTimes(ch.Triggers),
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("changes (-want +got):\n%s", diff)
	}
	if empty(ch) != ch.OldestChange.IsZero() {
		t.Errorf("OldestChange = %v with Empty() = %v", ch.OldestChange, empty(ch))
	}
}

// serviceNames returns keys as the cases write them: "namespace/name",
// sorted, nil when there are none.
func serviceNames[V any](keys map[model.ServiceKey]V) []string {
	var out []string
	for k := range keys {
		out = append(out, k.Namespace+"/"+k.Name)
	}
	slices.Sort(out)
	return out
}

func keysOf[T metav1.Object](objs []T) []string {
	var out []string
	for _, o := range objs {
		out = append(out, o.GetNamespace()+"/"+o.GetName())
	}
	slices.Sort(out)
	return out
}

func TestTrackerSnapshotCopiesAndClears(t *testing.T) {
	tr := newTestTracker()
	tr.OnServiceAdd(service("a", "172.30.0.1"))
	tr.OnEndpointSliceAdd(endpointSlice("a-1", "a", []string{"10.1.1.5"}))

	in, ch := tr.Snapshot()
	if !ch.Full || len(ch.Objects.Services[model.ServiceKey{Namespace: "ns", Name: "a"}].EndpointSlices) != 1 {
		t.Errorf("first Snapshot changes = %+v, want full and ns/a touched with its slice", ch)
	}
	if want := epoch.Add(time.Second); !ch.OldestChange.Equal(want) {
		t.Errorf("OldestChange = %v, want %v", ch.OldestChange, want)
	}
	in.Services[0] = nil
	in.EndpointSlices = in.EndpointSlices[:0]

	if pending(tr) {
		t.Error("Pending() = true after Snapshot")
	}
	in2, ch2 := tr.Snapshot()
	checkChanges(t, ch2, wantChanges{})
	if len(in2.Services) != 1 || in2.Services[0] == nil || len(in2.EndpointSlices) != 1 {
		t.Errorf("second Snapshot = %+v, want the objects unchanged by edits to the first", in2)
	}
}

func TestTrackerNode(t *testing.T) {
	tests := []struct {
		name   string
		events []func(*Tracker)
		want   model.Node
	}{{
		name: "before the node is seen only its name is known",
		want: model.Node{Name: testNode},
	}, {
		name:   "node addresses and zone",
		events: []func(*Tracker){func(tr *Tracker) { tr.OnNodeAdd(node(testNode, []string{"192.168.0.10", "fd00:192::10"})) }},
		want: model.Node{Name: testNode, Zone: "zone-1", IPs: []netip.Addr{
			netip.MustParseAddr("192.168.0.10"), netip.MustParseAddr("fd00:192::10"),
		}},
	}, {
		name: "deleted node keeps its name only",
		events: []func(*Tracker){
			func(tr *Tracker) { tr.OnNodeAdd(node(testNode, []string{"192.168.0.10"})) },
			func(tr *Tracker) { tr.deleteNode(testNode) },
		},
		want: model.Node{Name: testNode},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := newTestTracker()
			for _, ev := range tt.events {
				ev(tr)
			}
			in, _ := tr.Snapshot()
			if diff := cmp.Diff(tt.want, in.Node, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
				t.Errorf("node (-want +got):\n%s", diff)
			}
		})
	}
}

func TestTrackerNotify(t *testing.T) {
	tr := newTestTracker()
	calls := 0
	tr.Notify(func() { calls++ })
	svc := service("a", "172.30.0.1")
	tr.OnServiceAdd(svc)                                // a change: notifies
	tr.OnServiceUpdate(svc, service("a", "172.30.0.1")) // the same change again: notifies
	deleteService(tr, svc)                              // cancels the change: nothing to sync
	tr.OnNodeAdd(node(otherNode, nil))                  // not ours
	if calls != 2 {
		t.Errorf("notify called %d times, want 2", calls)
	}
}

// deleteService deletes svc as the informer handler does, by key.
func deleteService(tr *Tracker, svc *v1.Service) { tr.deleteService(svc.Namespace + "/" + svc.Name) }

// pending reports whether a change is waiting for the next Snapshot.
// Before the first Snapshot, which is full, one always is.
func pending(tr *Tracker) bool {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return !tr.snapshotted || len(tr.services.pending) > 0 ||
		len(tr.slices.pending) > 0 || len(tr.node.pending) > 0
}

// empty reports whether the changes leave nothing to sync.
func empty(c Changes) bool {
	return len(c.Objects.Services) == 0 && !c.NodeChanged && !c.Full
}

// TestNotifyNodeSeesEveryEvent checks that NotifyNode's f gets this
// node's Node on every event, also those the model ignores (a taint),
// and nil when it is deleted; other nodes' events are not passed on.
func TestNotifyNodeSeesEveryEvent(t *testing.T) {
	tr := newTestTracker()
	var got []*v1.Node
	tr.NotifyNode(func(n *v1.Node) { got = append(got, n) })
	plain := node(testNode, []string{"192.168.0.10"})
	tainted := node(testNode, []string{"192.168.0.10"}, func(n *v1.Node) {
		n.Spec.Taints = []v1.Taint{{Key: "ToBeDeletedByClusterAutoscaler", Effect: v1.TaintEffectNoSchedule}}
	})
	tr.OnNodeAdd(plain)
	tr.Snapshot()
	tr.OnNodeUpdate(plain, tainted)
	if pending(tr) {
		t.Error("a taint left a change pending for the model")
	}
	tr.OnNodeAdd(node(otherNode, []string{"192.168.0.11"}))
	tr.deleteNode(testNode)
	if want := []*v1.Node{plain, tainted, nil}; !slices.Equal(got, want) {
		t.Errorf("NotifyNode got %v, want %v", got, want)
	}
}

// triggerTimes returns the times of triggers.
func triggerTimes(triggers []Trigger) []time.Time {
	var out []time.Time
	for _, tr := range triggers {
		out = append(out, tr.Time)
	}
	return out
}

// TestTriggersCarryTheSliceFamily checks that each trigger time comes
// with the family of its slice, also when the slice was deleted.
func TestTriggersCarryTheSliceFamily(t *testing.T) {
	tr := newTestTracker()
	tr.Snapshot()
	v4 := endpointSlice("a-1", "a", []string{"10.1.1.5"}, triggeredAt(t1))
	v6 := endpointSlice("a-2", "a", []string{"fd00:1::1:5"}, triggeredAt(t2), func(s *discovery.EndpointSlice) {
		s.AddressType = discovery.AddressTypeIPv6
	})
	tr.OnEndpointSliceAdd(v4)
	tr.OnEndpointSliceAdd(v6)
	_, ch := tr.Snapshot()
	want := []Trigger{{Time: t1, Family: model.IPv4}, {Time: t2, Family: model.IPv6}}
	if !slices.Equal(ch.Triggers, want) {
		t.Errorf("triggers %v, want %v", ch.Triggers, want)
	}
}

// TestChangeCounts checks the pending and total counts of changes: an
// event that changes nothing the model sees counts for neither, and a
// Snapshot takes the pending ones.
func TestChangeCounts(t *testing.T) {
	tr := newTestTracker()
	svc := service("a", "172.30.0.1")
	tr.OnServiceAdd(svc)
	tr.OnServiceUpdate(svc, service("a", "172.30.0.1"))
	tr.OnEndpointSliceAdd(endpointSlice("a-1", "a", []string{"10.1.1.5"}))
	tr.OnEndpointSliceAdd(endpointSlice("a-2", "a", []string{"10.1.1.6"}))
	check := func(when string, pendingS, pendingE, totalS, totalE int) {
		t.Helper()
		ps, pe := tr.PendingChanges()
		ts, te := tr.TotalChanges()
		if ps != pendingS || pe != pendingE || ts != totalS || te != totalE {
			t.Errorf("%s: pending %d, %d and total %d, %d; want %d, %d and %d, %d", when, ps, pe, ts, te, pendingS, pendingE, totalS, totalE)
		}
	}
	check("before the Snapshot", 1, 2, 2, 2)
	tr.Snapshot()
	check("after it", 0, 0, 2, 2)
	tr.OnEndpointSliceUpdate(nil, endpointSlice("a-1", "a", []string{"10.1.1.7"}))
	check("after one more change", 0, 1, 2, 3)
}

// TestTrackerServiceCIDRs: a new or changed range is a full change, a
// ServiceCIDR whose ranges stay the same is none.
func TestTrackerServiceCIDRs(t *testing.T) {
	tr := newTestTracker()
	tr.Snapshot()
	cidr := &networking.ServiceCIDR{ObjectMeta: metav1.ObjectMeta{Name: "kubernetes"}, Spec: networking.ServiceCIDRSpec{CIDRs: []string{"172.30.0.0/16"}}}
	tr.OnServiceCIDRAdd(cidr)
	if in, ch := tr.Snapshot(); !ch.Full || len(in.ServiceCIDRs) != 1 {
		t.Errorf("after an add: full %v, %d ServiceCIDRs", ch.Full, len(in.ServiceCIDRs))
	}
	relabelled := cidr.DeepCopy()
	relabelled.Labels = map[string]string{"a": "b"}
	tr.OnServiceCIDRUpdate(cidr, relabelled)
	if _, ch := tr.Snapshot(); ch.Full {
		t.Error("a ServiceCIDR with the same ranges is a change")
	}
	grown := cidr.DeepCopy()
	grown.Spec.CIDRs = append(grown.Spec.CIDRs, "fd00:30::/108")
	tr.OnServiceCIDRUpdate(relabelled, grown)
	if _, ch := tr.Snapshot(); !ch.Full {
		t.Error("a new range is no change")
	}
	tr.deleteServiceCIDR("kubernetes")
	if in, ch := tr.Snapshot(); !ch.Full || len(in.ServiceCIDRs) != 0 {
		t.Errorf("after a delete: full %v, %d ServiceCIDRs", ch.Full, len(in.ServiceCIDRs))
	}
}
