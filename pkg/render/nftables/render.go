package nftables

import (
	"net/netip"
	"slices"

	"sigs.k8s.io/knftables"

	"github.com/svcproxy/svcproxy/pkg/model"
)

// TableName is the name of the table svcproxy owns, in the ip and ip6
// families alike.
const TableName = "svcproxy"

// Family returns the nftables family of a model family: IPv4Family for
// IPv4, IPv6Family for IPv6.
func Family(f model.Family) knftables.Family {
	if f == model.IPv6 {
		return knftables.IPv6Family
	}
	return knftables.IPv4Family
}

// renderAll renders the whole model, counting what each Service port
// contributes, for an incremental sync.
func renderAll(m *model.Model) *renderer {
	r := newRenderer(m)
	n := 0
	for _, sp := range m.Services {
		n += len(sp.ClusterEndpoints) + len(sp.LocalEndpoints)
	}
	r.shared[setHairpin] = make([]netip.Addr, 0, n)
	r.shared[setClusterIPs] = make([]netip.Addr, 0, len(m.Services))
	r.addBaseChains()
	r.addSharedObjects()
	// Only now: the fixed chains belong to no Service port.
	r.usage = &usage{chains: map[string]int32{}}
	for _, sp := range m.Services {
		r.addServicePort(sp)
		r.usage.endPort()
	}
	r.finish()
	return r
}

// syntax is the family-specific spelling used in rules and set types.
type syntax struct {
	ip       string // the address match keyword: "ip" or "ip6"
	addrType string // the set type of an address: "ipv4_addr" or "ipv6_addr"
	loopback string // the loopback range NodePorts never listen on
}

func syntaxOf(f model.Family) syntax {
	if f == model.IPv6 {
		return syntax{ip: "ip6", addrType: "ipv6_addr", loopback: "::1"}
	}
	return syntax{ip: "ip", addrType: "ipv4_addr", loopback: "127.0.0.0/8"}
}

// chain is a chain being built: the object, its rules in order, and
// the sets and maps made for it alone (a DNAT chain's select map, an
// endpoint chain's affinity set), which live and die with it.
type chain struct {
	obj   *knftables.Chain
	rules []*knftables.Rule
	owned []knftables.Object
}

// renderer collects the whole table before emitting it, because a
// transaction must create every chain, set and map before the first rule
// or element that names it.
type renderer struct {
	m   *model.Model
	syn syntax
	// chains, sets and maps are keyed by name; emit sorts the names, so
	// Go map order never reaches the output.
	chains   map[string]*chain
	sets     map[string]*knftables.Set
	maps     map[string]*knftables.Map
	elements map[string]*elementList
	// claimed counts the claims on each destination (the dispatch key:
	// address . proto . port, or proto . port for NodePorts): when two
	// ports claim one, the first in model order wins, as nft refuses
	// duplicate keys.
	claimed map[string]int32
	// shared collects the addresses of each shared set (sharedSets), one
	// per contributing Service port.
	shared map[string][]netip.Addr
	// building is the chain whose rules are being made, so that the sets
	// and maps made on the way are known to be its own.
	building string
	// usage, when not nil, records which chains each Service port uses.
	usage *usage
}

func newRenderer(m *model.Model) *renderer {
	return &renderer{
		m:        m,
		syn:      syntaxOf(m.Family),
		chains:   map[string]*chain{},
		sets:     map[string]*knftables.Set{},
		maps:     map[string]*knftables.Map{},
		elements: map[string]*elementList{},
		claimed:  map[string]int32{},
		shared:   map[string][]netip.Addr{},
	}
}

// ensureChain creates a regular chain named name unless it exists,
// calling build to fill it only the first time; it returns name so shared
// chains can be requested inline.
//
// Every chain a Service port needs is requested while rendering that
// port, even when another port made it first (the next chain is always
// requested before the chain that jumps to it, as an argument), so usage
// sees each port's complete set of chains.
func (r *renderer) ensureChain(name string, build func()) string {
	r.usage.use(name)
	if _, ok := r.chains[name]; ok {
		return name
	}
	r.chains[name] = &chain{obj: &knftables.Chain{Name: name}}
	outer := r.building
	r.building = name
	build()
	r.building = outer
	return name
}

