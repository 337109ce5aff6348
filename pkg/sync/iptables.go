package sync

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/svcproxy/svcproxy/pkg/model"
	"github.com/svcproxy/svcproxy/pkg/render"
	"github.com/svcproxy/svcproxy/pkg/render/iptables"
)

// IPTables applies iptables rules of one IP family through one iptables
// variant (nft or legacy), always calling that variant's own binaries so
// the rules land in the subsystem the host uses. What it sends is
// render/iptables' text; it writes no rules of its own.
type IPTables struct {
	Family model.Family
	// Mode is ModeIPTablesNFT or ModeIPTablesLegacy.
	Mode   Mode
	Runner Runner
	// Stamps reads the tables' stamps for the canary; nil reads the
	// tables at every check.
	Stamps Stamper

	// verified is the tables' stamp (xtablesStamp, or the nftables
	// generation) when they last held what svcproxy loaded: read right
	// after each apply, and when the canary last found them intact; ""
	// when unknown.
	verified string
	// state is what the last successful apply loaded, nil when that is
	// unknown (before the first apply, after a failure).
	state *iptables.State
	// sent counts what the last successful delta sent; nil after a full
	// apply, which sent all the tables hold.
	sent []render.Counts
}

// Apply brings the filter and nat tables to m in one iptables-restore.
// In full, svcproxy's chains are replaced, chains it owns that m no
// longer needs are flushed and deleted, and the jumps from the built-in
// chains are put back in order if anything is missing; incrementally,
// only the chains that changed are sent (iptables.Diff). Rules of other
// tools are never touched. If the kernel rejects the payload, the error
// quotes the rejected line.
func (a *IPTables) Apply(ctx context.Context, m *model.Model, incremental bool) (Outcome, error) {
	a.verified = ""
	defer a.stampApplied()
	out, err := applyEither(a.Family, incremental,
		func() error { return a.applyDelta(ctx, m) },
		func() error { return a.applyFull(ctx, m) },
		func() []render.Counts { return a.state.Counts() })
	if err == nil {
		out.Sent = a.sent
		if out.Sent == nil {
			// A full apply sent everything the tables now hold.
			out.Sent = out.Counts
		}
	}
	return out, err
}

// applyFull reads the tables, to learn what a full restore must remove
// or put back, and restores m's ruleset.
func (a *IPTables) applyFull(ctx context.Context, m *model.Model) error {
	a.state = nil
	rs := iptables.Render(m)
	names := make([]string, len(rs.Tables))
	for i, t := range rs.Tables {
		names[i] = t.Name
	}
	saved, raw, err := a.save(ctx, names)
	if err != nil {
		return err
	}
	if err := a.restoreAll(ctx, rs.RestorePayload(saved, a.variant()), raw); err != nil {
		return err
	}
	a.state, a.sent = rs.State(), nil
	return nil
}

// restoreAll restores payload all-or-nothing across its tables. The
// tools commit table by table, so when a later table is rejected the
// earlier ones, committed already, are put back as leading holds them
// (iptables-save output by table, read before the restore).
func (a *IPTables) restoreAll(ctx context.Context, payload []byte, leading map[string][]byte) error {
	err := a.restore(ctx, payload)
	var rej *RejectedError
	if !errors.As(err, &rej) {
		return err
	}
	committed := iptables.CommittedBefore(payload, rej.Line)
	if len(committed) == 0 {
		return err
	}
	back, rerr := iptables.RollbackPayload(leading, committed)
	if rerr == nil {
		_, rerr = a.Runner.Run(ctx, back, a.command("restore"), xtablesWait)
	}
	if rerr != nil {
		return errors.Join(err, fmt.Errorf("putting back the %s table, committed before the rejected line: %w", strings.Join(committed, " and "), rerr))
	}
	return err
}

// applyDelta restores the delta from what was last loaded to m, if
// anything changed. The state is forgotten while the restore runs, so
// that a failure leaves it unknown.
func (a *IPTables) applyDelta(ctx context.Context, m *model.Model) error {
	d, err := iptables.Diff(a.state, m)
	if err != nil {
		return err
	}
	st := a.state
	if !d.Empty() {
		a.state = nil
		payload := d.Payload()
		leading, err := a.saveRaw(ctx, iptables.LeadingTables(payload))
		if err != nil {
			return err
		}
		if err := a.restoreAll(ctx, payload, leading); err != nil {
			return fmt.Errorf("sending the changed chains: %w", err)
		}
	}
	st.Commit(d)
	a.state, a.sent = st, d.Counts()
	return nil
}

