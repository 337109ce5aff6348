package sync

import (
	"context"
	"strings"
	"testing"

	"github.com/svcproxy/svcproxy/internal/netns"
	"github.com/svcproxy/svcproxy/internal/netnstest"
	"github.com/svcproxy/svcproxy/pkg/model"
	"github.com/svcproxy/svcproxy/pkg/render/nftables"
)

// TestNodeNoticesFlushedRules applies rules through Node in each mode,
// then lets "another program" flush them: Intact must say so, and a new
// Apply must repair them.
func TestNodeNoticesFlushedRules(t *testing.T) {
	flush := map[Mode][]string{
		ModeNFTables:       {"nft", "delete", "table", "ip", "svcproxy"},
		ModeIPTablesNFT:    {"iptables-nft", "-t", "nat", "-F"},
		ModeIPTablesLegacy: {"iptables-legacy", "-t", "nat", "-F"},
	}
	for _, mode := range trafficModes {
		t.Run(string(mode), func(t *testing.T) {
			netnstest.RequireRoot(t, "nft", "iptables-legacy", "iptables-nft")
			n, ns, models := appliedNode(t, mode)
			ctx := context.Background()
			checkIntact(t, n, true)
			if _, err := ns.Run(nil, flush[mode][0], flush[mode][1:]...); err != nil {
				t.Fatal(err)
			}
			checkIntact(t, n, false)
			if _, err := n.Apply(ctx, models, false); err != nil {
				t.Fatal(err)
			}
			checkIntact(t, n, true)
		})
	}
}

// appliedNode returns a Node in a new namespace with the traffic test's
// rules applied in mode, and the models it applied.
func appliedNode(t *testing.T, mode Mode) (*Node, *netns.NS, []*model.Model) {
	t.Helper()
	return appliedNodeWith(t, mode, nil)
}

// appliedNodeOver is appliedNode, loading and checking over netlink
// with overNetlink.
func appliedNodeOver(t *testing.T, mode Mode, overNetlink bool) (*Node, *netns.NS, []*model.Model) {
	t.Helper()
	n, ns, models := appliedNodeWith(t, mode, func(n *Node, ns *netns.NS) {
		if overNetlink {
			n.Netlink = &KernelNetlink{NetNS: "/run/netns/" + ns.Name}
		}
	})
	return n, ns, models
}

// appliedNodeWith returns a Node that applied the traffic model in a new
// namespace, after setup changed it.
func appliedNodeWith(t *testing.T, mode Mode, setup func(*Node, *netns.NS)) (*Node, *netns.NS, []*model.Model) {
	t.Helper()
	ns := netnstest.New(t)
	r := ExecRunner{Prefix: ns.Prefix()}
	n := &Node{Runner: r, Detector: &Detector{Runner: r}, Request: Request(mode), Stamps: &KernelStamps{NetNS: "/run/netns/" + ns.Name}, NetNS: "/run/netns/" + ns.Name}
	if setup != nil {
		setup(n, ns)
	}
	models := []*model.Model{trafficModel(t, trafficServices)}
	if _, err := n.Apply(context.Background(), models, false); err != nil {
		t.Fatal(err)
	}
	return n, ns, models
}

func checkIntact(t *testing.T, n *Node, want bool) {
	t.Helper()
	got, err := n.Intact(context.Background())
	if err != nil {
		t.Fatalf("Intact: %v", err)
	}
	if got != want {
		t.Errorf("Intact = %v, want %v", got, want)
	}
}

