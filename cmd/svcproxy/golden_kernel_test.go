package main

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"sigs.k8s.io/knftables"

	"github.com/svcproxy/svcproxy/internal/netns"
	"github.com/svcproxy/svcproxy/internal/netnstest"
	"github.com/svcproxy/svcproxy/pkg/render/nftables"
	"github.com/svcproxy/svcproxy/pkg/render/nftables/nfnl"
	"github.com/svcproxy/svcproxy/pkg/sync"
)

// TestGoldenLoadsIntoKernelTools feeds every golden ruleset to the real
// tools, which parse it and check it against the kernel: both iptables
// variants in test mode, and nft in check mode.
func TestGoldenLoadsIntoKernelTools(t *testing.T) {
	netnstest.RequireRoot(t, "iptables-legacy-restore", "iptables-nft-restore", "ip6tables-legacy-restore", "ip6tables-nft-restore", "nft")
	ns := netnstest.New(t)
	for _, path := range goldenFiles(t) {
		t.Run(scenarioName(path), func(t *testing.T) {
			sc := loadScenario(t, path)
			for family, payload := range splitIPTablesPayloads(t, sc.section(secIPTables)) {
				for _, variant := range []string{"legacy", "nft"} {
					tool := fmt.Sprintf("%s-%s-restore", restoreTool(family), variant)
					if _, err := ns.Run(bytes.NewReader(payload), tool, "--test", "--noflush"); err != nil {
						t.Errorf("%s rejects the %s payload: %v", tool, family, err)
					}
				}
			}
			if _, err := ns.Run(bytes.NewReader(sc.section(secNFTables)), "nft", "--check", "-f", "-"); err != nil {
				t.Errorf("nft --check rejects the ruleset: %v", err)
			}
		})
	}
}

func restoreTool(family string) string {
	if family == "ipv6" {
		return "ip6tables"
	}
	return "iptables"
}

// splitIPTablesPayloads splits render's iptables output, which holds one
// payload per family after a "# svcproxy <family> rules:" line.
func splitIPTablesPayloads(t *testing.T, out []byte) map[string][]byte {
	t.Helper()
	payloads := map[string][]byte{}
	var family string
	for _, line := range strings.SplitAfter(string(out), "\n") {
		if rest, ok := strings.CutPrefix(line, "# svcproxy "); ok {
			family, _, _ = strings.Cut(rest, " ")
			continue
		}
		if family == "" {
			t.Fatalf("iptables output does not start with a family header: %q", line)
		}
		payloads[family] = append(payloads[family], line...)
	}
	if len(payloads) == 0 {
		t.Fatal("no iptables payload in the golden file")
	}
	return payloads
}

// TestGoldenNetlinkListsAsNFT loads every golden nftables ruleset twice
// into a fresh table: once with nft -f, once as the netlink batch nfnl
// encodes it to, sent as nftables mode sends it. nft must list both the
// same, handles included: one ruleset, whichever encoding carried it.
func TestGoldenNetlinkListsAsNFT(t *testing.T) {
	netnstest.RequireRoot(t, "nft")
	ns := netnstest.New(t)
	send := &sync.KernelNetlink{NetNS: "/run/netns/" + ns.Name}
	t.Cleanup(func() { send.Close() })
	for _, path := range goldenFiles(t) {
		t.Run(scenarioName(path), func(t *testing.T) {
			for family, text := range splitNFTablesFamilies(t, loadScenario(t, path).section(secNFTables)) {
				viaNFT := listedAfter(t, ns, family, func() error {
					_, err := ns.Run(strings.NewReader(text), "nft", "-f", "-")
					return err
				})
				viaNetlink := listedAfter(t, ns, family, func() error {
					b, err := nfnl.NewEncoder(family, nftables.TableName).Encode(text)
					if err != nil {
						return err
					}
					return send.SendBatch(b.Messages)
				})
				if viaNetlink != viaNFT {
					t.Errorf("%s: over netlink the table lists\n%s\nwith nft -f:\n%s", family, viaNetlink, viaNFT)
				}
			}
		})
	}
}

// listedAfter empties the namespace's ruleset, runs load, and returns
// the family's svcproxy table as netnstest.NFTListing lists it.
func listedAfter(t *testing.T, ns *netns.NS, family knftables.Family, load func() error) string {
	t.Helper()
	if _, err := ns.Run(nil, "nft", "flush", "ruleset"); err != nil {
		t.Fatal(err)
	}
	if err := load(); err != nil {
		t.Fatalf("loading the %s ruleset: %v", family, err)
	}
	return netnstest.NFTListing(t, ns, string(family), nftables.TableName)
}

// splitNFTablesFamilies splits render's nftables output into each
// family's text.
func splitNFTablesFamilies(t *testing.T, out []byte) map[knftables.Family]string {
	t.Helper()
	texts := map[knftables.Family]string{}
	var family knftables.Family
	for _, line := range strings.SplitAfter(string(out), "\n") {
		if rest, ok := strings.CutPrefix(line, "add table "); ok {
			family = knftables.Family(strings.Fields(rest)[0])
		}
		if family != "" {
			texts[family] += line
		}
	}
	if len(texts) == 0 {
		t.Fatal("no nftables ruleset in the golden file")
	}
	return texts
}
