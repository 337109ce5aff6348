package health

import corev1 "k8s.io/api/core/v1"

// ToBeDeletedTaint is the taint the cluster autoscaler puts on a node it
// is about to remove. A node carrying it should stop taking load balancer
// traffic, so /healthz fails on it.
const ToBeDeletedTaint = "ToBeDeletedByClusterAutoscaler"

// NodeEligible reports whether node should keep receiving load balancer
// traffic: false when it is being deleted (it has a deletionTimestamp) or
// when the cluster autoscaler has tainted it for removal. A nil node (not
// seen yet, or deleted) is not eligible, as for kube-proxy: a proxy that
// does not know its node cannot serve the node's load balancer traffic
// right.
func NodeEligible(node *corev1.Node) bool {
	if node == nil {
		return false
	}
	if node.DeletionTimestamp != nil {
		return false
	}
	for _, taint := range node.Spec.Taints {
		if taint.Key == ToBeDeletedTaint {
			return false
		}
	}
	return true
}
