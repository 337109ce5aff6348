package watch

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	gocmp "github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"

	"github.com/svcproxy/svcproxy/pkg/model"
)

// checkObjects checks that the objects a Snapshot hands over for its
// changed Services, from the tracker's index, are those a walk of the
// whole snapshot finds: the builder rebuilds from them alone, so an
// object the index lost or kept would reach the rules.
func checkObjects(t *testing.T, in model.Input, ch Changes) {
	t.Helper()
	keys := make([]model.ServiceKey, 0, len(ch.Objects.Services))
	for key := range ch.Objects.Services {
		keys = append(keys, key)
	}
	want := describeChanges(model.ChangesIn(in, keys))
	if diff := gocmp.Diff(want, describeChanges(ch.Objects)); diff != "" {
		t.Errorf("changed objects from the index (-walk +index):\n%s", diff)
	}
}

// describeChanges names the objects of ch, in order: the index's maps and
// the walk list them in different orders, which the builder ignores.
func describeChanges(ch model.Changes) []string {
	var out []string
	for key, objs := range ch.Services {
		for _, s := range objs.Services {
			out = append(out, fmt.Sprintf("%s/%s: Service %s rv %s", key.Namespace, key.Name, s.Name, s.ResourceVersion))
		}
		for _, s := range objs.EndpointSlices {
			out = append(out, fmt.Sprintf("%s/%s: EndpointSlice %s rv %s", key.Namespace, key.Name, s.Name, s.ResourceVersion))
		}
		if len(objs.Services)+len(objs.EndpointSlices) == 0 {
			out = append(out, fmt.Sprintf("%s/%s: gone", key.Namespace, key.Name))
		}
	}
	for _, s := range ch.Orphans {
		out = append(out, fmt.Sprintf("orphan EndpointSlice %s rv %s", s.Name, s.ResourceVersion))
	}
	slices.SortFunc(out, cmp.Compare)
	return out
}

// TestTrackerIndexFollowsEvents drives a tracker with a long seeded run
// of random events over a few Services and EndpointSlices, slices moving
// between Services and losing their label on the way, and checks after
// every few events that each changed Service's objects are exactly those
// the snapshot holds under its key.
func TestTrackerIndexFollowsEvents(t *testing.T) {
	names := []string{"a", "b", "c"}
	rng := rand.New(rand.NewPCG(1, 2))
	tr := newTestTracker()
	version := 0
	for step := range 2000 {
		version++
		rv := fmt.Sprint(version)
		name := names[rng.IntN(len(names))]
		switch rng.IntN(5) {
		case 0:
			tr.OnServiceAdd(service(name, "172.30.0.1", func(s *v1.Service) { s.ResourceVersion = rv }))
		case 1:
			tr.deleteService("ns/" + name)
		case 2, 3:
			// The label names one of the Services, or none.
			owner := append(slices.Clone(names), "")[rng.IntN(len(names)+1)]
			tr.OnEndpointSliceAdd(endpointSlice(fmt.Sprintf("s-%d", rng.IntN(5)), owner, []string{"10.1.1." + rv[len(rv)-1:]},
				func(s *discovery.EndpointSlice) { s.ResourceVersion = rv }))
		case 4:
			tr.deleteSlice(fmt.Sprintf("ns/s-%d", rng.IntN(5)))
		}
		if step%7 == 0 {
			in, ch := tr.Snapshot()
			checkObjects(t, in, ch)
			if t.Failed() {
				t.Fatalf("after step %d", step)
			}
		}
	}
}
