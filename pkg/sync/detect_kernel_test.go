package sync

import (
	"context"
	"strings"
	"testing"

	"github.com/svcproxy/svcproxy/internal/netns"
	"github.com/svcproxy/svcproxy/internal/netnstest"
	"github.com/svcproxy/svcproxy/pkg/model"
)

// inNS returns a Runner that runs every command inside a test's network
// namespace, so the real Detector sees that namespace's tables and never
// the host's.
func inNS(ns *netns.NS) ExecRunner {
	return ExecRunner{Prefix: ns.Prefix()}
}

// detectKernelTools are what the kernel tests run.
var detectKernelTools = []string{
	"nft",
	"iptables-legacy", "iptables-legacy-save", "iptables-legacy-restore",
	"iptables-nft", "iptables-nft-save", "iptables-nft-restore",
	"ip6tables-legacy", "ip6tables-legacy-save", "ip6tables-legacy-restore",
	"ip6tables-nft", "ip6tables-nft-save", "ip6tables-nft-restore",
}

// kernelDetectCase is a namespace set up by commands, and what detection
// must say about it.
type kernelDetectCase struct {
	name     string
	request  Request
	family   model.Family
	setup    [][]string
	wantMode Mode
	// wantEvidence is a line the evidence must hold.
	wantEvidence string
}

func TestDetectInKernel(t *testing.T) {
	netnstest.RequireRoot(t, detectKernelTools...)
	tests := []kernelDetectCase{
		{
			name: "hint created with iptables-legacy", request: "iptables", family: model.IPv4,
			setup:    [][]string{{"iptables-legacy", "-t", "mangle", "-N", "KUBE-IPTABLES-HINT"}},
			wantMode: ModeIPTablesLegacy, wantEvidence: "KUBE-IPTABLES-HINT found in iptables-legacy mangle table",
		},
		{
			name: "hint created with iptables-nft", request: "iptables", family: model.IPv4,
			setup:    [][]string{{"iptables-nft", "-t", "mangle", "-N", "KUBE-IPTABLES-HINT"}},
			wantMode: ModeIPTablesNFT, wantEvidence: "KUBE-IPTABLES-HINT found in iptables-nft mangle table",
		},
		{
			name: "hint in both variants: nft is asked first", request: "iptables", family: model.IPv4,
			setup: [][]string{
				{"iptables-legacy", "-t", "mangle", "-N", "KUBE-IPTABLES-HINT"},
				{"iptables-nft", "-t", "mangle", "-N", "KUBE-KUBELET-CANARY"},
			},
			wantMode: ModeIPTablesNFT, wantEvidence: "KUBE-KUBELET-CANARY found in iptables-nft mangle table",
		},
		{
			name: "canary created with ip6tables-legacy", request: "iptables", family: model.IPv6,
			setup:    [][]string{{"ip6tables-legacy", "-t", "mangle", "-N", "KUBE-KUBELET-CANARY"}},
			wantMode: ModeIPTablesLegacy, wantEvidence: "KUBE-KUBELET-CANARY found in iptables-legacy mangle table",
		},
		{
			name: "nothing anywhere defaults to nft", request: "iptables", family: model.IPv4,
			wantMode: ModeIPTablesNFT, wantEvidence: "rules: legacy 0, nft 0",
		},
		{
			name: "nothing anywhere defaults to nft for ipv6", request: "iptables", family: model.IPv6,
			wantMode: ModeIPTablesNFT, wantEvidence: "rules: legacy 0, nft 0",
		},
		{
			name: "legacy with more rules", request: "iptables", family: model.IPv4,
			setup: [][]string{
				{"iptables-legacy", "-A", "INPUT", "-s", "203.0.113.1", "-j", "ACCEPT"},
				{"iptables-legacy", "-A", "INPUT", "-s", "203.0.113.2", "-j", "ACCEPT"},
				{"iptables-legacy", "-A", "OUTPUT", "-d", "203.0.113.3", "-j", "ACCEPT"},
				{"iptables-nft", "-A", "INPUT", "-s", "203.0.113.4", "-j", "ACCEPT"},
			},
			wantMode: ModeIPTablesLegacy, wantEvidence: "rules: legacy 3, nft 1",
		},
		{
			name: "explicit legacy over a hint in nft", request: "iptables-legacy", family: model.IPv4,
			setup:    [][]string{{"iptables-nft", "-t", "mangle", "-N", "KUBE-IPTABLES-HINT"}},
			wantMode: ModeIPTablesLegacy, wantEvidence: "requested iptables-legacy",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.run(t) })
	}
}

// run sets up a fresh namespace, detects in it, and checks that detection
// left no legacy mangle table behind where there was none.
func (tt kernelDetectCase) run(t *testing.T) {
	t.Helper()
	ns := netnstest.New(t)
	for _, cmd := range tt.setup {
		if _, err := ns.Run(nil, cmd[0], cmd[1:]...); err != nil {
			t.Fatalf("setting up: %v", err)
		}
	}
	legacySave := IPTablesCommand(tt.family, ModeIPTablesLegacy, "save")
	hadMangle := hasMangle(t, ns, legacySave)
	d := &Detector{Runner: inNS(ns)}
	got, err := d.Detect(context.Background(), tt.request, tt.family)
	if err != nil {
		t.Fatalf("Detect: %v", err)
	}
	if got.Mode != tt.wantMode || !contains(got.Evidence, tt.wantEvidence) {
		t.Errorf("Detect() = %s with evidence %q; want %s with %q", got.Mode, got.Evidence, tt.wantMode, tt.wantEvidence)
	}
	if !hadMangle && hasMangle(t, ns, legacySave) {
		t.Errorf("detection created a legacy mangle table")
	}
}

// TestDetectAutoInKernel checks that auto picks nftables in a fresh
// namespace on a kernel that supports it.
func TestDetectAutoInKernel(t *testing.T) {
	netnstest.RequireRoot(t, detectKernelTools...)
	release, err := readKernelRelease()
	if err != nil {
		t.Fatal(err)
	}
	if v, err := parseKernelRelease(release); err != nil || v.less(minKernel) {
		t.Skipf("skipping: kernel %s is older than nftables mode needs", release)
	}
	for _, family := range model.Families {
		t.Run(family.String(), func(t *testing.T) {
			ns := netnstest.New(t)
			d := &Detector{Runner: inNS(ns)}
			got, err := d.Detect(context.Background(), "auto", family)
			if err != nil {
				t.Fatalf("Detect: %v", err)
			}
			if got.Mode != ModeNFTables || got.Kernel != release || got.NFTVersion == "" {
				t.Errorf("Detect() = %+v; want nftables on kernel %s with the nft version", got, release)
			}
			if hasMangle(t, ns, IPTablesCommand(family, ModeIPTablesLegacy, "save")) {
				t.Errorf("detection created a legacy mangle table")
			}
		})
	}
}

// hasMangle reports whether the namespace has a mangle table, per save.
func hasMangle(t *testing.T, ns *netns.NS, save string) bool {
	t.Helper()
	out, err := ns.Run(nil, save)
	if err != nil {
		t.Fatalf("dumping the rules: %v", err)
	}
	for _, line := range strings.Split(out, "\n") {
		if strings.TrimSpace(line) == "*mangle" {
			return true
		}
	}
	return false
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
