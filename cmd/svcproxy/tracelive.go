package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"strings"

	iptrace "github.com/svcproxy/svcproxy/internal/tracer/iptables"
	nfttrace "github.com/svcproxy/svcproxy/internal/tracer/nftables"
	"github.com/svcproxy/svcproxy/pkg/model"
	"github.com/svcproxy/svcproxy/pkg/render/nftables"
	"github.com/svcproxy/svcproxy/pkg/sync"
)

// liveModes are the backends trace --live looks in, in this order when
// --mode does not name one: the one holding svcproxy's rules wins.
var liveModes = []sync.Mode{sync.ModeNFTables, sync.ModeIPTablesNFT, sync.ModeIPTablesLegacy}

// liveRules reads the rules of family fam that the kernel holds in this
// network namespace, with reads only: nft list table, iptables-save
// without -t (which, for iptables-legacy, would create a missing table).
func liveRules(ctx context.Context, r sync.Runner, mode string, fam model.Family, nodeIPs []string, stderr io.Writer) (*tracedRules, error) {
	modes := liveModes
	switch mode {
	case "":
	case modeIPTables:
		modes = liveModes[1:]
	default:
		m := sync.Mode(mode)
		if m != sync.ModeNFTables && m != sync.ModeIPTablesNFT && m != sync.ModeIPTablesLegacy {
			return nil, fmt.Errorf("trace: --mode %q: want nftables, iptables, iptables-nft or iptables-legacy with --live", mode)
		}
		modes = []sync.Mode{m}
	}
	node, err := liveNodeIPs(ctx, r, nodeIPs, fam)
	if err != nil {
		return nil, err
	}
	for _, m := range modes {
		rules, found, err := readLive(ctx, r, m, fam, stderr)
		if err != nil {
			return nil, fmt.Errorf("trace: reading the %s rules: %w", m, err)
		}
		if found {
			rules.node = node
			return rules, nil
		}
	}
	return nil, fmt.Errorf("trace: no svcproxy %s rules in this network namespace (looked in %s)", fam, joinModes(modes))
}

// readLive reads svcproxy's rules of one backend; found is false when
// the backend holds none.
func readLive(ctx context.Context, r sync.Runner, m sync.Mode, fam model.Family, stderr io.Writer) (*tracedRules, bool, error) {
	if m == sync.ModeNFTables {
		out, err := r.Run(ctx, nil, "nft", "list", "table", string(nftables.Family(fam)), nftables.TableName)
		if err != nil {
			return nil, false, nil // no such table
		}
		t, err := nfttrace.LoadListed(string(out))
		return &tracedRules{mode: string(m), nft: t}, err == nil, err
	}
	save := sync.IPTablesCommand(fam, m, "save")
	if _, err := r.LookPath(save); err != nil {
		return nil, false, nil
	}
	out, err := r.Run(ctx, nil, save)
	if err != nil {
		return nil, false, err
	}
	if !strings.Contains(string(out), ":KUBE-SERVICES ") {
		return nil, false, nil
	}
	rs, ignored, err := iptrace.ParseSaved(out)
	if err != nil {
		return nil, false, err
	}
	if ignored > 0 {
		fmt.Fprintf(stderr, "note: %d rules of other programs in the built-in chains are not followed\n", ignored)
	}
	return &tracedRules{mode: string(m), ipt: rs}, true, nil
}

// liveNodeIPs returns --node-ip's addresses of family fam, else those
// on this namespace's interfaces, which decide what is local as the
// kernel's routing does.
func liveNodeIPs(ctx context.Context, r sync.Runner, flag []string, fam model.Family) ([]netip.Addr, error) {
	var out []netip.Addr
	if len(flag) > 0 {
		for _, s := range flag {
			ip, err := model.ParseIP(strings.TrimSpace(s))
			if err != nil {
				return nil, fmt.Errorf("trace: --node-ip: %w", err)
			}
			out = append(out, ip)
		}
		return out, nil
	}
	data, err := r.Run(ctx, nil, "ip", "-j", "address", "show")
	if err != nil {
		return nil, fmt.Errorf("trace: reading the node's addresses: %w", err)
	}
	var links []struct {
		AddrInfo []struct {
			Local string `json:"local"`
		} `json:"addr_info"`
	}
	if err := json.Unmarshal(data, &links); err != nil {
		return nil, fmt.Errorf("trace: reading the node's addresses: %w", err)
	}
	for _, l := range links {
		for _, a := range l.AddrInfo {
			if ip, err := netip.ParseAddr(a.Local); err == nil && model.FamilyOf(ip) == fam {
				out = append(out, ip)
			}
		}
	}
	return out, nil
}

func joinModes(modes []sync.Mode) string {
	s := make([]string, len(modes))
	for i, m := range modes {
		s[i] = string(m)
	}
	return strings.Join(s, ", ")
}
