package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	v1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	"github.com/svcproxy/svcproxy/internal/testnet"
)

// restoreBudget bounds the wait for flushed rules to come back: the
// canary's period (5 s), then a sync; the periodic sync is an hour away,
// so only the canary can have restored them.
const restoreBudget = 30 * time.Second

// TestRunResilience runs one cluster through what a node proxy must
// survive. The steps share the cluster, so they run in order.
func TestRunResilience(t *testing.T) {
	c := newCluster(t, "auto")
	sl := slice("web", v1.ProtocolTCP, echoPort, ready(podA, podB)...)
	c.createService(t, service("web", "10.0.0.50", 80, v1.ProtocolTCP), sl)
	eventually(t, syncBudget, "Service", c.reaches(testnet.TCP, "10.0.0.50:80", 20, podA, podB))

	t.Run("deploy manifests pass a server-side dry run", func(t *testing.T) { checkDeployDryRun(t, c) })
	t.Run("health and metrics", func(t *testing.T) { checkHealthAndMetrics(t, c) })
	t.Run("health check node port follows local endpoints", func(t *testing.T) { checkHealthCheckNodePort(t, c) })
	t.Run("rules flushed by hand are restored", func(t *testing.T) {
		if _, err := c.topo.Node.Run(nil, "nft", "delete", "table", "ip", "svcproxy"); err != nil {
			t.Fatal(err)
		}
		eventually(t, restoreBudget, "rules restored", c.reaches(testnet.TCP, "10.0.0.50:80", 10, podA, podB))
	})
	t.Run("stale UDP conntrack entry is removed", func(t *testing.T) { checkStaleUDP(t, c) })
	t.Run("restart keeps established connections", func(t *testing.T) { checkRestart(t, c) })
	t.Run("API server down for 30 s", func(t *testing.T) { checkAPIServerDown(t, c) })
}

func checkDeployDryRun(t *testing.T, c *cluster) {
	f, err := os.Open("../../deploy/svcproxy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dec := utilyaml.NewYAMLOrJSONDecoder(f, 4096)
	ctx, dry := context.Background(), metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}
	for {
		var doc json.RawMessage
		if err := dec.Decode(&doc); err != nil {
			break
		}
		var meta metav1.TypeMeta
		_ = json.Unmarshal(doc, &meta)
		switch meta.Kind {
		case "ServiceAccount":
			err = create(doc, func(o *v1.ServiceAccount) error {
				_, err := c.client.CoreV1().ServiceAccounts(o.Namespace).Create(ctx, o, dry)
				return err
			})
		case "ClusterRole":
			err = create(doc, func(o *rbacv1.ClusterRole) error {
				_, err := c.client.RbacV1().ClusterRoles().Create(ctx, o, dry)
				return err
			})
		case "ClusterRoleBinding":
			err = create(doc, func(o *rbacv1.ClusterRoleBinding) error {
				_, err := c.client.RbacV1().ClusterRoleBindings().Create(ctx, o, dry)
				return err
			})
		case "DaemonSet":
			err = create(doc, func(o *appsv1.DaemonSet) error {
				_, err := c.client.AppsV1().DaemonSets(o.Namespace).Create(ctx, o, dry)
				return err
			})
		default:
			err = fmt.Errorf("unexpected kind %q", meta.Kind)
		}
		if err != nil {
			t.Errorf("%s: %v", meta.Kind, err)
		}
	}
}

func create[T any](doc []byte, f func(*T) error) error {
	obj := new(T)
	if err := json.Unmarshal(doc, obj); err != nil {
		return err
	}
	return f(obj)
}

