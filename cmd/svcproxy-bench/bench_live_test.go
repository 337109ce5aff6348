package main

import (
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/svcproxy/svcproxy/internal/netnstest"
	"github.com/svcproxy/svcproxy/test/kubeapi"
)

// TestBenchCommandAPIServer runs the end-to-end benchmark at a tiny size
// with kube-proxy beside svcproxy, the svcproxy binary built from the
// checkout as it is without --svcproxy. It checks that every proxy in
// every mode synced, was timed on each change, by its metrics and by
// traffic, and was measured, that the ratios are printed, and that
// nothing is left behind; never a duration.
func TestBenchCommandAPIServer(t *testing.T) {
	netnstest.RequireRoot(t, "nft", "iptables-legacy-restore")
	kubeapi.Require(t)
	before := benchNamespaces(t)
	csvPath := filepath.Join(t.TempDir(), "live.csv")
	stdout, stderr, err := runBench(t, "--apiserver", "--compare-kube-proxy",
		"--services", "30", "--endpoints", "2", "--modes", "nftables,iptables-legacy", "--changes", "2", "--csv", csvPath)
	if err != nil {
		t.Fatalf("bench --apiserver: %v\nstdout:\n%s\nstderr:\n%s", err, stdout, stderr)
	}
	rows := liveRows(stdout)
	for _, proxy := range []string{"svcproxy", "kube-proxy"} {
		for _, mode := range []string{"nftables", "iptables-legacy"} {
			checkLiveRow(t, rows[proxy+" "+mode], proxy, mode)
		}
	}
	for _, mode := range []string{"nftables", "iptables-legacy"} {
		if r := rows["ratio "+mode]; len(r) != 8 || slices.Contains(r[2:], "-") {
			t.Errorf("ratios of %s: %q, want six figures", mode, r)
		}
	}
	if records := readCSV(t, csvPath); len(records) != 5 {
		t.Errorf("CSV has %d records, want a header and 4 rows", len(records))
	}
	for _, ns := range benchNamespaces(t) {
		if !slices.Contains(before, ns) {
			t.Errorf("network namespace %s was left behind", ns)
		}
	}
}

// liveRows keys the result rows by "proxy mode" and the ratio rows by
// "ratio mode".
func liveRows(table string) map[string][]string {
	rows := map[string][]string{}
	for line := range strings.Lines(table) {
		f := strings.Fields(line)
		switch {
		case len(f) == 17 && f[0] != "services":
			rows[f[2]+" "+f[3]] = f
		case len(f) == 8 && f[0] != "services":
			rows["ratio "+f[1]] = f
		}
	}
	return rows
}

func checkLiveRow(t *testing.T, row []string, proxy, mode string) {
	t.Helper()
	if len(row) != 17 {
		t.Errorf("%s %s: no row", proxy, mode)
		return
	}
	// first sync, answered, change p50, seen p50, RSS, with tools, and
	// where the kernel keeps a generation, committed p50
	figures := []int{4, 6, 7, 9, 12, 14, 15}
	if mode == "iptables-legacy" {
		figures = figures[:6]
	}
	for _, i := range figures {
		if v, err := strconv.ParseFloat(row[i], 64); err != nil || v <= 0 {
			t.Errorf("%s %s: row %q, want a first sync, when traffic was answered, 2 changes timed three ways and memory", proxy, mode, row)
			return
		}
	}
	if row[11] != "2" {
		t.Errorf("%s %s: row %q, want 2 changes", proxy, mode, row)
	}
}
