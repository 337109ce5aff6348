package main

import (
	"errors"
	"os/exec"
	"strings"
	"testing"

	"github.com/svcproxy/svcproxy/internal/netnstest"
)

// TestApplyAndCleanupCommands runs the svcproxy binary inside a fresh
// namespace as a user would: render applies the built-in example with the
// detected backend, applying again changes nothing, an explicit variant
// wins, and cleanup removes all of it.
func TestApplyAndCleanupCommands(t *testing.T) {
	netnstest.RequireRoot(t, "nft", "iptables-legacy-save", "iptables-nft-save")
	bin := svcproxyBinary(t)
	ns := netnstest.New(t)
	run := func(args ...string) string {
		t.Helper()
		out, err := ns.Run(nil, bin, args...)
		if err != nil {
			t.Fatalf("svcproxy %s: %v", strings.Join(args, " "), err)
		}
		return out
	}
	state := func() string {
		t.Helper()
		return kernelState(t, ns)
	}

	if out := run("render"); !strings.Contains(out, "ipv4: applied 1 service ports with nftables") {
		t.Errorf("render with auto detection said %q, want it applied with nftables on this kernel", out)
	}
	first := state()
	if !strings.Contains(first, "table ip svcproxy") {
		t.Fatalf("no svcproxy table after render:\n%s", first)
	}
	run("render")
	if again := state(); again != first {
		t.Errorf("applying the same state twice changed the rules:\nfirst:\n%s\nagain:\n%s", first, again)
	}
	if out := run("render", "--mode", "iptables-legacy"); !strings.Contains(out, "with iptables-legacy") {
		t.Errorf("explicit --mode iptables-legacy said %q", out)
	}
	if !strings.Contains(state(), ":KUBE-SVC-") {
		t.Error("no KUBE-SVC- chain after applying with iptables-legacy")
	}
	// The example's NodePort is served on 127.0.0.1 in iptables mode,
	// which needs route_localnet.
	if v, err := ns.Run(nil, "cat", "/proc/sys/net/ipv4/conf/all/route_localnet"); err != nil || strings.TrimSpace(v) != "1" {
		t.Errorf("route_localnet after applying with iptables-legacy = %q, %v; want 1", v, err)
	}
	if out := run("cleanup"); !strings.Contains(out, "deleted table ip svcproxy") || !strings.Contains(out, "iptables-legacy ipv4 nat table") {
		t.Errorf("cleanup reported:\n%s", out)
	}
	// KUBE-FIREWALL stays, as kube-proxy leaves it: it is kubelet's
	// too, and route_localnet, which it guards, stays set.
	left := state()
	if !strings.Contains(left, "-A INPUT -j KUBE-FIREWALL") {
		t.Errorf("cleanup removed the localnet guard:\n%s", left)
	}
	for line := range strings.Lines(left) {
		if strings.Contains(line, "svcproxy") || strings.Contains(line, "KUBE-") && !strings.Contains(line, "KUBE-FIREWALL") {
			t.Errorf("rule left after cleanup: %s", strings.TrimSpace(line))
		}
	}
}

// TestApplyMissingToolSaysHowToFix runs render where no rule tool is on
// PATH: one line says what is missing and how to install it.
func TestApplyMissingToolSaysHowToFix(t *testing.T) {
	netnstest.RequireRoot(t)
	bin := svcproxyBinary(t)
	ns := netnstest.New(t)
	out, err := ns.Run(nil, "env", "PATH=/nonexistent", bin, "render", "--mode", "nftables")
	if err == nil {
		t.Fatalf("render without nft succeeded: %s", out)
	}
	want := "nft not found: install the nftables package (apt-get install nftables)"
	if !strings.Contains(out, want) || strings.Count(strings.TrimSpace(out), "\n") != 0 {
		t.Errorf("got %q, want one line containing %q", out, want)
	}
}

// TestApplyStrictRefusesBeforeTheKernel applies input with a skipped
// object under --strict in a fresh namespace: it exits 2 and no rule
// reaches the kernel, not even those of the valid objects.
func TestApplyStrictRefusesBeforeTheKernel(t *testing.T) {
	netnstest.RequireRoot(t, "nft")
	bin := svcproxyBinary(t)
	ns := netnstest.New(t)
	out, err := ns.Run(strings.NewReader(badServiceYAML), bin, "render", "--strict", "--mode", "nftables", "-f", "-")
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != exitStrict || !strings.Contains(out, "1 object(s) skipped (--strict): nothing applied") {
		t.Fatalf("render --strict: %v\n%s", err, out)
	}
	if ruleset, err := ns.Run(nil, "nft", "list", "ruleset"); err != nil || strings.Contains(ruleset, "svcproxy") {
		t.Errorf("rules reached the kernel (%v):\n%s", err, ruleset)
	}
}