// addBaseChain creates a base chain at a numeric priority: nft 1.0.6
// accepts named priorities only on their own hook ("dstnat" is refused
// on output) and refuses the "dstnat-10" spelling, so numbers are the one
// form every version takes.
func (r *renderer) addBaseChain(name string, typ knftables.BaseChainType, hook knftables.BaseChainHook, priority string) {
	r.chains[name] = &chain{obj: &knftables.Chain{
		Name:     name,
		Type:     knftables.PtrTo(typ),
		Hook:     knftables.PtrTo(hook),
		Priority: knftables.PtrTo(knftables.BaseChainPriority(priority)),
	}}
}

// rule appends a rule with a comment to an existing chain.
func (r *renderer) rule(chainName, text, comment string) {
	c := r.chains[chainName]
	c.rules = append(c.rules, &knftables.Rule{Chain: chainName, Rule: text, Comment: commentOf(comment)})
}

// commentOf truncates a comment to the length nft allows: Service names
// alone may be longer.
func commentOf(s string) *string {
	if s == "" {
		return nil
	}
	if len(s) > knftables.CommentLengthMax {
		s = s[:knftables.CommentLengthMax]
	}
	return &s
}

// addSet and addMap register a named set or map; made while building a
// chain, it belongs to that chain.
func (r *renderer) addSet(s *knftables.Set) {
	r.sets[s.Name] = s
	r.own(s)
}

func (r *renderer) addMap(m *knftables.Map) {
	r.maps[m.Name] = m
	r.own(m)
}

func (r *renderer) own(obj knftables.Object) {
	if c := r.chains[r.building]; c != nil {
		c.owned = append(c.owned, obj)
	}
}

// list returns the element list of a set or map, creating it.
func (r *renderer) list(name string) *elementList {
	l := r.elements[name]
	if l == nil {
		l = &elementList{}
		r.elements[name] = l
	}
	return l
}

// setElement queues an element of a set, its key parts already joined
// by " . ". Set elements, and the endpoint maps' (addSelection), carry
// no comment: at 100,000 endpoint elements comments would double the
// text.
func (r *renderer) setElement(set, key string) { r.list(set).add(key, "") }

// portElement queues an element of a dispatch map, where a destination
// goes to its Service port's chains, commented with the port's name as
// kube-proxy's are: the chains are shared, so only the element says
// whose traffic a rule took (svcproxy trace prints it). There is one
// per destination, a tenth of the elements at 10 endpoints per port.
func (r *renderer) portElement(m string, sp *model.ServicePort, key, value string) {
	r.list(m).addCommented(key, sp.Name, value)
}

// maxCommentLen is the longest comment nft keeps on an element. Port
// names hold no quote: the model lets only DNS names through.
const maxCommentLen = 128

// claim reports whether key is still free, taking it if so.
func (r *renderer) claim(key string) bool {
	r.claimed[key]++
	return r.claimed[key] == 1
}

// emitSkeleton writes the table and everything but elements to tx in
// dependency order: chains, then sets and maps, then rules, each group
// sorted by name.
//
// Every set and map is flushed after it is added: flushing the table
// removes rules but not elements, and a kept element whose value changed
// would make "add element" fail, one naming a deleted chain would keep
// that chain busy.
func (r *renderer) emitSkeleton(tx *knftables.Transaction) {
	tx.Add(&knftables.Table{Comment: knftables.PtrTo("svcproxy service proxy rules")})
	tx.Flush(&knftables.Table{})
	chainNames := sortedKeys(r.chains)
	for _, name := range chainNames {
		tx.Add(r.chains[name].obj)
	}
	for _, name := range sortedKeys(r.sets) {
		tx.Add(r.sets[name])
		tx.Flush(r.sets[name])
	}
	for _, name := range sortedKeys(r.maps) {
		tx.Add(r.maps[name])
		tx.Flush(r.maps[name])
	}
	for _, name := range chainNames {
		for _, rule := range r.chains[name].rules {
			tx.Add(rule)
		}
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
