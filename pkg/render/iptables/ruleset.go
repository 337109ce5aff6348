// Package iptables renders a model.Model into iptables rules, spelled and
// named like kube-proxy's iptables mode so that a svcproxy node can be
// compared with a kube-proxy node chain by chain.
//
// The renderer is pure: it builds a Ruleset in memory and Payload turns it
// into iptables-restore input. Applying it is someone else's job.
package iptables

import (
	"github.com/svcproxy/svcproxy/pkg/model"
)

// Ruleset is the iptables state of one IP family.
type Ruleset struct {
	Family model.Family
	// Tables are "filter" then "nat".
	Tables []Table
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
// flushes the chain; then the rules; then COMMIT.
func (r *Ruleset) Payload() []byte {
	buf := make([]byte, 0, r.payloadSize())
	for _, t := range r.Tables {
		buf = append(buf, '*')
		buf = append(buf, t.Name...)
		buf = append(buf, '\n')
		for _, j := range t.Jumps {
			buf = append(buf, "# jump: -A "...)
			buf = append(buf, j.Chain...)
			buf = append(buf, ' ')
			buf = append(buf, j.Rule...)
			buf = append(buf, '\n')
		}
		for _, c := range t.Chains {
			buf = append(buf, ':')
			buf = append(buf, c.Name...)
			buf = append(buf, " - [0:0]\n"...)
		}
		for _, c := range t.Chains {
			for _, rule := range c.Rules {
				buf = append(buf, "-A "...)
				buf = append(buf, c.Name...)
				buf = append(buf, ' ')
				buf = append(buf, rule...)
				buf = append(buf, '\n')
			}
		}
		buf = append(buf, "COMMIT\n"...)
	}
	return buf
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
