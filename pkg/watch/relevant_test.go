package watch

import (
	"testing"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/svcproxy/svcproxy/pkg/model"
)

// TestLabelSelectorAgreesWithOptedOut checks that the selector the
// informers send to the API server keeps exactly the objects that
// model.OptedOut keeps, so the two ways of saying it cannot drift apart.
func TestLabelSelectorAgreesWithOptedOut(t *testing.T) {
	sel, err := labels.Parse(LabelSelector)
	if err != nil {
		t.Fatalf("parsing LabelSelector %q: %v", LabelSelector, err)
	}
	tests := []struct {
		name   string
		labels map[string]string
	}{
		{"no labels", nil},
		{"unrelated label", map[string]string{"app": "web"}},
		{"proxy name", map[string]string{model.LabelServiceProxyName: "other-proxy"}},
		{"proxy name without value", map[string]string{model.LabelServiceProxyName: ""}},
		{"headless", map[string]string{v1.IsHeadlessService: ""}},
		{"both", map[string]string{model.LabelServiceProxyName: "x", v1.IsHeadlessService: ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			selected := sel.Matches(labels.Set(tt.labels))
			if kept := !model.OptedOut(tt.labels); selected != kept {
				t.Errorf("selector matches %v, OptedOut keeps %v", selected, kept)
			}
		})
	}
}
