package iptables

import (
	"strings"
	"testing"

	"github.com/svcproxy/svcproxy/pkg/model"
)

func TestOwned(t *testing.T) {
	tests := []struct {
		chain string
		want  bool
	}{
		{"KUBE-SERVICES", true},
		{"KUBE-SEP-NW5VICAF3Z2QABHQ", true},
		{"KUBE-MARK-MASQ-NON-POD", true},
		{"KUBE-FIREWALL", false},       // kubelet's
		{"KUBE-KUBELET-CANARY", false}, // kubelet's
		{"KUBE-IPTABLES-HINT", false},  // kubelet's
		{"DOCKER", false},              // another tool's
		{"KUBE-SERVICES-EXTRA", false}, // not exactly ours
		{"PREROUTING", false},          // built in
	}
	for _, tt := range tests {
		t.Run(tt.chain, func(t *testing.T) {
			if got := owned(tt.chain); got != tt.want {
				t.Errorf("owned(%q) = %v, want %v", tt.chain, got, tt.want)
			}
		})
	}
}

// TestEveryRenderedChainIsOwned keeps owned in step with the renderer: a
// chain it renders but does not own would never be cleaned up.
func TestEveryRenderedChainIsOwned(t *testing.T) {
	for _, fam := range []model.Family{model.IPv4, model.IPv6} {
		for _, table := range Render(richModel(fam)).Tables {
			for _, c := range table.Chains {
				if !owned(c.Name) {
					t.Errorf("%s chain %s is rendered but not owned", table.Name, c.Name)
				}
			}
		}
	}
}

func TestArgs(t *testing.T) {
	got := args(`-m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES`)
	want := []string{"-m", "conntrack", "--ctstate", "NEW", "-m", "comment", "--comment", "kubernetes service portals", "-j", "KUBE-SERVICES"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("args = %q, want %q", got, want)
	}
}

// TestCanaryIsRendered keeps the canary in step with the renderer: a
// canary that no ruleset has would make every check report rules gone.
func TestCanaryIsRendered(t *testing.T) {
	c := NewCanary()
	for _, fam := range []model.Family{model.IPv4, model.IPv6} {
		found := false
		for _, table := range Render(richModel(fam)).Tables {
			for _, j := range table.Jumps {
				found = found || (table.Name == c.Table && j.Chain == c.Chain && strings.Join(args(j.Rule), "|") == strings.Join(c.Rule, "|"))
			}
		}
		if !found {
			t.Errorf("%s: no %s %s jump %q rendered", fam, c.Table, c.Chain, c.Rule)
		}
	}
}
