package iptables

import (
	"slices"

	"github.com/svcproxy/svcproxy/pkg/model"
)

// portsDelta works out the delta to next's render, rendering only the
// chains of the service ports that changed since the loaded model
// (model.ChangedPorts): a port renders the same in two compatible models,
// so the chains of an unchanged port are the loaded ones. The fixed
// chains, which gather every port's destinations, are rendered whole and
// compared by hash. The delta is exactly the one a full render would
// give. It reports false whenever that cannot be shown cheaply (no loaded
// model, another node or configuration, ports out of order, most ports
// changed, a chain claimed twice), and Diff then renders next whole.
func (st *State) portsDelta(next *model.Model) (*Delta, bool) {
	prev := st.model
	if prev == nil || !compatible(prev, next) {
		return nil, false
	}
	changes, ok := model.ChangedPorts(prev.Services, next.Services)
	if !ok {
		return nil, false
	}
	var gone, added []*model.ServicePort
	for _, c := range changes {
		if c.Old != nil {
			gone = append(gone, c.Old)
		}
		if c.New != nil {
			added = append(added, c.New)
		}
	}
	// Past half the ports, rendering them one by one costs about what a
	// whole render does.
	if 2*(len(gone)+len(added)) > len(prev.Services)+len(next.Services) {
		return nil, false
	}
	part, ok := renderPartial(next, added)
	if !ok {
		return nil, false
	}
	old := renderPorts(prev, gone)
	d := &Delta{model: next}
	for _, t := range part.fixed.Tables {
		td, ok := st.fixedDelta(t)
		if ok && t.Name == "nat" {
			ok = st.portChainsDelta(&td, part.ports, old)
		}
		if !ok {
			return nil, false
		}
		d.add(td)
	}
	return d, true
}

// fixedDelta compares the fixed chains of a table with the loaded ones,
// all of which must have been loaded: a compatible model has the same
// fixed chains.
func (st *State) fixedDelta(t Table) (tableDelta, bool) {
	old := st.tables[t.Name]
	td := tableDelta{name: t.Name}
	for _, c := range t.Chains {
		if _, ok := old[c.Name]; !ok {
			return td, false
		}
		td.compare(old, c)
	}
	return td, true
}

// portChainsDelta adds to td the chains of the changed ports: those of
// their new versions that differ from the loaded ones, and, for deletion,
// those of their old versions that their new versions no longer have. A
// chain of a new version that an unchanged port also has, or that two
// changed ports have, is claimed twice; the delta would then depend on
// which claim a full render keeps, so it reports false.
func (st *State) portChainsDelta(td *tableDelta, added, gone [][]Chain) bool {
	old := st.tables[td.name]
	previous := map[string]bool{}
	for _, chains := range gone {
		for _, c := range chains {
			previous[c.Name] = true
		}
	}
	declared := map[string]bool{}
	for _, chains := range added {
		for _, c := range chains {
			_, loaded := old[c.Name]
			if declared[c.Name] || (loaded && !previous[c.Name]) {
				return false
			}
			declared[c.Name] = true
			td.compare(old, c)
		}
	}
	for name := range previous {
		if declared[name] {
			continue
		}
		if _, ok := old[name]; !ok {
			return false
		}
		td.removed = append(td.removed, name)
	}
	slices.Sort(td.removed)
	return true
}