// TestNodeTakesOver puts svcproxy's (that is, kube-proxy's) rules in every
// backend and both families, kube-proxy's leftovers and other tools' rules
// beside them, then applies the IPv4 family through Node in each mode and
// takes the node over: only the rules of that family's backend may stay,
// with kube-proxy's leftovers and the IPv6 family's rules gone (kube-proxy
// writes IPv6 rules on an IPv4-only node too), and everything else in
// place; a second takeover removes nothing.
func TestNodeTakesOver(t *testing.T) {
	dumps := []struct {
		mode   Mode
		family model.Family
		cmd    []string
	}{
		{ModeIPTablesLegacy, model.IPv4, []string{"iptables-legacy-save"}},
		{ModeIPTablesLegacy, model.IPv6, []string{"ip6tables-legacy-save"}},
		{ModeIPTablesNFT, model.IPv4, []string{"iptables-nft-save"}},
		{ModeIPTablesNFT, model.IPv6, []string{"ip6tables-nft-save"}},
		{ModeNFTables, 0, []string{"nft", "list", "tables"}}, // both families
	}
	for _, mode := range trafficModes {
		t.Run(string(mode), func(t *testing.T) {
			netnstest.RequireRoot(t, "nft", "iptables-legacy", "iptables-nft")
			ns := netnstest.New(t)
			survivors := append(installOtherTools(t, ns, true), installKubelet(t, ns)...)
			r := ExecRunner{Prefix: ns.Prefix()}
			models := []*model.Model{trafficModel(t, trafficServices)}
			ctx := context.Background()
			for _, other := range trafficModes {
				for _, m := range []*model.Model{models[0], {Family: model.IPv6}} {
					if _, err := newApplier(r, other, m.Family, nil, nil).Apply(ctx, m, false); err != nil {
						t.Fatalf("applying %s %s: %v", other, m.Family, err)
					}
				}
			}
			n := &Node{Runner: r, Detector: &Detector{Runner: r}, Request: Request(mode)}
			if _, err := n.Apply(ctx, models, false); err != nil {
				t.Fatal(err)
			}
			removed, err := n.TakeOver(ctx)
			if err != nil {
				t.Fatalf("taking over: %v (removed %q)", err, removed)
			}
			t.Logf("took over: %q", removed)
			for _, d := range dumps {
				out, err := ns.Run(nil, d.cmd[0], d.cmd[1:]...)
				if err != nil {
					t.Fatal(err)
				}
				own := strings.Contains(out, "KUBE-SERVICES") || strings.Contains(out, "table ip svcproxy")
				if want := d.mode == mode && d.family != model.IPv6; own != want {
					t.Errorf("%s holds svcproxy's rules: %v, want %v:\n%s", d.cmd[0], own, want, out)
				}
				for _, gone := range []string{"KUBE-PROXY-CANARY", "KUBE-XLB-", "kube-proxy", "table ip6 svcproxy"} {
					if strings.Contains(out, gone) {
						t.Errorf("%q remains in %s:\n%s", gone, d.cmd[0], out)
					}
				}
			}
			checkSurvivors(t, ns, survivors)
			checkIntact(t, n, true)
			if removed, err := n.TakeOver(ctx); err != nil || len(removed) > 0 {
				t.Errorf("second takeover: %v, removed %q, want nothing", err, removed)
			}
		})
	}
}

// installKubelet adds what a kubelet puts in iptables, which is not
// kube-proxy's and must survive a takeover, and returns it.
func installKubelet(t *testing.T, ns *netns.NS) []string {
	t.Helper()
	for _, c := range [][]string{
		{"iptables-nft", "-t", "mangle", "-N", "KUBE-IPTABLES-HINT"},
		{"iptables-nft", "-t", "mangle", "-N", "KUBE-KUBELET-CANARY"},
		{"iptables-legacy", "-t", "filter", "-N", "KUBE-FIREWALL"},
		{"iptables-legacy", "-t", "filter", "-I", "INPUT", "-j", "KUBE-FIREWALL"},
	} {
		if _, err := ns.Run(nil, c[0], c[1:]...); err != nil {
			t.Fatal(err)
		}
	}
	return []string{":KUBE-IPTABLES-HINT", ":KUBE-KUBELET-CANARY", "-A INPUT -j KUBE-FIREWALL"}
}

