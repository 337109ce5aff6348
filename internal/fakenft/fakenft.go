// Package fakenft stands in for nft behind sync.Runner, for unit tests of
// code that drives the node's rules without root: it answers what backend
// detection asks, accepts every transaction and records it, and answers
// the canary check as told.
package fakenft

import (
	"context"
	"errors"
	"slices"
	"strings"
	stdsync "sync"

	"github.com/svcproxy/svcproxy/pkg/model"
	"github.com/svcproxy/svcproxy/pkg/render/nftables"
	"github.com/svcproxy/svcproxy/pkg/sync"
)

// Version is the nft version the fake reports.
const Version = "nftables v1.0.6 (Lester Gooch #5)"

// KernelRelease is a kernel release that supports nftables mode, for
// sync.Detector.KernelRelease.
func KernelRelease() (string, error) { return "6.18.0", nil }

// Runner is a fake nft. Its zero value is ready to use.
type Runner struct {
	mu stdsync.Mutex
	// loads holds the input of every `nft -f -`, in order.
	loads []string
	// rulesGone makes the canary check find no rules.
	rulesGone bool
	// refuse makes every `nft -f -` fail.
	refuse bool
	// tables are what `nft list tables` lists, "table FAMILY NAME" each;
	// `nft delete table` removes one and records it in deleted.
	tables, deleted []string
}

var _ sync.Runner = (*Runner)(nil)

// Run answers the commands sync runs against nft.
func (r *Runner) Run(_ context.Context, stdin []byte, name string, args ...string) ([]byte, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	cmd := strings.Join(append([]string{name}, args...), " ")
	switch {
	case cmd == "nft --version":
		return []byte(Version + "\n"), nil
	case cmd == "nft list tables":
		return []byte(strings.Join(r.tables, "\n")), nil
	case strings.HasPrefix(cmd, "nft delete table "):
		table := "table " + strings.TrimPrefix(cmd, "nft delete table ")
		r.tables = slices.DeleteFunc(r.tables, func(t string) bool { return t == table })
		r.deleted = append(r.deleted, table)
		return nil, nil
	case cmd == "nft -f -":
		if r.refuse {
			return nil, &sync.CommandError{Command: cmd, ExitCode: 1, Stderr: "Error: refused by the fake"}
		}
		r.loads = append(r.loads, string(stdin))
		return nil, nil
	case strings.HasPrefix(cmd, "nft -t list table "):
		if r.rulesGone {
			return nil, &sync.CommandError{Command: cmd, ExitCode: 1, Stderr: "Error: No such file or directory"}
		}
		return listTable(), nil
	}
	return nil, &sync.CommandError{Command: cmd, ExitCode: 127, Err: errors.New("not faked")}
}

// listTable prints svcproxy's table as `nft -t list table` would with
// its rules in place: every rule the canary looks for, in its chain.
func listTable() []byte {
	var b strings.Builder
	b.WriteString("table ip svcproxy {\n")
	var chains []string
	rules := map[string][]string{}
	for _, c := range nftables.NewCanary(model.IPv4).Rules {
		if rules[c.Chain] == nil {
			chains = append(chains, c.Chain)
		}
		rules[c.Chain] = append(rules[c.Chain], c.Rule)
	}
	for _, chain := range chains {
		b.WriteString("\tchain " + chain + " {\n")
		for _, rule := range rules[chain] {
			b.WriteString("\t\t" + rule + "\n")
		}
		b.WriteString("\t}\n")
	}
	b.WriteString("}\n")
	return []byte(b.String())
}

// LookPath finds only nft.
func (r *Runner) LookPath(name string) (string, error) {
	if name == "nft" {
		return "/usr/sbin/nft", nil
	}
	return "", errors.New(name + " not found")
}

// Loads returns the inputs of every `nft -f -` so far.
func (r *Runner) Loads() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.loads)
}

// SetRulesGone makes the canary check find the rules gone, or back.
func (r *Runner) SetRulesGone(gone bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.rulesGone = gone
}

// SetRefuse makes every transaction fail, or succeed again.
func (r *Runner) SetRefuse(refuse bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.refuse = refuse
}

// SetTables sets the tables `nft list tables` lists, as "table FAMILY
// NAME", other programs' tables standing for a node's earlier state.
func (r *Runner) SetTables(tables ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.tables = slices.Clone(tables)
}

// Deleted returns the tables `nft delete table` deleted so far.
func (r *Runner) Deleted() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.deleted)
}
