// Package iptables renders a model.Model into iptables rules. Chains are
// named like kube-proxy's (KUBE-SERVICES, KUBE-SVC-, KUBE-EXT-, ...), so a
// node that ran kube-proxy is taken over chain by chain, but the layout
// below them is svcproxy's own: kube-proxy's chains are not an API
// (KEP-3178), and its layout costs one chain and three rules per endpoint.
//
// The renderer is pure: it builds a Ruleset in memory and Payload turns it
// into iptables-restore input. Applying it is someone else's job.
//
// # Layout
//
// Per service port: a KUBE-SERVICES rule per destination; a KUBE-SVC-
// (and, for a Local policy, KUBE-SVL-) chain that marks cluster IP
// traffic from outside the pod network for masquerade and then picks an
// endpoint; KUBE-EXT- and KUBE-FW- where the port takes external traffic.
// The pick is kube-proxy's: rule i of n matches with probability
// 1/(n-i) (the last always), so every endpoint is equally likely, and with
// session affinity a `recent` check per endpoint comes first.
//
// What differs is the endpoint. A pick rule DNATs to its endpoint itself,
// with no KUBE-SEP- chain, unless the endpoint may be its own client:
// a pod that reaches itself through a service (hairpin) must be
// masqueraded, or it would get its reply from its own address and drop
// it, and that needs a second rule (`-s IP -j KUBE-MARK-MASQ`) before the
// DNAT, so a chain of two rules. A pod's traffic to a service is DNATed
// on the pod's own node, so only endpoints on this node, those whose node
// is unknown, and those of ports whose Local external policy pods anywhere
// skip here, get a KUBE-SEP- chain (model.Model.MayHairpin); hairpin
// behaviour is exactly kube-proxy's. Session affinity needs no chain either: the affinity check
// and the pick record the client with `-m recent --set` in the same rule
// as the DNAT, in the list kube-proxy names after the KUBE-SEP- chain
// (matches are evaluated in order, so `--set` runs only if the rule
// otherwise matched). DNAT rules name the protocol with -p only: DNAT
// needs it for the port, and the protocol match module adds nothing.
//
// Above largeClusterEndpoints endpoints, the per-endpoint rules carry no
// comment (a comment is 256 bytes of kernel memory per rule).
//
// # Measurements
//
// 10,000 Services × 10 endpoints (one on this node), every tenth a
// NodePort, on 2 shared cores, iptables 1.8.9, Linux 6.18; CPU time of
// iptables-legacy-restore, which is steadier than wall time on a busy
// machine:
//
//	layout                      chains   rules    payload  first restore  1-chain restore on top
//	kube-proxy's                111,009  323,007  47 MB    9.5 s          1.9 s
//	  chains declared in order  111,009  323,007  47 MB    5.8 s          -
//	  and no comments           111,009  323,007  31 MB    5.0 s          -
//	this one                     21,009  143,007  18 MB    1.1 s          0.5 s
//	  and no comments at all     21,009  143,007  -        -              0.45 s
//
// With iptables-legacy every restore, however small, copies the whole
// table out of the kernel and back, so the size of the table bounds the
// cost of an incremental sync; that is why the rule count matters even
// once syncs send only what changed. The first restore was slower than
// kube-proxy's mostly because of chain creation order: libiptc keeps
// chains sorted and inserts a new one with a linear walk, which for
// chains declared in hash order is a string comparison with a large part
// of the list each (half the CPU time was strcmp); see
// Table.DeclarationOrder.
package iptables

import (
	"slices"

	"github.com/svcproxy/svcproxy/pkg/model"
)

// Ruleset is the iptables state of one IP family.
type Ruleset struct {
	Family model.Family
	// Tables are "filter" then "nat".
	Tables []Table

	// model is the model rendered, for State; nil for a Ruleset made
	// by hand.
	model *model.Model
}

// Table is one iptables table: the chains svcproxy owns in it and the
// rules it needs in the table's built-in chains.
type Table struct {
	Name string
	// Chains are declared in this order: fixed chains in a fixed order,
	// then each service port's chains in model order.
	Chains []Chain
	// Jumps are in the order they must appear within each built-in chain
	// (an applier inserting at the top must insert them in reverse).
	Jumps []Jump
}

// Chain is a chain svcproxy owns: it is flushed and refilled on every sync.
type Chain struct {
	Name string
	// Rules are the arguments after "-A <chain> ", in order.
	Rules []string
}

// Jump is a rule in a built-in chain (PREROUTING, OUTPUT, ...) that
// svcproxy needs but cannot own via restore (--noflush cannot flush
// built-in chains); the applier ensures it separately with -C/-I.
type Jump struct {
	Chain string
	Rule  string
}

// Payload returns the exact input for `iptables-restore --noflush` (or
// ip6tables-restore). Each table starts with its jumps as "# jump:" comment
// lines, which restore ignores, so that a dry run shows the whole ruleset;
// then one ":CHAIN - [0:0]" line per owned chain, which under --noflush
// flushes the chain (declared in name order, see DeclarationOrder); then
// the rules, chain by chain in Chains order; then COMMIT.
func (r *Ruleset) Payload() []byte {
	buf := make([]byte, 0, r.payloadSize())
	for _, t := range r.Tables {
		buf = appendTableStart(buf, t.Name)
		for _, j := range t.Jumps {
			buf = appendRuleLine(buf, "# jump: -A ", j.Chain, j.Rule)
		}
		for _, name := range t.DeclarationOrder() {
			buf = appendDeclaration(buf, name)
		}
		buf = appendRules(buf, t.Chains)
		buf = append(buf, "COMMIT\n"...)
	}
	return buf
}

// DeclarationOrder returns the names of t's chains sorted. Declaring
// chains in this order is what makes a first restore into an empty table
// fast with iptables-legacy: libiptc keeps user chains in a list sorted by
// name and inserts each new one with a linear walk from an index bucket,
// which for chains in hash order costs a string comparison with a large
// part of the list each. In name order each walk is short: at 111,009
// chains the first restore took 5.8 s of CPU instead of 9.5 s.
func (t *Table) DeclarationOrder() []string {
	names := make([]string, len(t.Chains))
	for i, c := range t.Chains {
		names[i] = c.Name
	}
	slices.Sort(names)
	return names
}

// payloadSize returns the exact length of Payload's output, so that it is
// built in a single allocation: a large cluster's payload is tens of
// megabytes and growing a buffer by doubling would copy it several times.
func (r *Ruleset) payloadSize() int {
	n := 0
	for _, t := range r.Tables {
		n += len("*\nCOMMIT\n") + len(t.Name)
		for _, j := range t.Jumps {
			n += len("# jump: -A  \n") + len(j.Chain) + len(j.Rule)
		}
		for _, c := range t.Chains {
			n += len(": - [0:0]\n") + len(c.Name)
			for _, rule := range c.Rules {
				n += len("-A  \n") + len(c.Name) + len(rule)
			}
		}
	}
	return n
}