// TestNFTablesCanaryNoticesEveryChain flushes, one at a time, each chain
// the nftables canary watches: every hooked chain and the dispatch
// chain. Intact must notice each, and a new Apply repair it; whether it
// reads the rules with nft or over netlink.
func TestNFTablesCanaryNoticesEveryChain(t *testing.T) {
	for _, overNetlink := range []bool{false, true} {
		t.Run(loaderName(overNetlink), func(t *testing.T) {
			netnstest.RequireRoot(t, "nft")
			canaryNoticesEveryChain(t, overNetlink)
		})
	}
}

// loaderName names a subtest by how it loads and reads nftables rules.
func loaderName(overNetlink bool) string {
	if overNetlink {
		return "netlink"
	}
	return "nft"
}

func canaryNoticesEveryChain(t *testing.T, overNetlink bool) {
	n, ns, models := appliedNodeOver(t, ModeNFTables, overNetlink)
	ctx := context.Background()
	seen := map[string]bool{}
	for _, c := range nftables.NewCanary(model.IPv4).Rules {
		if seen[c.Chain] {
			continue
		}
		seen[c.Chain] = true
		t.Run(c.Chain, func(t *testing.T) {
			checkIntact(t, n, true)
			if _, err := ns.Run(nil, "nft", "flush", "chain", "ip", nftables.TableName, c.Chain); err != nil {
				t.Fatal(err)
			}
			checkIntact(t, n, false)
			if _, err := n.Apply(ctx, models, false); err != nil {
				t.Fatal(err)
			}
			checkIntact(t, n, true)
		})
	}
	if len(seen) < 9 {
		t.Errorf("the canary watches %d chains, want every hooked chain and the dispatch chain", len(seen))
	}
}

// countingRunner counts the commands it runs.
type countingRunner struct {
	Runner
	runs int
}

func (c *countingRunner) Run(ctx context.Context, stdin []byte, name string, args ...string) ([]byte, error) {
	c.runs++
	return c.Runner.Run(ctx, stdin, name, args...)
}

// TestIPTablesCanaryNoticesEveryHook breaks, one at a time, each thing
// the iptables rules hang from: every jump from a built-in chain, and the
// dispatch chains. Intact must notice each, and a new Apply repair it.
// Between changes, a check reads no table: it runs no command at all.
func TestIPTablesCanaryNoticesEveryHook(t *testing.T) {
	for _, mode := range []Mode{ModeIPTablesNFT, ModeIPTablesLegacy} {
		t.Run(string(mode), func(t *testing.T) {
			netnstest.RequireRoot(t, "iptables-legacy", "iptables-nft")
			ns := netnstest.New(t)
			r := &countingRunner{Runner: ExecRunner{Prefix: ns.Prefix()}}
			n := &Node{Runner: r, Detector: &Detector{Runner: r}, Request: Request(mode), Stamps: &KernelStamps{NetNS: "/run/netns/" + ns.Name}, NetNS: "/run/netns/" + ns.Name}
			models := []*model.Model{trafficModelWith(t, trafficServices, func(_ *model.Input, cfg *model.Config) { cfg.LocalhostNodePorts = true })}
			ctx := context.Background()
			if _, err := n.Apply(ctx, models, false); err != nil {
				t.Fatal(err)
			}
			for _, breakage := range canaryBreakages(t, ns, IPTablesCommand(model.IPv4, mode, "")) {
				checkIntact(t, n, true)
				before := r.runs
				checkIntact(t, n, true)
				if r.runs != before {
					t.Errorf("a check of unchanged tables ran %d commands", r.runs-before)
				}
				if _, err := ns.Run(nil, breakage[0], breakage[1:]...); err != nil {
					t.Fatalf("%v: %v", breakage, err)
				}
				if ok, err := n.Intact(ctx); err != nil || ok {
					t.Errorf("after %v: Intact = %v, %v; want false", breakage[1:], ok, err)
				}
				if _, err := n.Apply(ctx, models, false); err != nil {
					t.Fatal(err)
				}
			}
			checkIntact(t, n, true)
		})
	}
}

