package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// scenarioFile writes a scenario on the three-endpoint Service with the
// given trace and extra sections.
func scenarioFile(t *testing.T, dir, name, trace, extra string) string {
	t.Helper()
	text := "A user's scenario.\n-- flags --\n--cluster-cidr 10.244.0.0/16\n-- input.yaml --\n" + threeEndpoints + "-- trace --\n" + trace + extra
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestTestCommand(t *testing.T) {
	dir := t.TempDir()
	good := "10.244.9.9 tcp 10.96.0.20:80 => 10.244.1.5:8080 10.244.2.6:8080 10.244.3.7:8080\n"
	pass := scenarioFile(t, dir, "pass.txtar", good, "")
	out, _, code := runCLI(t, "", "test", pass)
	if code != 0 || !strings.Contains(out, "ok   "+pass+" (2 packets)") {
		t.Errorf("a passing scenario: exit %d\n%s", code, out)
	}

	fail := scenarioFile(t, dir, "fail.txtar", "10.244.9.9 tcp 10.96.0.20:80 => 10.244.1.5:8080\n", "")
	out, _, code = runCLI(t, "", "test", fail)
	for _, want := range []string{"FAIL " + fail, "trace line 1, iptables", "trace line 1, nftables", "got: 10.244.1.5:8080 10.244.2.6:8080 10.244.3.7:8080", "route 1 of 3, 33.33%: DNAT to 10.244.1.5:8080"} {
		if !strings.Contains(out, want) {
			t.Errorf("a failing scenario's report lacks %q:\n%s", want, out)
		}
	}
	if code != 1 {
		t.Errorf("a failing scenario: exit %d, want 1", code)
	}

	stale := scenarioFile(t, dir, "stale.txtar", good, "-- iptables --\n# svcproxy ipv4 rules: iptables-restore --noflush\n*filter\nCOMMIT\n")
	out, _, code = runCLI(t, "", "test", dir)
	if code != 1 || !strings.Contains(out, "iptables section differs from what render prints") || !strings.Contains(out, "ipv4 demo/web:http: only in the second") {
		t.Errorf("a stale golden section: exit %d\n%s", code, out)
	}
	if out, _, code = runCLI(t, "", "test", "--update", stale); code != 0 || !strings.Contains(out, "golden sections rewritten") {
		t.Errorf("--update: exit %d\n%s", code, out)
	}
	data, _ := os.ReadFile(stale)
	if !strings.Contains(string(data), "-- trace --\n"+good) || !strings.Contains(string(data), "KUBE-SVC-") || strings.Contains(string(data), "-- nftables --") {
		t.Errorf("--update rewrote more or less than the iptables section:\n%s", data)
	}
	if out, _, code = runCLI(t, "", "test", stale); code != 0 {
		t.Errorf("after --update: exit %d\n%s", code, out)
	}
	if _, errOut, code := runCLI(t, "", "test", filepath.Join(dir, "missing.txtar")); code != exitDiffTrouble || !strings.Contains(errOut, "missing.txtar") {
		t.Errorf("a missing file: exit %d %s", code, errOut)
	}
}
