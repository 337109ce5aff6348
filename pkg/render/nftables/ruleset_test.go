package nftables

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/knftables"

	"github.com/svcproxy/svcproxy/pkg/model"
)

// TestRenderRulesetText checks that the directly written text is what
// knftables writes for Render's transaction, merged by Text.
func TestRenderRulesetText(t *testing.T) {
	tests := []struct {
		name  string
		model *model.Model
	}{
		{"rich IPv4", richModel(model.IPv4)},
		{"rich IPv6", richModel(model.IPv6)},
		{"empty", newModel(model.IPv4, noCIDRs, node4)},
		{"no cluster CIDRs", newModel(model.IPv4, noCIDRs, node4, svc("a", clusterIP, twoEps, nodePort(30080)))},
		// Over 1,000 elements per map, so commands are split.
		{"large", bigModel(300, 5)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tx := knftables.NewFake(Family(tt.model.Family), TableName).NewTransaction()
			Render(tt.model, tx)
			rs := RenderRuleset(tt.model)
			if diff := cmp.Diff(Text(tx), rs.Text); diff != "" {
				t.Errorf("RenderRuleset text differs from Text(Render) (-want +got):\n%s", diff)
			}
		})
	}
}