// canaryBreakages lists commands that each break one thing the rules
// hang from: every jump svcproxy puts in a built-in chain, as rendered,
// and the flush of each dispatch chain that has rules.
func canaryBreakages(t *testing.T, ns *netns.NS, bin string) [][]string {
	t.Helper()
	var out [][]string
	for _, table := range []string{"filter", "nat"} {
		rules, err := ns.Run(nil, bin, "-t", table, "-S")
		if err != nil {
			t.Fatal(err)
		}
		for line := range strings.Lines(rules) {
			fields := strings.Fields(line)
			builtin := len(fields) > 1 && fields[0] == "-A" && strings.ToUpper(fields[1]) == fields[1] && !strings.HasPrefix(fields[1], "KUBE-")
			if builtin && strings.Contains(line, "-j KUBE-") {
				out = append(out, append([]string{bin, "-t", table, "-D"}, shellFields(line[3:])...))
			}
		}
		for _, chain := range []string{"KUBE-SERVICES", "KUBE-NODEPORTS"} {
			// An empty chain's flush changes nothing.
			if rules, err := ns.Run(nil, bin, "-t", table, "-S", chain); err == nil && strings.Count(rules, "\n") > 1 {
				out = append(out, []string{bin, "-t", table, "-F", chain})
			}
		}
	}
	if len(out) < 15 {
		t.Fatalf("%d breakages, want every jump of both tables and the dispatch chains", len(out))
	}
	return out
}

// shellFields splits an iptables -S line into arguments, keeping a
// quoted comment whole.
func shellFields(line string) []string {
	var out []string
	for rest := strings.TrimSpace(line); rest != ""; rest = strings.TrimSpace(rest) {
		if q, ok := strings.CutPrefix(rest, `"`); ok {
			word, after, _ := strings.Cut(q, `"`)
			out, rest = append(out, word), after
			continue
		}
		word, after, _ := strings.Cut(rest, " ")
		out, rest = append(out, word), after
	}
	return out
}

// TestNFTablesCanaryReadsOnlyAfterChanges checks that the nftables
// canary lists the table only once something changed the ruleset: after
// an apply and between changes it runs no command; after another
// program's change it lists, with nft or over netlink (then running no
// command either), and notices a flushed chain.
func TestNFTablesCanaryReadsOnlyAfterChanges(t *testing.T) {
	for _, overNetlink := range []bool{false, true} {
		t.Run(loaderName(overNetlink), func(t *testing.T) {
			netnstest.RequireRoot(t, "nft")
			canaryReadsOnlyAfterChanges(t, overNetlink)
		})
	}
}

func canaryReadsOnlyAfterChanges(t *testing.T, overNetlink bool) {
	ns := netnstest.New(t)
	r := &countingRunner{Runner: ExecRunner{Prefix: ns.Prefix()}}
	n := &Node{Runner: r, Detector: &Detector{Runner: r}, Request: RequestNFTables, Stamps: &KernelStamps{NetNS: "/run/netns/" + ns.Name}, NetNS: "/run/netns/" + ns.Name}
	if overNetlink {
		n.Netlink = &KernelNetlink{NetNS: "/run/netns/" + ns.Name}
	}
	if _, err := n.Apply(context.Background(), []*model.Model{trafficModel(t, trafficServices)}, false); err != nil {
		t.Fatal(err)
	}
	before := r.runs
	checkIntact(t, n, true)
	checkIntact(t, n, true)
	if r.runs != before {
		t.Errorf("checks of an unchanged ruleset ran %d commands", r.runs-before)
	}
	if _, err := ns.Run(nil, "nft", "add", "table", "ip", "other"); err != nil {
		t.Fatal(err)
	}
	checkIntact(t, n, true)
	switch {
	case overNetlink && r.runs != before:
		t.Errorf("a check over netlink after another program's change ran %d commands, want none", r.runs-before)
	case !overNetlink && r.runs == before:
		t.Error("a check after another program's change listed nothing")
	}
	if _, err := ns.Run(nil, "nft", "flush", "chain", "ip", nftables.TableName, "services"); err != nil {
		t.Fatal(err)
	}
	checkIntact(t, n, false)
}