func (a *IPTables) variant() iptables.Variant {
	if a.Mode == ModeIPTablesNFT {
		return iptables.NFT
	}
	return iptables.Legacy
}

func (a *IPTables) command(tool string) string {
	return IPTablesCommand(a.Family, a.Mode, tool)
}

// save returns the named tables as they are now, parsed, and, for all
// but the last, as iptables-save printed them: what restoreAll puts back
// if a later table is rejected. The last is the nat table, most of the
// rules, which is never needed raw.
func (a *IPTables) save(ctx context.Context, names []string) (map[string]*iptables.Saved, map[string][]byte, error) {
	tables, raw := map[string]*iptables.Saved{}, map[string][]byte{}
	for i, name := range names {
		out, err := a.saveTable(ctx, name)
		if err != nil {
			return nil, nil, err
		}
		if st := iptables.ParseSave(out)[name]; st != nil {
			tables[name] = st
		}
		if i < len(names)-1 {
			raw[name] = out
		}
	}
	return tables, raw, nil
}

// saveRaw returns the named tables as iptables-save prints them.
func (a *IPTables) saveRaw(ctx context.Context, names []string) (map[string][]byte, error) {
	raw := map[string][]byte{}
	for _, name := range names {
		out, err := a.saveTable(ctx, name)
		if err != nil {
			return nil, err
		}
		raw[name] = out
	}
	return raw, nil
}

func (a *IPTables) saveTable(ctx context.Context, name string) ([]byte, error) {
	out, err := a.Runner.Run(ctx, nil, a.command("save"), "-t", name)
	if err != nil {
		return nil, fmt.Errorf("reading the %s table: %w", name, err)
	}
	return out, nil
}

// lineFailed finds the line number in iptables-restore's error message,
// which is "line N failed" or "Error occurred at line: N" depending on
// the error.
var lineFailed = regexp.MustCompile(`line (\d+) failed|at line: (\d+)`)

// xtablesWait is how long an iptables command waits for the xtables lock
// that another program holds, as kube-proxy waits: long enough for any
// other tool's restore, short enough that a holder that never lets go
// fails the sync, which is then retried with backoff, instead of stalling
// it for ever.
const xtablesWait = "--wait=5"

// restore feeds payload to iptables-restore, waiting for the xtables lock
// (xtablesWait) rather than failing at once when another program holds
// it.
func (a *IPTables) restore(ctx context.Context, payload []byte) error {
	_, err := a.Runner.Run(ctx, payload, a.command("restore"), "--noflush", xtablesWait)
	if err == nil {
		return nil
	}
	var ce *CommandError
	if errors.As(err, &ce) {
		if m := lineFailed.FindStringSubmatch(ce.Stderr); m != nil {
			n, _ := strconv.Atoi(m[1] + m[2])
			return &RejectedError{Line: n, Text: payloadLine(payload, n), Reason: restoreReason(ce.Stderr), Err: err}
		}
	}
	return fmt.Errorf("applying %s %s rules: %w", a.Family, a.Mode, err)
}

// Intact reports whether the tables still hold what the last successful
// apply loaded (iptables.State.Intact): every chain with its rules, and
// every jump from the built-in chains in place. The tables are read in
// full only when their stamp, which costs the same whatever their size,
// shows that something changed them since the last check found them
// intact; an apply counts as a change.
func (a *IPTables) Intact(ctx context.Context) (bool, error) {
	if a.state == nil {
		return true, nil
	}
	stamp, stampErr := a.stamp()
	if stampErr == nil && stamp == a.verified {
		return true, nil
	}
	saved, _, err := a.save(ctx, a.state.Tables())
	if err != nil {
		return false, err
	}
	ok := a.state.Intact(saved)
	if ok && stampErr == nil {
		a.verified = stamp
	}
	return ok, nil
}

