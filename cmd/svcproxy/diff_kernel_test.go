package main

import (
	"errors"
	"os/exec"
	"strings"
	"testing"

	"github.com/svcproxy/svcproxy/internal/netnstest"
)

// diffDamage is a change made by hand to the built-in example's rules in
// the kernel, which diff --live must report under the port it touches.
type diffDamage struct {
	name string
	mode string
	cmd  []string
	want string
}

var diffDamages = []diffDamage{
	{name: "a flushed Service chain", mode: "iptables-legacy",
		cmd: []string{"iptables-legacy", "-t", "nat", "-F", "KUBE-SVC-XRY76EGRC3BSCIIJ"}, want: "demo/web:http 10.96.0.10:80/tcp from a pod: "},
	{name: "an extra rule stealing the traffic", mode: "iptables-nft",
		cmd:  []string{"iptables-nft", "-t", "nat", "-I", "KUBE-SVC-XRY76EGRC3BSCIIJ", "-p", "tcp", "-j", "DNAT", "--to-destination", "10.9.9.9:80"},
		want: "10.9.9.9:80 added (100%)"},
	{name: "a deleted element", mode: "nftables",
		cmd: []string{"nft", "delete", "element", "ip", "svcproxy", "service-ips", "{ 10.96.0.10 . tcp . 80 }"}, want: "demo/web:http 10.96.0.10:80/tcp from "},
	{name: "an extra Service's element", mode: "nftables",
		cmd:  []string{"nft", "add", "element", "ip", "svcproxy", "service-ips", `{ 10.96.0.99 . tcp . 80 comment "demo/rogue:http" : goto cluster-tcp-2 }`},
		want: "demo/rogue:http: only in the second"},
}

// TestDiffLive applies the built-in example in a namespace, checks that
// diff --live finds nothing, damages the rules by hand and checks that it
// reports the damage under the Service port, with exit status 1, and
// that it changed nothing itself.
func TestDiffLive(t *testing.T) {
	netnstest.RequireRoot(t, "nft", "iptables-legacy", "iptables-nft")
	bin := svcproxyBinary(t)
	for _, d := range diffDamages {
		t.Run(d.name, func(t *testing.T) {
			ns := netnstest.New(t)
			if _, err := ns.Run(nil, bin, "render", "--mode", d.mode); err != nil {
				t.Fatal(err)
			}
			if out, err := ns.Run(nil, bin, "diff", "--live"); err != nil {
				t.Fatalf("diff --live of rules just applied: %v\n%s", err, out)
			}
			if _, err := ns.Run(nil, d.cmd[0], d.cmd[1:]...); err != nil {
				t.Fatal(err)
			}
			before := kernelState(t, ns)
			out, err := ns.Run(nil, bin, "diff", "--live")
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 1 {
				t.Errorf("diff --live after the damage: %v, want exit status 1", err)
			}
			if !strings.Contains(out, d.want) {
				t.Errorf("diff --live says:\n%s\nwant a line with %q", out, d.want)
			}
			if after := kernelState(t, ns); after != before {
				t.Error("diff --live changed the kernel's rules")
			}
		})
	}
}
