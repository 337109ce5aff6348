package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDiffFiles compares rendered rulesets: a golden with itself, two
// goldens, two renders whose inputs differ by one endpoint, and files
// that are not rulesets.
func TestDiffFiles(t *testing.T) {
	dir := t.TempDir()
	render := func(name, manifest string, args ...string) string {
		t.Helper()
		out, errOut, code := runCLI(t, manifest, append([]string{"render", "--dry-run", "-f", "-"}, args...)...)
		if code != 0 {
			t.Fatalf("render: %s", errOut)
		}
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(out), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	fourth := strings.Replace(threeEndpoints, "{addresses: [10.244.3.7]}]", "{addresses: [10.244.3.7]}, {addresses: [10.244.4.8]}]", 1)
	three, four := render("three", threeEndpoints, "--cluster-cidr", "10.244.0.0/16"), render("four", fourth, "--cluster-cidr", "10.244.0.0/16")
	threeNFT := render("three-nft", threeEndpoints, "--cluster-cidr", "10.244.0.0/16", "--mode", "nftables")
	golden := func(name string) string { return filepath.Join("../../testdata/golden", name) }
	for _, tt := range []struct {
		name     string
		args     []string
		wantCode int
		wantOut  []string
	}{
		{name: "a golden with itself", args: []string{golden("02-nodeport.txtar"), golden("02-nodeport.txtar")}},
		{name: "two goldens", args: []string{golden("01-clusterip.txtar"), golden("02-nodeport.txtar")}, wantCode: 1,
			wantOut: []string{"ipv4 demo/web:http node port 30080/tcp from outside: only in the second: 10.1.1.5:8080+masq 50%, 10.1.2.6:8080+masq 50%"}},
		{name: "two goldens, nftables sections", args: []string{"--mode", "nftables", golden("01-clusterip.txtar"), golden("02-nodeport.txtar")}, wantCode: 1,
			wantOut: []string{"ipv4 demo/web:http node port 30080/tcp from outside: only in the second"}},
		{name: "an endpoint added", args: []string{three, four}, wantCode: 1,
			wantOut: []string{"ipv4 demo/web:http 10.96.0.20:80/tcp from a pod: 10.244.1.5:8080 33.33% → 25%; 10.244.2.6:8080 33.33% → 25%; 10.244.3.7:8080 33.33% → 25%; 10.244.4.8:8080 added (25%)"}},
		{name: "the same input in iptables and nftables", args: []string{three, threeNFT}},
		{name: "not a ruleset", args: []string{three, golden("../../README.md")}, wantCode: exitDiffTrouble},
		{name: "one file", args: []string{three}, wantCode: 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, code := runCLI(t, "", append([]string{"diff"}, tt.args...)...)
			if code != tt.wantCode {
				t.Fatalf("exit %d, want %d\n%s%s", code, tt.wantCode, out, errOut)
			}
			for _, w := range tt.wantOut {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}
}