// ensureIPTablesCounters makes kube-proxy's nfacct counters, which the
// iptables rules count packets in (iptables.NFAcctInvalidDropped,
// iptables.NFAcctLocalhostAccepted), in the network namespace at netns.
func ensureIPTablesCounters(netns string) error {
	var errs []error
	for _, name := range []string{iptables.NFAcctInvalidDropped, iptables.NFAcctLocalhostAccepted} {
		errs = append(errs, ensureNFAcct(netns, name))
	}
	return errors.Join(errs...)
}

// stampApplied records the stamp of what the last apply loaded, when it
// succeeded: the canary need not read back what svcproxy just wrote
// (0.5 s with iptables-legacy and 6.7 s with iptables-nft at 10,000
// Services, after every sync). A change another program makes in the
// instant between the restore and this read goes unnoticed until the
// next full sync.
func (a *IPTables) stampApplied() {
	if a.state == nil {
		return
	}
	if stamp, err := a.stamp(); err == nil {
		a.verified = stamp
	}
}

// stamp returns the tables' stamp: x_tables' summary of them for
// iptables-legacy, the nftables generation for iptables-nft.
func (a *IPTables) stamp() (string, error) {
	switch {
	case a.Stamps == nil:
		return "", errNoStamps
	case a.Mode == ModeIPTablesNFT:
		return a.Stamps.Generation()
	}
	return a.Stamps.XTables(a.Family, a.state.Tables())
}

// RejectedError is a ruleset the kernel or the restore tool refused; the
// previous rules are still in place.
type RejectedError struct {
	// Line is the 1-based line of the payload that failed, and Text that
	// line.
	Line int
	Text string
	// Reason is what the tool said, without its usage hints.
	Reason string
	Err    error
}

// Error names the rejected line and the tool's reason.
func (e *RejectedError) Error() string {
	return fmt.Sprintf("rules rejected at line %d (%s): %s", e.Line, e.Text, e.Reason)
}

// Unwrap returns the command's error.
func (e *RejectedError) Unwrap() error { return e.Err }

// restoreReason keeps the lines of iptables-restore's error output that
// say what went wrong.
func restoreReason(stderr string) string {
	var keep []string
	for _, line := range strings.Split(stderr, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "Try `") || strings.HasPrefix(line, "Error occurred at line") {
			continue
		}
		keep = append(keep, line)
	}
	return strings.Join(keep, "; ")
}

func payloadLine(payload []byte, n int) string {
	i := 0
	for line := range strings.Lines(string(payload)) {
		if i++; i == n {
			return strings.TrimRight(line, "\n")
		}
	}
	return ""
}

// removeIPTables removes svcproxy's chains (with own) and kube-proxy's
// leftovers (with kubeProxy) from every table of one variant and family
// (iptables.Leftovers), and reports what it removed, one line a table. A
// variant whose tools are not installed has nothing to remove.
func removeIPTables(ctx context.Context, r Runner, fam model.Family, mode Mode, own, kubeProxy bool) ([]string, error) {
	what := iptables.Leftovers{Own: own, KubeProxy: kubeProxy}
	save, restore := IPTablesCommand(fam, mode, "save"), IPTablesCommand(fam, mode, "restore")
	if _, err := r.LookPath(save); err != nil {
		return nil, nil
	}
	if _, err := r.LookPath(restore); err != nil {
		return nil, nil
	}
	// Without -t, iptables-save dumps only the tables that exist; asking
	// for one would create it in the legacy variant.
	out, err := r.Run(ctx, nil, save)
	if err != nil {
		return nil, fmt.Errorf("reading rules: %w", err)
	}
	tables := iptables.ParseSave(out)
	var report []string
	for _, name := range slices.Sorted(maps.Keys(tables)) {
		rm := iptables.RemovalOf(name, tables[name], what)
		if rm.Chains == 0 {
			continue
		}
		if _, err := r.Run(ctx, rm.Payload, restore, "--noflush", xtablesWait); err != nil {
			return report, fmt.Errorf("removing chains from the %s table: %w", name, err)
		}
		report = append(report, fmt.Sprintf("%s %s %s table: removed %d chains and %d jumps", mode, fam, name, rm.Chains, rm.Jumps))
	}
	return report, nil
}
