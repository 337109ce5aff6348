package watch

import (
	"testing"

	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func TestTrim(t *testing.T) {
	managed := []metav1.ManagedFieldsEntry{{Manager: "kubectl"}}
	svc := &v1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Labels: map[string]string{"app": "web"}, ManagedFields: managed,
			Annotations: map[string]string{"kubectl.kubernetes.io/last-applied-configuration": "{…}"}},
		Spec: v1.ServiceSpec{ClusterIP: "172.30.0.10", Selector: map[string]string{"app": "web"}},
	}
	slice := &discovery.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Name: "web-1", ManagedFields: managed, Annotations: map[string]string{
			v1.EndpointsLastChangeTriggerTime: "2026-01-01T00:00:00Z", "other": "x"}},
		Endpoints: []discovery.Endpoint{{Addresses: []string{"10.1.0.5"}, NodeName: ptr.To("node-a"),
			TargetRef: &v1.ObjectReference{Kind: "Pod", Name: "web-abc"}, DeprecatedTopology: map[string]string{"a": "b"}}},
	}
	node := &v1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-a", ManagedFields: managed},
		Status: v1.NodeStatus{Images: []v1.ContainerImage{{Names: []string{"img"}}},
			Addresses: []v1.NodeAddress{{Type: v1.NodeInternalIP, Address: "192.168.0.10"}}}}
	for _, obj := range []any{svc, slice, node} {
		if _, err := trim(obj); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name string
		ok   bool
	}{
		{"Service managed fields dropped", svc.ManagedFields == nil},
		{"Service annotations dropped", svc.Annotations == nil},
		{"Service selector dropped", svc.Spec.Selector == nil},
		{"Service labels kept", svc.Labels["app"] == "web"},
		{"Service cluster IP kept", svc.Spec.ClusterIP == "172.30.0.10"},
		{"slice managed fields dropped", slice.ManagedFields == nil},
		{"slice trigger time kept alone", len(slice.Annotations) == 1 && slice.Annotations[v1.EndpointsLastChangeTriggerTime] != ""},
		{"endpoint target dropped", slice.Endpoints[0].TargetRef == nil && slice.Endpoints[0].DeprecatedTopology == nil},
		{"endpoint address and node kept", slice.Endpoints[0].Addresses[0] == "10.1.0.5" && *slice.Endpoints[0].NodeName == "node-a"},
		{"node images dropped", node.Status.Images == nil && node.ManagedFields == nil},
		{"node addresses kept", len(node.Status.Addresses) == 1},
	}
	for _, tt := range tests {
		if !tt.ok {
			t.Errorf("%s: not so", tt.name)
		}
	}
}
