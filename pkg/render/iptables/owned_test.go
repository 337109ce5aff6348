package iptables

import (
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
// chain it renders but does not own would never be cleaned up. The one
// exception is KUBE-FIREWALL, which is kubelet's too.
func TestEveryRenderedChainIsOwned(t *testing.T) {
	for _, fam := range []model.Family{model.IPv4, model.IPv6} {
		m := richModel(fam)
		m.Config.LocalhostNodePorts = true
		for _, table := range Render(m).Tables {
			for _, c := range table.Chains {
				if !owned(c.Name) && c.Name != chainLocalnetFirewall {
					t.Errorf("%s chain %s is rendered but not owned", table.Name, c.Name)
				}
			}
		}
	}
}
