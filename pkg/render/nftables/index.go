package nftables

import (
	"net/netip"
	"slices"

	"github.com/svcproxy/svcproxy/pkg/render"
)

// usage records, while a whole model renders, how many Service ports use
// each chain. A nil *usage records nothing.
type usage struct {
	chains map[string]int32
	// port holds the chains the port being rendered asked for so far.
	port []string
}

func (u *usage) use(name string) {
	if u != nil && !slices.Contains(u.port, name) {
		u.port = append(u.port, name)
	}
}

// endPort counts the chains of the port just rendered.
func (u *usage) endPort() {
	if u == nil {
		return
	}
	for _, name := range u.port {
		u.chains[name]++
	}
	u.port = u.port[:0]
}

// Index is what an incremental sync needs to know about a rendered table
// beyond the model itself: how many Service ports claim each destination,
// use each chain and contribute each hairpin address. Elements of
// different ports never share a key unless they claim the same
// destination, so with these counts the change between two models can be
// computed from the changed ports alone.
//
// At 10,000 Services × 10 endpoints an Index holds about 11,000 claims
// and 100,000 addresses, a few MB; the 221,000 elements themselves are
// not kept, they are rendered again from the model when needed.
type Index struct {
	counts render.Counts
	claims map[string]int32
	chains map[string]int32
	// shared counts the contributors of each shared set's addresses.
	shared map[string]map[addrKey]int32
}

// addrKey is an address as map key: 16 bytes without the pointer a
// netip.Addr holds, which the garbage collector would have to follow.
type addrKey [16]byte

// newIndex takes the counts of a whole render.
func newIndex(r *renderer) *Index {
	idx := &Index{claims: r.claimed, chains: r.usage.chains, shared: map[string]map[addrKey]int32{}}
	for _, s := range sharedSets {
		// finish sorted the addresses: count each run of one address.
		ips := r.shared[s.name]
		unique := 0
		for i := range ips {
			if i == 0 || ips[i] != ips[i-1] {
				unique++
			}
		}
		counts := make(map[addrKey]int32, unique)
		for _, ip := range ips {
			counts[ip.As16()]++
		}
		idx.shared[s.name] = counts
	}
	idx.counts = r.counts()
	return idx
}

// counts counts what the renderer holds.
func (r *renderer) counts() render.Counts {
	c := render.Counts{Table: TableName, Chains: len(r.chains)}
	for _, ch := range r.chains {
		c.Rules += len(ch.rules)
	}
	for _, l := range r.elements {
		c.Elements += l.len()
	}
	return c
}

// addrOf turns an addrKey back into an address of the family.
func addrOf(k addrKey, ipv4 bool) netip.Addr {
	a := netip.AddrFrom16(k)
	if ipv4 {
		return a.Unmap()
	}
	return a
}
