package main

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"

	"github.com/svcproxy/svcproxy/internal/netnstest"
	"github.com/svcproxy/svcproxy/internal/tracer"
	"github.com/svcproxy/svcproxy/pkg/model"
	"github.com/svcproxy/svcproxy/pkg/sync"
)

// TestTraceLiveMatchesRendered applies every golden scenario to a fresh
// network namespace with svcproxy render, in each backend, reads the
// rules back as trace --live does (nft list table, iptables-save), and
// traces the scenario's packets through what the kernel holds: every
// verdict must be the one the scenario expects of the rendered rules.
// This is what lets trace --live be trusted on a node: the kernel's
// spelling of the rules means what svcproxy wrote.
func TestTraceLiveMatchesRendered(t *testing.T) {
	netnstest.RequireRoot(t, "nft", "iptables-legacy-save", "iptables-nft-save", "ip6tables-legacy-save", "ip6tables-nft-save")
	bin := svcproxyBinary(t)
	for _, path := range goldenFiles(t) {
		sc := loadScenario(t, path)
		exps, err := tracer.ParseExpectations(string(sc.section(secTrace)))
		if err != nil {
			t.Fatal(err)
		}
		nodeIPs := map[model.Family][]string{}
		for _, m := range sc.mustModels(t) {
			for _, ip := range m.Node.IPs {
				nodeIPs[m.Family] = append(nodeIPs[m.Family], ip.String())
			}
		}
		for _, mode := range []sync.Mode{sync.ModeNFTables, sync.ModeIPTablesNFT, sync.ModeIPTablesLegacy} {
			t.Run(scenarioName(path)+"/"+string(mode), func(t *testing.T) {
				ns := netnstest.New(t)
				args := append([]string{"render", "--mode", string(mode), "-f", "-"}, sc.flags...)
				if _, err := ns.Run(bytes.NewReader(sc.input), bin, args...); err != nil {
					t.Fatalf("applying: %v", err)
				}
				checkLiveTraces(t, sync.ExecRunner{Prefix: ns.Prefix()}, mode, nodeIPs, exps)
			})
		}
	}
}

func checkLiveTraces(t *testing.T, r sync.Runner, mode sync.Mode, nodeIPs map[model.Family][]string, exps []tracer.Expectation) {
	t.Helper()
	backend := modeIPTables
	if mode == sync.ModeNFTables {
		backend = modeNFTables
	}
	rules := map[model.Family]*tracedRules{}
	for _, e := range exps {
		if e.Backend != "" && e.Backend != backend {
			continue
		}
		fam := model.FamilyOf(e.Packet.Dst)
		if rules[fam] == nil {
			var err error
			if rules[fam], err = liveRules(context.Background(), r, string(mode), fam, nodeIPs[fam], io.Discard); err != nil {
				t.Fatal(err)
			}
		}
		routes, err := rules[fam].routes(e.Packet)
		if err != nil {
			t.Errorf("line %d %s: %v", e.Line, e.Packet, err)
			continue
		}
		if got := tracer.Outcomes(routes).String(); got != e.Want {
			t.Errorf("line %d: %s\n got: %s\nwant: %s", e.Line, e.Packet, got, e.Want)
		}
	}
}

// TestTraceLiveCommand runs the binary's trace --live in a namespace
// holding the built-in example, and in one holding nothing.
func TestTraceLiveCommand(t *testing.T) {
	netnstest.RequireRoot(t, "nft", "iptables-legacy-save", "iptables-nft-save")
	bin := svcproxyBinary(t)
	ns := netnstest.New(t)
	trace := func(args ...string) (string, error) {
		return ns.Run(nil, bin, append([]string{"trace", "--live", "--from", "10.244.2.9"}, args...)...)
	}
	if _, err := trace("tcp", "10.96.0.10:80"); err == nil || !strings.Contains(err.Error(), "no svcproxy ipv4 rules in this network namespace") {
		t.Errorf("an empty namespace: %v", err)
	}
	for _, mode := range []string{"iptables-legacy", "nftables"} {
		if _, err := ns.Run(nil, bin, "render", "--mode", mode); err != nil {
			t.Fatal(err)
		}
		before := kernelState(t, ns)
		out, err := trace("--mode", mode, "tcp", "10.96.0.10:80")
		if err != nil || !strings.Contains(out, "through the "+mode+" rules") || !strings.Contains(out, "verdict: 10.244.1.5:8080 (50%), 10.244.2.7:8080 (50%)") {
			t.Errorf("%s: %v\n%s", mode, err, out)
		}
		if after := kernelState(t, ns); after != before {
			t.Errorf("%s: trace --live changed the kernel's rules:\nbefore:\n%s\nafter:\n%s", mode, before, after)
		}
	}
}

// kernelState lists every table of every backend in the namespace,
// without the tools' comments (which hold the time).
func kernelState(t *testing.T, ns interface {
	Run(io.Reader, string, ...string) (string, error)
}) string {
	t.Helper()
	var b strings.Builder
	for _, c := range [][]string{{"nft", "list", "ruleset"}, {"iptables-legacy-save"}, {"iptables-nft-save"}} {
		out, err := ns.Run(nil, c[0], c[1:]...)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(out, "\n") {
			if !strings.HasPrefix(line, "#") {
				b.WriteString(line + "\n")
			}
		}
	}
	return b.String()
}
