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
			if got := Owned(tt.chain); got != tt.want {
				t.Errorf("Owned(%q) = %v, want %v", tt.chain, got, tt.want)
			}
		})
	}
}

// TestEveryRenderedChainIsOwned keeps Owned in step with the renderer: a
// chain it renders but does not own would never be cleaned up.
func TestEveryRenderedChainIsOwned(t *testing.T) {
	for _, fam := range []model.Family{model.IPv4, model.IPv6} {
		for _, table := range Render(richModel(fam)).Tables {
			for _, c := range table.Chains {
				if !Owned(c.Name) {
					t.Errorf("%s chain %s is rendered but not Owned", table.Name, c.Name)
				}
			}
		}
	}
}

func TestArgs(t *testing.T) {
	got := Args(`-m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES`)
	want := []string{"-m", "conntrack", "--ctstate", "NEW", "-m", "comment", "--comment", "kubernetes service portals", "-j", "KUBE-SERVICES"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("Args = %q, want %q", got, want)
	}
}