func checkHealthAndMetrics(t *testing.T, c *cluster) {
	for _, path := range []string{"/healthz", "/livez"} {
		code, body, err := httpGet(c.topo.Node, "http://127.0.0.1:10256"+path)
		if err != nil || code != 200 || !strings.Contains(body, "lastUpdated") {
			t.Errorf("%s: %d %q %v", path, code, body, err)
		}
	}
	_, metrics, err := httpGet(c.topo.Node, "http://127.0.0.1:10249/metrics")
	if err != nil {
		t.Fatal(err)
	}
	wants := []string{`svcproxy_sync_duration_seconds_count{kind="full"}`, `svcproxy_last_sync_timestamp_seconds`,
		`svcproxy_rules{`, `svcproxy_network_programming_duration_seconds`, `svcproxy_sync_failures_total`,
		// kube-proxy's names, which dashboards built for it read.
		`kubeproxy_sync_proxy_rules_duration_seconds_count{ip_family="IPv4"}`,
		`kubeproxy_sync_full_proxy_rules_duration_seconds_count{ip_family="IPv4"}`,
		`kubeproxy_sync_proxy_rules_last_timestamp_seconds{ip_family="IPv4"}`,
		`kubeproxy_proxy_healthz_total{code="200"}`, `kubeproxy_proxy_livez_total{code="200"}`}
	if _, set := os.LookupEnv("GOGC"); !set {
		// svcproxy run collects garbage at 50% heap growth unless GOGC is set.
		wants = append(wants, "\ngo_gc_gogc_percent 50\n")
	}
	for _, want := range wants {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

// checkHealthCheckNodePort creates a LoadBalancer Service with
// externalTrafficPolicy Local, whose health check node port the API server
// allocates: load balancers probe it from outside, and it must say 200
// while this node has a local endpoint and 503 when it has none.
func checkHealthCheckNodePort(t *testing.T, c *cluster) {
	svc := service("lb-local", "10.0.0.90", 80, v1.ProtocolTCP)
	svc.Spec.Type = v1.ServiceTypeLoadBalancer
	svc.Spec.ExternalTrafficPolicy = v1.ServiceExternalTrafficPolicyLocal
	sl := slice("lb-local", v1.ProtocolTCP, echoPort, ready(podA, podC)...)
	c.createService(t, svc, sl)
	got, err := c.client.CoreV1().Services(ns).Get(context.Background(), "lb-local", metav1.GetOptions{})
	if err != nil || got.Spec.HealthCheckNodePort == 0 {
		t.Fatalf("no health check node port allocated: %v", err)
	}
	url := fmt.Sprintf("http://%s:%d/", "192.168.0.10", got.Spec.HealthCheckNodePort)
	probe := func(wantCode int, wantBody string) func() error {
		return func() error {
			code, body, err := httpGet(c.topo.External, url)
			if err == nil && (code != wantCode || !strings.Contains(body, wantBody)) {
				err = fmt.Errorf("got %d %s", code, body)
			}
			return err
		}
	}
	eventually(t, syncBudget, "health check with a local endpoint", probe(200, `"localEndpoints":1`))
	sl.Endpoints = slice("lb-local", v1.ProtocolTCP, echoPort, ready(podC)...).Endpoints
	c.updateSlice(t, sl)
	eventually(t, syncBudget, "health check without local endpoints", probe(503, `"localEndpoints":0`))
}

// checkStaleUDP keeps one UDP socket sending to a Service while its only
// endpoint is replaced: once the old entry is deleted, the same socket's
// datagrams reach the new endpoint.
func checkStaleUDP(t *testing.T, c *cluster) {
	sl := slice("dns", v1.ProtocolUDP, echoPort, ready(podA)...)
	c.createService(t, service("dns", "10.0.0.53", 53, v1.ProtocolUDP), sl)
	eventually(t, syncBudget, "UDP Service", c.reaches(testnet.UDP, "10.0.0.53:53", 3, podA))
	conn, err := testnet.Dial(c.pod("pod-z").NS, testnet.UDP, netip.Addr{}, netip.MustParseAddrPort("10.0.0.53:53"), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	r := bufio.NewReader(conn)
	if ep, err := exchange(conn, r); err != nil || ep.Addr() != podA {
		t.Fatalf("first datagram: %v %v", ep, err)
	}
	sl.Endpoints = slice("dns", v1.ProtocolUDP, echoPort, ready(podB)...).Endpoints
	c.updateSlice(t, sl)
	eventually(t, syncBudget, "the same UDP flow moved to the new endpoint", func() error {
		ep, err := exchange(conn, r)
		if err == nil && ep.Addr() != podB {
			err = fmt.Errorf("still answered by %s", ep)
		}
		return err
	})
}

// checkRestart keeps a connection open through a Service while svcproxy
// stops and starts again: with the rules left in place, the connection
// and new ones keep working throughout.
func checkRestart(t *testing.T, c *cluster) {
	c.createService(t, service("stream", "10.0.0.60", streamPort, v1.ProtocolTCP),
		slice("stream", v1.ProtocolTCP, streamPort, ready(podC)...))
	eventually(t, syncBudget, "stream Service", func() error {
		conn, err := testnet.Dial(c.pod("pod-z").NS, testnet.TCP, netip.Addr{}, netip.MustParseAddrPort("10.0.0.60:9000"), 300*time.Millisecond)
		if err == nil {
			conn.Close()
		}
		return err
	})
	conn, err := testnet.Dial(c.pod("pod-z").NS, testnet.TCP, netip.Addr{}, netip.MustParseAddrPort("10.0.0.60:9000"), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	r := bufio.NewReader(conn)
	check := func(when string) {
		t.Helper()
		if ep, err := exchange(conn, r); err != nil || ep.Addr() != podC {
			t.Fatalf("established connection %s: %v %v", when, ep, err)
		}
		if err := c.reaches(testnet.TCP, "10.0.0.50:80", 10, podA, podB)(); err != nil {
			t.Fatalf("new connections %s: %v", when, err)
		}
	}
	check("before the restart")
	c.stopProxy(t)
	check("while svcproxy is stopped")
	c.startProxy(t)
	check("after the restart")
	sl := slice("web", v1.ProtocolTCP, echoPort, ready(podB)...)
	c.updateSlice(t, sl)
	eventually(t, syncBudget, "change after the restart", c.reaches(testnet.TCP, "10.0.0.50:80", 10, podB))
}

// checkAPIServerDown stops the API server for 30 s: the rules stay and
// traffic flows; when it is back, new changes are applied.
func checkAPIServerDown(t *testing.T, c *cluster) {
	c.createService(t, service("steady", "10.0.0.80", 80, v1.ProtocolTCP), slice("steady", v1.ProtocolTCP, echoPort, ready(podB)...))
	eventually(t, syncBudget, "steady Service", c.reaches(testnet.TCP, "10.0.0.80:80", 5, podB))
	c.api.Stop(t)
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if err := c.reaches(testnet.TCP, "10.0.0.80:80", 5, podB)(); err != nil {
			t.Fatalf("traffic while the API server is down: %v", err)
		}
		time.Sleep(5 * time.Second)
	}
	c.api.Restart(t)
	c.createService(t, service("late", "10.0.0.70", 80, v1.ProtocolTCP), slice("late", v1.ProtocolTCP, echoPort, ready(podC)...))
	// While the API server refuses connections, client-go retries its
	// watches quietly with exponential backoff (0.8 s doubling up to 30 s,
	// with jitter), and shared informers do not let that be tuned yet. On a
	// loaded machine the first retry after a 30 s outage has come more than
	// 90 s later, so this checks that the change arrives, not how fast.
	eventually(t, 3*time.Minute, "change after the API server returned", c.reaches(testnet.TCP, "10.0.0.70:80", 5, podC))
}
