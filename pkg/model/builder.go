package model

import (
	"net/netip"
	"slices"
	"strings"

	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
)

// ServiceKey names a Service, and with it every EndpointSlice labelled
// with its name.
type ServiceKey struct {
	Namespace, Name string
}

func compareKeys(a, b ServiceKey) int {
	if c := strings.Compare(a.Namespace, b.Namespace); c != 0 {
		return c
	}
	return strings.Compare(a.Name, b.Name)
}

// Builder builds Models again and again, as a proxy does on every sync,
// rebuilding only the Services it is told changed. At 10,000 Services a
// full Build takes about 150 ms, most of a sync's budget when one
// endpoint changed; rebuilding one Service takes microseconds.
//
// A Service that did not change keeps its *ServicePort values from one
// Model to the next, so consumers can tell unchanged ports by pointer.
// The Models Update returns are always those Build returns for the same
// input, and the warnings the same ones (in another order); Update only
// costs less. A Builder is not safe for concurrent use.
type Builder struct {
	cfg  Config
	node Node
	// nodes is node narrowed to each family, made once per node.
	nodes map[Family]Node
	// units holds what each Service key built to, keys holds the keys of
	// units in order, so Models are assembled without sorting, and
	// ordered the units in that order, so they are assembled without a
	// map lookup each: at 10,000 Services assembling was over a quarter
	// of an endpoint change's user-space time, mostly those lookups.
	units   map[ServiceKey]*unit
	keys    []ServiceKey
	ordered []*unit
	// families counts, per family, the units that have ports in it.
	families map[Family]int
	// claims counts the units' claims on each destination.
	claims claimCounts
	// orphans are the warnings of EndpointSlices that name no Service.
	orphans []Warning
	// serviceCIDRs are the input's, read again on every build: there
	// are a handful.
	serviceCIDRs []serviceCIDR
	cidrWarnings warnings
	built        bool
}

// unit is what one Service key builds to: its ports in each family, and
// the warnings of the Service and of the EndpointSlices that name it.
type unit struct {
	ports    familyPorts
	warnings []Warning
}

// familyPorts holds ports by family, Families[i]'s at i: an array, not a
// map, since assembling the Models reads it for every Service on every
// sync.
type familyPorts [2][]*ServicePort

func familyIndex(fam Family) int {
	if fam == IPv6 {
		return 1
	}
	return 0
}

func (p *familyPorts) of(fam Family) []*ServicePort { return p[familyIndex(fam)] }

func (p *familyPorts) empty() bool { return len(p[0]) == 0 && len(p[1]) == 0 }

// NewBuilder returns a Builder for a proxy configuration.
func NewBuilder(cfg Config) *Builder {
	return &Builder{cfg: cfg}
}

// Build builds every Service anew and remembers the result for Update.
// The warnings come in Service key order, those of EndpointSlices that
// name no Service last; the package's Build is this with the warnings in
// input order.
func (b *Builder) Build(in Input) ([]*Model, []Warning) {
	b.node, b.nodes = in.Node, map[Family]Node{}
	for _, fam := range Families {
		b.nodes[fam] = nodeOfFamily(in.Node, fam)
	}
	b.units, b.keys, b.ordered, b.families, b.claims = map[ServiceKey]*unit{}, nil, nil, map[Family]int{}, claimCounts{}
	groups, orphans := groupByService(in, nil)
	// The units go in order once, at the end: inserting each in place
	// would move half the others every time, quadratic in the Services.
	for key, g := range groups {
		if u := b.newUnit(*g); u != nil {
			b.units[key] = u
			b.keys = append(b.keys, key)
		}
	}
	slices.SortFunc(b.keys, compareKeys)
	b.ordered = make([]*unit, len(b.keys))
	for i, key := range b.keys {
		b.ordered[i] = b.units[key]
	}
	b.orphans = orphanWarnings(orphans, in.Node.Name)
	b.readServiceCIDRs(in)
	b.built = true
	return b.assemble()
}

