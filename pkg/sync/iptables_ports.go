package sync

import (
	"slices"

	"github.com/svcproxy/svcproxy/pkg/model"
	"github.com/svcproxy/svcproxy/pkg/render/iptables"
)

// portDeltas works out the deltas that bring the loaded chains to m's
// render, rendering only the chains of the service ports that changed
// since the loaded model: the model builder keeps the pointer of every
// Service that did not change, and a port renders the same in two
// compatible models, so the chains of a port with the same pointer in
// both are the loaded ones. The fixed chains, which gather every port's
// destinations, are rendered whole and compared by hash. The deltas are
// exactly those a full render would give. It reports false whenever that
// cannot be shown cheaply (no loaded model, another node or
// configuration, ports out of order, most ports changed, a chain claimed
// twice), and the caller then renders m whole.
func (l *loadedChains) portDeltas(m *model.Model) ([]tableDelta, bool) {
	prev := l.model
	if prev == nil || !iptables.Compatible(prev, m) {
		return nil, false
	}
	gone, added, ok := changedPorts(prev.Services, m.Services)
	if !ok || 2*(len(gone)+len(added)) > len(prev.Services)+len(m.Services) {
		return nil, false
	}
	part, err := iptables.RenderPartial(m, added)
	if err != nil {
		return nil, false
	}
	old, err := iptables.RenderPorts(prev, gone)
	if err != nil {
		return nil, false
	}
	deltas := make([]tableDelta, 0, len(part.Fixed.Tables))
	for _, t := range part.Fixed.Tables {
		d, ok := l.fixedDelta(t)
		if ok && t.Name == "nat" {
			ok = l.portsDelta(&d, part.Ports, old)
		}
		if !ok {
			return nil, false
		}
		if !d.empty() {
			deltas = append(deltas, d)
		}
	}
	return deltas, true
}

// fixedDelta compares the fixed chains of a table with the loaded ones,
// all of which must have been loaded: a compatible model has the same
// fixed chains.
func (l *loadedChains) fixedDelta(t iptables.Table) (tableDelta, bool) {
	old := l.tables[t.Name]
	d := tableDelta{name: t.Name}
	for _, c := range t.Chains {
		if _, ok := old[c.Name]; !ok {
			return d, false
		}
		d.compare(l, old, c)
	}
	return d, true
}

// portsDelta adds to d the chains of the changed ports: those of their new
// versions that differ from the loaded ones, and, for deletion, those of
// their old versions that their new versions no longer have. A chain of
// a new version that an unchanged port also has, or that two changed
// ports have, is claimed twice; the delta would then depend on which
// claim a full render keeps, so it reports false.
func (l *loadedChains) portsDelta(d *tableDelta, added, gone [][]iptables.Chain) bool {
	old := l.tables[d.name]
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
			d.compare(l, old, c)
		}
	}
	for name := range previous {
		if declared[name] {
			continue
		}
		if _, ok := old[name]; !ok {
			return false
		}
		d.removed = append(d.removed, name)
	}
	slices.Sort(d.removed)
	return true
}

// changedPorts pairs the ports of two models by name and returns the
// indices in prev of the ports that are gone or changed, and in next of
// those that are added or changed. A port with the same pointer in both is
// unchanged; any other pair counts as changed, which costs only a render.
// Lists out of model order, or with a name twice, make the pairing
// meaningless, and changedPorts reports false.
func changedPorts(prev, next []*model.ServicePort) (gone, added []int, ok bool) {
	if !model.PortsInOrder(prev) || !model.PortsInOrder(next) {
		return nil, nil, false
	}
	i, j := 0, 0
	for i < len(prev) || j < len(next) {
		c := 0
		switch {
		case j == len(next):
			c = -1
		case i == len(prev):
			c = 1
		case prev[i] != next[j]:
			c = comparePortNames(prev[i], next[j])
		}
		switch {
		case c < 0:
			gone = append(gone, i)
			i++
		case c > 0:
			added = append(added, j)
			j++
		default:
			if prev[i] != next[j] {
				gone, added = append(gone, i), append(added, j)
			}
			i++
			j++
		}
	}
	return gone, added, true
}

// comparePortNames orders ports as the model builder does.
func comparePortNames(a, b *model.ServicePort) int {
	return a.Name.Compare(b.Name)
}
