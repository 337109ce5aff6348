package main

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/svcproxy/svcproxy/internal/netnstest"
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