// Update builds the Models of in, rebuilding only the Services whose
// objects ch holds and reusing what the last Build or Update made of the
// others; of in it reads only the node and the ServiceCIDRs, so a caller
// that keeps its objects by Service key pays for what changed, not for the
// cluster. A change of node, or of which IP families are present,
// rebuilds everything from in, since it reaches every Service.
func (b *Builder) Update(in Input, ch Changes) ([]*Model, []Warning) {
	if !b.built || !sameNode(b.node, in.Node) {
		return b.Build(in)
	}
	before := presentOf(b.node, b.families)
	for key, objs := range ch.Services {
		b.setUnit(key, objs)
	}
	b.orphans = orphanWarnings(ch.Orphans, in.Node.Name)
	b.readServiceCIDRs(in)
	if !slices.Equal(before, presentOf(b.node, b.families)) {
		return b.Build(in)
	}
	return b.assemble()
}

// readServiceCIDRs parses the input's ServiceCIDRs.
func (b *Builder) readServiceCIDRs(in Input) {
	b.cidrWarnings = nil
	b.serviceCIDRs = parseServiceCIDRs(in.ServiceCIDRs, &b.cidrWarnings)
}

// Objects are what one Service key builds from: its Service (more than
// one only in input joined by hand) and the EndpointSlices labelled with
// its name.
type Objects struct {
	Services       []*v1.Service
	EndpointSlices []*discovery.EndpointSlice
}

// Changes are what Update rebuilds: the objects, as they now are, of each
// Service key that changed (none for a key whose objects are gone), and
// every EndpointSlice that names no Service, which only ever warns.
type Changes struct {
	Services map[ServiceKey]Objects
	Orphans  []*discovery.EndpointSlice
}

// ChangesIn returns the Changes of in for the keys named, walking all of
// in: for callers that keep no index of their objects by Service key.
func ChangesIn(in Input, keys []ServiceKey) Changes {
	want := make(map[ServiceKey]bool, len(keys))
	for _, k := range keys {
		want[k] = true
	}
	groups, orphans := groupByService(in, want)
	ch := Changes{Services: make(map[ServiceKey]Objects, len(keys)), Orphans: orphans}
	for _, k := range keys {
		if g := groups[k]; g != nil {
			ch.Services[k] = *g
		} else {
			ch.Services[k] = Objects{}
		}
	}
	return ch
}

// groupByService groups the objects of in by Service key, only those in
// want unless want is nil. EndpointSlices without a service-name label
// belong to no Service and are returned apart.
func groupByService(in Input, want map[ServiceKey]bool) (map[ServiceKey]*Objects, []*discovery.EndpointSlice) {
	groups := map[ServiceKey]*Objects{}
	group := func(k ServiceKey) *Objects {
		if groups[k] == nil {
			groups[k] = &Objects{}
		}
		return groups[k]
	}
	for _, svc := range in.Services {
		if svc == nil {
			continue
		}
		if k := (ServiceKey{svc.Namespace, svc.Name}); want == nil || want[k] {
			group(k).Services = append(group(k).Services, svc)
		}
	}
	var orphans []*discovery.EndpointSlice
	for _, s := range in.EndpointSlices {
		if s == nil {
			continue
		}
		name := s.Labels[discovery.LabelServiceName]
		if name == "" {
			orphans = append(orphans, s)
			continue
		}
		if k := (ServiceKey{s.Namespace, name}); want == nil || want[k] {
			group(k).EndpointSlices = append(group(k).EndpointSlices, s)
		}
	}
	return groups, orphans
}

// orphanWarnings validates the EndpointSlices that name no Service,
// only for their warnings: they are few, and checking them on every
// update keeps their warnings exactly as Build reports them.
func orphanWarnings(orphans []*discovery.EndpointSlice, nodeName string) []Warning {
	if len(orphans) == 0 {
		return nil
	}
	var warn warnings
	collectEndpoints(orphans, nodeName, &warn)
	return warn
}

// setUnit rebuilds the unit of key from its objects; no objects, or
// objects that build to nothing, remove it.
func (b *Builder) setUnit(key ServiceKey, g Objects) {
	i, found := slices.BinarySearchFunc(b.keys, key, compareKeys)
	if found {
		old := b.units[key]
		b.countFamilies(old, -1)
		b.claims.add(old, -1)
	}
	u := b.newUnit(g)
	switch {
	case u != nil && found:
		// A changed Service keeps its place: no other unit moves.
		b.units[key], b.ordered[i] = u, u
	case u != nil:
		b.units[key] = u
		b.keys, b.ordered = slices.Insert(b.keys, i, key), slices.Insert(b.ordered, i, u)
	case found:
		delete(b.units, key)
		b.keys, b.ordered = slices.Delete(b.keys, i, i+1), slices.Delete(b.ordered, i, i+1)
	}
}

