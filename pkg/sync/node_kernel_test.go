package sync

import (
	"context"
	"strings"
	"testing"

	"github.com/svcproxy/svcproxy/internal/netns"
	"github.com/svcproxy/svcproxy/internal/netnstest"
	"github.com/svcproxy/svcproxy/pkg/model"
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
			ns := netnstest.New(t)
			r := ExecRunner{Prefix: ns.Prefix()}
			n := &Node{Runner: r, Detector: &Detector{Runner: r}, Request: Request(mode)}
			models := []*model.Model{trafficModel(t, trafficServices)}
			ctx := context.Background()
			if _, err := n.Apply(ctx, models, false); err != nil {
				t.Fatal(err)
			}
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
// backend, kube-proxy's leftovers and other tools' rules beside them, then
// applies through Node in each mode: the first apply must leave the rules
// of its own backend only, kube-proxy's leftovers gone and everything
// else in place; later applies remove nothing.
func TestNodeTakesOver(t *testing.T) {
	dumps := map[Mode][]string{
		ModeIPTablesLegacy: {"iptables-legacy-save"},
		ModeIPTablesNFT:    {"iptables-nft-save"},
		ModeNFTables:       {"nft", "list", "tables"},
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
				if _, err := NewApplier(r, other, model.IPv4).Apply(ctx, models[0], false); err != nil {
					t.Fatalf("applying %s: %v", other, err)
				}
			}
			n := &Node{Runner: r, Detector: &Detector{Runner: r}, Request: Request(mode)}
			outs, err := n.Apply(ctx, models, false)
			if err != nil || outs[0].TakeOverErr != nil {
				t.Fatalf("first apply: %v, takeover: %v", err, outs[0].TakeOverErr)
			}
			t.Logf("took over: %q", outs[0].TookOver)
			for other, dump := range dumps {
				out, err := ns.Run(nil, dump[0], dump[1:]...)
				if err != nil {
					t.Fatal(err)
				}
				own := strings.Contains(out, "KUBE-SERVICES") || strings.Contains(out, "table ip svcproxy")
				if own != (other == mode) {
					t.Errorf("%s holds svcproxy's rules: %v, want %v:\n%s", other, own, other == mode, out)
				}
				for _, gone := range []string{"KUBE-PROXY-CANARY", "KUBE-XLB-", "table ip kube-proxy"} {
					if strings.Contains(out, gone) {
						t.Errorf("kube-proxy's %q remains in %s:\n%s", gone, other, out)
					}
				}
			}
			checkSurvivors(t, ns, survivors)
			checkIntact(t, n, true)
			if outs, err := n.Apply(ctx, models, false); err != nil || len(outs[0].TookOver) > 0 {
				t.Errorf("second apply: %v, took over %q, want nothing", err, outs[0].TookOver)
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
