package kubeapi_test

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"

	"github.com/svcproxy/svcproxy/internal/netnstest"
	"github.com/svcproxy/svcproxy/test/kubeapi"
)

// Test address plan: the apiserver allocates cluster IPs from
// kubeapi.ServiceCIDR (10.0.0.0/24, with 10.0.0.1 taken by the kubernetes
// Service); endpoint addresses come from 203.0.113.0/24 (TEST-NET-3), which
// nothing in the namespace routes to.
const (
	clusterIP  = "10.0.0.10"
	endpointIP = "203.0.113.10"
)

// TestServer starts one server and runs the checks against it in order,
// because starting the apiserver is the expensive part.
func TestServer(t *testing.T) {
	kubeapi.Require(t)
	srv := kubeapi.Start(t, netnstest.New(t))
	client := srv.Client(t)

	t.Run("service and endpointslice round trip", func(t *testing.T) {
		createServiceAndSlice(t, client)
		checkServiceAndSlice(t, client)
	})
	t.Run("restart keeps data", func(t *testing.T) {
		srv.Stop(t)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if _, err := client.CoreV1().Services("default").Get(ctx, "web", metav1.GetOptions{}); err == nil {
			t.Fatalf("getting a Service with the apiserver stopped: no error")
		}
		srv.Restart(t)
		checkServiceAndSlice(t, client)
	})
	t.Run("server-side dry run", func(t *testing.T) {
		checkDryRunClusterRole(t, client)
	})
	t.Run("kubeconfig", func(t *testing.T) {
		checkKubeconfig(t, srv)
	})
}

// checkKubeconfig loads the kubeconfig written for processes inside the
// namespace. The test process is outside it, so it borrows the harness's
// dialer; everything else (server, CA, client cert) comes from the file.
func checkKubeconfig(t *testing.T, srv *kubeapi.Server) {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", srv.Kubeconfig)
	if err != nil {
		t.Fatalf("loading %s: %v", srv.Kubeconfig, err)
	}
	cfg.Dial = srv.Config.Dial
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatalf("creating a clientset from the kubeconfig: %v", err)
	}
	svc, err := client.CoreV1().Services("default").Get(context.Background(), "kubernetes", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("getting the kubernetes Service through the kubeconfig: %v", err)
	}
	if svc.Spec.ClusterIP != kubeapi.KubernetesServiceIP {
		t.Errorf("kubernetes Service cluster IP = %q, want %q", svc.Spec.ClusterIP, kubeapi.KubernetesServiceIP)
	}
}

func createServiceAndSlice(t *testing.T, client kubernetes.Interface) {
	t.Helper()
	ctx := context.Background()
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: corev1.ServiceSpec{
			ClusterIP: clusterIP,
			Selector:  map[string]string{"app": "web"},
			Ports:     []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080), Protocol: corev1.ProtocolTCP}},
		},
	}
	if _, err := client.CoreV1().Services("default").Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating Service: %v", err)
	}
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{
			Name:      "web-1",
			Namespace: "default",
			Labels:    map[string]string{discoveryv1.LabelServiceName: "web"},
		},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints: []discoveryv1.Endpoint{{
			Addresses:  []string{endpointIP},
			Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)},
		}},
		Ports: []discoveryv1.EndpointPort{{Name: ptr.To("http"), Port: ptr.To[int32](8080), Protocol: ptr.To(corev1.ProtocolTCP)}},
	}
	if _, err := client.DiscoveryV1().EndpointSlices("default").Create(ctx, slice, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating EndpointSlice: %v", err)
	}
}

func checkServiceAndSlice(t *testing.T, client kubernetes.Interface) {
	t.Helper()
	ctx := context.Background()
	svc, err := client.CoreV1().Services("default").Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("getting Service: %v", err)
	}
	if svc.Spec.ClusterIP != clusterIP {
		t.Errorf("Service cluster IP = %q, want %q", svc.Spec.ClusterIP, clusterIP)
	}
	slices, err := client.DiscoveryV1().EndpointSlices("default").List(ctx, metav1.ListOptions{
		LabelSelector: discoveryv1.LabelServiceName + "=web",
	})
	if err != nil {
		t.Fatalf("listing EndpointSlices: %v", err)
	}
	if len(slices.Items) != 1 || len(slices.Items[0].Endpoints) != 1 ||
		slices.Items[0].Endpoints[0].Addresses[0] != endpointIP {
		t.Errorf("EndpointSlices for web = %+v, want one with endpoint %s", slices.Items, endpointIP)
	}
}

func checkDryRunClusterRole(t *testing.T, client kubernetes.Interface) {
	t.Helper()
	ctx := context.Background()
	role := &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: "svcproxy-dry-run"},
		Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{""}, Resources: []string{"services", "nodes"}, Verbs: []string{"get", "list", "watch"}},
			{APIGroups: []string{"discovery.k8s.io"}, Resources: []string{"endpointslices"}, Verbs: []string{"get", "list", "watch"}},
		},
	}
	got, err := client.RbacV1().ClusterRoles().Create(ctx, role, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	if err != nil {
		t.Fatalf("creating ClusterRole with dry run: %v", err)
	}
	if len(got.Rules) != 2 {
		t.Errorf("dry-run ClusterRole has %d rules, want 2", len(got.Rules))
	}
	// Dry run must validate without persisting anything.
	if _, err := client.RbacV1().ClusterRoles().Get(ctx, role.Name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("getting the dry-run ClusterRole: err = %v, want NotFound", err)
	}
	// An invalid rule (no verbs) is rejected by server-side validation.
	bad := role.DeepCopy()
	bad.Rules[0].Verbs = nil
	_, err = client.RbacV1().ClusterRoles().Create(ctx, bad, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	if !apierrors.IsInvalid(err) {
		t.Errorf("dry-run create of a rule without verbs: err = %v, want Invalid", err)
	}
}