// newUnit builds the unit of g and counts it in the families and claims;
// nil when g builds to nothing.
func (b *Builder) newUnit(g Objects) *unit {
	if len(g.Services) == 0 && len(g.EndpointSlices) == 0 {
		return nil
	}
	u := b.buildUnit(g)
	if u.ports.empty() && len(u.warnings) == 0 {
		return nil
	}
	b.countFamilies(u, 1)
	b.claims.add(u, 1)
	return u
}

func (b *Builder) countFamilies(u *unit, delta int) {
	for i, ports := range u.ports {
		if len(ports) > 0 {
			b.families[Families[i]] += delta
		}
	}
}

// buildUnit builds the ports of one Service key in every family its
// cluster IPs are in. Which families a Model is built for is decided
// later, so a port may be built for a family no Model has; Build would
// have the node's families and the Services' decide the same way.
func (b *Builder) buildUnit(g Objects) *unit {
	var warn warnings
	u := &unit{}
	services := convertServices(g.Services, &warn)
	endpoints := collectEndpoints(g.EndpointSlices, b.node.Name, &warn)
	if len(g.Services) == 0 {
		for _, s := range g.EndpointSlices {
			warn.add("EndpointSlice", s.Namespace+"/"+s.Name, "ignored: Service %s/%s does not exist", s.Namespace, s.Labels[discovery.LabelServiceName])
		}
	}
	for _, svc := range services {
		if !svc.checkAddresses(b.cfg, b.node, &warn) {
			continue
		}
		svc.keepNodePortsIn(b.cfg.NodePortRange.orDefault(), &warn)
		for _, fam := range Families {
			ports := svc.portsFor(fam, endpoints, b.nodes[fam])
			if len(ports) > 0 {
				slices.SortFunc(ports, compareServicePorts)
				i := familyIndex(fam)
				u.ports[i] = append(u.ports[i], ports...)
			}
		}
	}
	u.warnings = warn
	return u
}

// presentOf returns the families the Models are built for: those of the
// node's addresses and of any Service's cluster IP, IPv4 when none.
func presentOf(node Node, families map[Family]int) []Family {
	var out []Family
	for _, f := range Families {
		if families[f] > 0 || slices.ContainsFunc(node.IPs, func(a netip.Addr) bool { return FamilyOf(a) == f }) {
			out = append(out, f)
		}
	}
	if len(out) == 0 {
		out = []Family{IPv4}
	}
	return out
}

// assemble puts the units together into Models, in key order, which is
// the Models' sort order.
func (b *Builder) assemble() ([]*Model, []Warning) {
	var models []*Model
	warn := slices.Clone(b.cidrWarnings)
	for _, fam := range presentOf(b.node, b.families) {
		m := &Model{Family: fam, Node: b.nodes[fam], Config: configOfFamily(b.cfg, fam, b.nodes[fam])}
		m.ServiceCIDRs = serviceCIDRsOfFamily(b.serviceCIDRs, fam, m.Node, m.Config.ClusterCIDRs, &warn)
		// A family without ports keeps nil Services, not an empty list,
		// so that Models that say the same compare equal however they
		// were reached.
		if b.families[fam] > 0 {
			m.Services = make([]*ServicePort, 0, len(b.keys))
		}
		for _, u := range b.ordered {
			m.Services = append(m.Services, u.ports.of(fam)...)
		}
		m.Services = b.claims.resolve(fam, m.Services, &warn)
		models = append(models, m)
	}
	var out []Warning
	for _, u := range b.ordered {
		out = append(out, u.warnings...)
	}
	return models, append(append(out, b.orphans...), warn...)
}

// sameNode reports whether two nodes are the same for the rules.
func sameNode(a, b Node) bool {
	return a.Name == b.Name && a.Zone == b.Zone && slices.Equal(a.IPs, b.IPs) && slices.Equal(a.PodCIDRs, b.PodCIDRs) &&
		slices.Equal(a.LocalIPs, b.LocalIPs) && (a.LocalIPs == nil) == (b.LocalIPs == nil)
}
