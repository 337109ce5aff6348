// Package render holds what the two renderers, render/iptables and
// render/nftables, share: the sentinel of a change that needs a full load,
// and the counts of what a loaded table holds.
//
// Both renderers have one shape, which is all the kernel edge (pkg/sync)
// touches:
//
//   - Render a model to a Ruleset: the full payload, plus the State an
//     incremental sync starts from (Ruleset.State).
//   - Diff(state, next) returns a Delta, the payload that turns the
//     loaded table into next's, or an error wrapping ErrFullSync that says
//     why only a full load will do.
//   - State.Commit(delta) records a delta once the kernel took it, and
//     State.Counts says what the table then holds, for metrics.
//   - The canary says whether the rules are still in the kernel:
//     nftables.NewCanary names the rules every hooked chain must hold,
//     iptables.State.Intact checks the tables as saved against what was
//     loaded.
//
// Renderers are pure: no I/O, no clock, no logging. Only they write rule
// syntax.
package render

import "errors"

// ErrFullSync is what a Diff error wraps when the change between two
// models cannot be sent as a delta and the table must be loaded in full.
// The wrapping error says why.
var ErrFullSync = errors.New("a full sync is needed")

// Counts is what one table holds, for metrics.
type Counts struct {
	// Table is "filter" or "nat" for iptables, "svcproxy" for nftables.
	Table string
	// Chains, Rules and Elements count the table's chains, the rules in
	// them, and the elements of its sets and maps (none for iptables).
	Chains, Rules, Elements int
}
