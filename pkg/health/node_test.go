package health

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestNodeEligible(t *testing.T) {
	tests := []struct {
		name string
		node *corev1.Node
		want bool
	}{
		{name: "unknown node", node: nil, want: false},
		{name: "plain node", node: &corev1.Node{}, want: true},
		{name: "other taint", node: &corev1.Node{Spec: corev1.NodeSpec{Taints: []corev1.Taint{{Key: "dedicated"}}}}, want: true},
		{name: "autoscaler taint", node: &corev1.Node{Spec: corev1.NodeSpec{Taints: []corev1.Taint{{Key: "dedicated"}, {Key: ToBeDeletedTaint}}}}, want: false},
		{name: "being deleted", node: &corev1.Node{ObjectMeta: metav1.ObjectMeta{DeletionTimestamp: &metav1.Time{}}}, want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := NodeEligible(tt.node); got != tt.want {
				t.Errorf("NodeEligible = %v, want %v", got, tt.want)
			}
		})
	}
}
