package main

import (
	"bytes"
	"encoding/csv"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/svcproxy/svcproxy/internal/netnstest"
)

// runBench runs svcproxy-bench in-process with args and returns what it
// wrote and the error main would print.
func runBench(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	root := newRootCommand()
	var out, errOut bytes.Buffer
	root.SetArgs(args)
	root.SetOut(&out)
	root.SetErr(&errOut)
	err = root.Execute()
	return out.String(), errOut.String(), err
}

// benchRows returns the table's data rows keyed by mode (third column).
func benchRows(t *testing.T, table string) map[string][]string {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(table), "\n")
	if len(lines) == 0 || !strings.Contains(lines[0], "first apply s") {
		t.Fatalf("no table header in:\n%s", table)
	}
	rows := map[string][]string{}
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		if len(f) < 3 {
			t.Fatalf("short table row %q", l)
		}
		rows[f[2]] = f
	}
	return rows
}

func TestBenchCommandFlags(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{name: "unknown mode", args: []string{"--modes", "ipvs"}, wantErr: `unknown mode "ipvs"`},
		{name: "no Services", args: []string{"--services", "0"}, wantErr: "services 0 is out of range"},
		{name: "no endpoints", args: []string{"--endpoints", "0"}, wantErr: "endpoints 0 is out of range"},
		{name: "negative every", args: []string{"--lb-every", "-2"}, wantErr: "negative"},
		{name: "no changes", args: []string{"--apiserver", "--changes", "0"}, wantErr: "--changes must be at least 1"},
		{name: "missing svcproxy", args: []string{"--apiserver", "--svcproxy", "no-such-file"}, wantErr: "no such file"},
		// bench.go, in the directory go test runs in, is not executable.
		{name: "svcproxy not executable", args: []string{"--apiserver", "--svcproxy", "bench.go"}, wantErr: "not an executable file"},
		{name: "an argument", args: []string{"bench"}, wantErr: "unknown command"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := runBench(t, append([]string{"--skip-kernel"}, tt.args...)...)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("got error %v, want one mentioning %q", err, tt.wantErr)
			}
		})
	}
}

func TestBenchCommandSkipKernel(t *testing.T) {
	dir := t.TempDir()
	csvPath, svgPath := filepath.Join(dir, "b.csv"), filepath.Join(dir, "b.svg")
	stdout, stderr, err := runBench(t, "--skip-kernel", "--services", "20,40", "--endpoints", "2",
		"--lb-every", "3", "--affinity-every", "4", "--local-every", "5", "--csv", csvPath, "--svg", svgPath)
	if err != nil {
		t.Fatalf("bench failed: %v\n%s", err, stderr)
	}
	rows := benchRows(t, stdout)
	for _, mode := range []string{"nftables", "iptables-legacy", "iptables-nft"} {
		if row, ok := rows[mode]; !ok || row[5] != "-" {
			t.Errorf("row of %s: %q, want one with no first-apply time", mode, row)
		}
	}
	records := readCSV(t, csvPath)
	if len(records) != 1+2*3 {
		t.Errorf("CSV has %d records, want a header and 6 rows", len(records))
	}
	if _, err := os.Stat(svgPath); !os.IsNotExist(err) {
		t.Errorf("an SVG was written without kernel times (stat: %v)", err)
	}
	if !strings.Contains(stderr, "not writing") {
		t.Errorf("stderr does not say why the SVG was not written:\n%s", stderr)
	}
}

func readCSV(t *testing.T, path string) [][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	records, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatalf("reading %s: %v", path, err)
	}
	return records
}

// benchNamespaces lists the network namespaces svcproxy-bench names.
func benchNamespaces(t *testing.T) []string {
	t.Helper()
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		t.Fatalf("listing network namespaces: %v", err)
	}
	var names []string
	for _, l := range strings.Split(string(out), "\n") {
		if f := strings.Fields(l); len(f) > 0 && strings.HasPrefix(f[0], "svcproxy-bench-") {
			names = append(names, f[0])
		}
	}
	return names
}

// TestBenchCommandKernel runs the benchmark end to end at a tiny size: it
// checks the output's shape and the cleanup, never a duration.
func TestBenchCommandKernel(t *testing.T) {
	netnstest.RequireRoot(t, "nft", "iptables-legacy-restore")
	before := benchNamespaces(t)
	dir := t.TempDir()
	csvPath, svgPath := filepath.Join(dir, "f.csv"), filepath.Join(dir, "g.svg")
	stdout, stderr, err := runBench(t, "--services", "50", "--endpoints", "3",
		"--modes", "nftables,iptables-legacy", "--csv", csvPath, "--svg", svgPath)
	if err != nil {
		t.Fatalf("bench failed: %v\n%s", err, stderr)
	}
	rows := benchRows(t, stdout)
	for _, mode := range []string{"nftables", "iptables-legacy"} {
		row, ok := rows[mode]
		if !ok || row[0] != "50" || row[5] == "-" || row[6] == "-" || row[10] == "-" {
			t.Errorf("row of %s: %q, want 50 Services with kernel times", mode, row)
			continue
		}
		// The kernel's own commit is timed for the netlink batch only.
		if commit := row[7]; (commit == "-") == (mode == "nftables") {
			t.Errorf("row of %s: kernel commit %q", mode, commit)
		}
	}
	if len(rows) != 2 {
		t.Errorf("table has %d rows, want 2:\n%s", len(rows), stdout)
	}
	if records := readCSV(t, csvPath); len(records) != 3 {
		t.Errorf("CSV has %d records, want a header and 2 rows", len(records))
	}
	svg, err := os.ReadFile(svgPath)
	if err != nil || !strings.HasPrefix(string(svg), "<?xml") {
		t.Errorf("SVG missing or not SVG (%v): %.40q", err, svg)
	}
	for _, ns := range benchNamespaces(t) {
		if !slices.Contains(before, ns) {
			t.Errorf("network namespace %s was left behind", ns)
		}
	}
}
