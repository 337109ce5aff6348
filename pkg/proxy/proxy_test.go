package proxy

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"

	"github.com/google/go-cmp/cmp"

	"github.com/svcproxy/svcproxy/internal/fakenft"
	"github.com/svcproxy/svcproxy/pkg/health"
	"github.com/svcproxy/svcproxy/pkg/metrics"
	"github.com/svcproxy/svcproxy/pkg/model"
	"github.com/svcproxy/svcproxy/pkg/sync"
)

// Test addresses follow docs/test-addresses.md: this node is
// 192.168.0.10, cluster IPs are in 172.30.0.0/16, and the endpoints are
// node-b's pods, in 10.1.2.0/24.
const nodeName = "node-a"

// testProxy is a Proxy on a fake nft, with its log in a buffer.
type testProxy struct {
	*Proxy
	nft *fakenft.Runner
	log *bytes.Buffer
}

func newTestProxy(t *testing.T) *testProxy {
	t.Helper()
	nft := &fakenft.Runner{}
	var log bytes.Buffer
	p, err := New(Config{
		Log:      slog.New(slog.NewTextHandler(&log, nil)),
		Client:   fake.NewClientset(),
		NodeName: nodeName,
		Model:    model.Config{MasqueradeBit: model.DefaultMasqueradeBit},
		Node: &sync.Node{Runner: nft, Request: sync.RequestNFTables,
			Detector: &sync.Detector{Runner: nft, KernelRelease: fakenft.KernelRelease}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return &testProxy{Proxy: p, nft: nft, log: &log}
}

func service(name, clusterIP string) *v1.Service {
	return &v1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name},
		Spec: v1.ServiceSpec{Type: v1.ServiceTypeClusterIP, ClusterIP: clusterIP, ClusterIPs: []string{clusterIP},
			Ports: []v1.ServicePort{{Name: "http", Protocol: v1.ProtocolTCP, Port: 80}}},
	}
}

func slice(service string, addrs ...string) *discovery.EndpointSlice {
	s := &discovery.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: service + "-1",
			Labels: map[string]string{discovery.LabelServiceName: service}},
		AddressType: discovery.AddressTypeIPv4,
		Ports:       []discovery.EndpointPort{{Name: ptr.To("http"), Protocol: ptr.To(v1.ProtocolTCP), Port: ptr.To[int32](8080)}},
	}
	for _, a := range addrs {
		s.Endpoints = append(s.Endpoints, discovery.Endpoint{Addresses: []string{a},
			Conditions: discovery.EndpointConditions{Ready: ptr.To(true)}, NodeName: ptr.To("node-b")})
	}
	return s
}

func node(addrs ...string) *v1.Node {
	n := &v1.Node{ObjectMeta: metav1.ObjectMeta{Name: nodeName}}
	for _, a := range addrs {
		n.Status.Addresses = append(n.Status.Addresses, v1.NodeAddress{Type: v1.NodeInternalIP, Address: a})
	}
	return n
}

// syncOnce runs one sync as the loop would, asking for full or not, and
// records it as the loop's Observe does.
func (p *testProxy) syncOnce(t *testing.T, full bool) {
	t.Helper()
	err := p.sync(context.Background(), full)
	p.observe(sync.SyncResult{Full: full, Err: err})
	if err != nil {
		t.Fatalf("sync: %v", err)
	}
}

// lastLoadFull reports whether the last transaction replaced the table.
func (p *testProxy) lastLoadFull(t *testing.T) bool {
	t.Helper()
	loads := p.nft.Loads()
	if len(loads) == 0 {
		t.Fatal("nothing was loaded")
	}
	return strings.Contains(loads[len(loads)-1], "delete table ip svcproxy")
}

// histogramCount returns how many syncs of kind /metrics reports.
func histogramCount(t *testing.T, p *Proxy, kind string) int {
	t.Helper()
	rec := httptest.NewRecorder()
	p.metrics.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	prefix := `svcproxy_sync_duration_seconds_count{kind="` + kind + `"} `
	for line := range strings.Lines(rec.Body.String()) {
		if rest, ok := strings.CutPrefix(line, prefix); ok {
			n, err := strconv.Atoi(strings.TrimSpace(rest))
			if err != nil {
				t.Fatalf("reading %q: %v", line, err)
			}
			return n
		}
	}
	// A kind never observed has no series yet.
	return 0
}

// TestSyncLoadsInFullThenOnlyChanges drives the pipeline through the
// tracker: the first sync loads the table in full, whatever was asked;
// a changed endpoint is sent as a delta; a Node change loads in full
// again; and the sync metrics count each under the kind that ran.
func TestSyncLoadsInFullThenOnlyChanges(t *testing.T) {
	p := newTestProxy(t)
	p.tracker.OnNodeAdd(node("192.168.0.10"))
	p.tracker.OnServiceAdd(service("web", "172.30.0.10"))
	p.tracker.OnEndpointSliceAdd(slice("web", "10.1.2.5"))
	steps := []struct {
		name     string
		change   func()
		full     bool
		wantFull bool
		want     string
	}{
		{name: "first sync", change: func() {}, wantFull: true, want: "10.1.2.5"},
		{name: "an endpoint moved", change: func() {
			p.tracker.OnEndpointSliceUpdate(nil, slice("web", "10.1.2.6"))
		}, want: "10.1.2.6"},
		{name: "another Service", change: func() {
			p.tracker.OnServiceAdd(service("db", "172.30.0.11"))
		}, want: "172.30.0.11"},
		// More changed ports than a delta is worth is what
		// nftables.Diff refuses: the sync was asked partial and ran full.
		{name: "65 Services at once", change: func() {
			for i := range 65 {
				p.tracker.OnServiceAdd(service(fmt.Sprintf("many-%d", i), fmt.Sprintf("172.30.1.%d", i+1)))
			}
		}, wantFull: true, want: "172.30.1.65"},
		{name: "the node moved", change: func() {
			p.tracker.OnNodeUpdate(nil, node("192.168.0.11"))
		}, wantFull: true, want: "10.1.2.6"},
		{name: "a full sync asked", change: func() {}, full: true, wantFull: true, want: "10.1.2.6"},
	}
	partial, full := 0, 0
	for _, s := range steps {
		s.change()
		p.syncOnce(t, s.full)
		if got := p.lastLoadFull(t); got != s.wantFull {
			t.Errorf("%s: loaded in full %v, want %v", s.name, got, s.wantFull)
		}
		if loads := p.nft.Loads(); !strings.Contains(loads[len(loads)-1], s.want) {
			t.Errorf("%s: the transaction lacks %s:\n%s", s.name, s.want, loads[len(loads)-1])
		}
		if s.wantFull {
			full++
		} else {
			partial++
		}
		if got := [2]int{histogramCount(t, p.Proxy, metrics.KindFull), histogramCount(t, p.Proxy, metrics.KindPartial)}; got != [2]int{full, partial} {
			t.Errorf("%s: syncs recorded full, partial = %v, want %v", s.name, got, [2]int{full, partial})
		}
	}
}

// TestSkippedObjectsLoggedOnce checks that what a build skips is logged
// when the list changes, not on every sync: a Node's bad address stays
// in the list across the partial syncs after the Node change that
// reported it.
func TestSkippedObjectsLoggedOnce(t *testing.T) {
	p := newTestProxy(t)
	p.tracker.OnNodeAdd(node("192.168.0.10", "not-an-address"))
	p.tracker.OnServiceAdd(service("web", "172.30.0.10"))
	p.tracker.OnServiceAdd(service("bad", "not-an-ip"))
	skipped := func() int { return strings.Count(p.log.String(), "msg=skipped") }
	p.syncOnce(t, false)
	want := skipped()
	if want != 3 {
		t.Fatalf("the first sync logged %d skipped objects, want 3 (the Node's address, the bad Service twice):\n%s", want, p.log)
	}
	for i, change := range []func(){
		func() { p.tracker.OnEndpointSliceAdd(slice("web", "10.1.2.5")) },
		func() { p.tracker.OnEndpointSliceUpdate(nil, slice("web", "10.1.2.6")) },
	} {
		change()
		p.syncOnce(t, false)
		if got := skipped(); got != want {
			t.Errorf("partial sync %d logged skipped objects again:\n%s", i+1, p.log)
		}
	}
	p.tracker.OnNodeUpdate(nil, node("192.168.0.11"))
	p.syncOnce(t, false)
	if got := skipped(); got != want+2 {
		t.Errorf("after the Node was fixed, %d more skipped objects were logged, want the bad Service's 2:\n%s", got-want, p.log)
	}
}

// TestCanaryRestoresRules checks that rules found gone make the next
// sync a full one, which puts them back, even with nothing changed.
func TestCanaryRestoresRules(t *testing.T) {
	p := newTestProxy(t)
	p.tracker.OnServiceAdd(service("web", "172.30.0.10"))
	p.syncOnce(t, false)
	loads := len(p.nft.Loads())
	p.checkRules(context.Background())
	p.syncOnce(t, false)
	if len(p.nft.Loads()) != loads {
		t.Error("a sync with the rules in place and nothing changed loaded something")
	}
	p.nft.SetRulesGone(true)
	p.checkRules(context.Background())
	p.nft.SetRulesGone(false)
	p.syncOnce(t, false)
	if !p.lastLoadFull(t) {
		t.Error("the sync after the canary found the rules gone did not load in full")
	}
	if !strings.Contains(p.log.String(), "rules were removed by another program") {
		t.Errorf("the canary's finding was not logged:\n%s", p.log)
	}
}

// TestRefusedSyncIsAFailure checks that a transaction nft refuses fails
// the sync, is counted as a failure, and that the retry loads in full.
func TestRefusedSyncIsAFailure(t *testing.T) {
	p := newTestProxy(t)
	p.tracker.OnServiceAdd(service("web", "172.30.0.10"))
	p.syncOnce(t, false)
	p.nft.SetRefuse(true)
	p.tracker.OnEndpointSliceAdd(slice("web", "10.1.2.5"))
	err := p.sync(context.Background(), false)
	p.observe(sync.SyncResult{Err: err})
	if err == nil {
		t.Fatal("a refused transaction did not fail the sync")
	}
	if !strings.Contains(p.log.String(), "refused by the fake") {
		t.Errorf("the reason was not logged:\n%s", p.log)
	}
	p.nft.SetRefuse(false)
	loads := len(p.nft.Loads())
	p.syncOnce(t, true)
	if len(p.nft.Loads()) != loads+1 || !p.lastLoadFull(t) {
		t.Error("the retry did not load in full")
	}
}

// TestHealthFollowsTheNode checks /healthz against the Node's events
// alone, with no sync between them: 503 before the Node is seen, 200 once
// it is, 503 as soon as the cluster autoscaler taints it for removal.
func TestHealthFollowsTheNode(t *testing.T) {
	p := newTestProxy(t)
	p.tracker.OnServiceAdd(service("web", "172.30.0.10"))
	p.syncOnce(t, false)
	healthz := func() int {
		rec := httptest.NewRecorder()
		p.health.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/healthz", nil))
		return rec.Code
	}
	if got := healthz(); got != http.StatusServiceUnavailable {
		t.Errorf("before the Node is seen /healthz = %d, want 503", got)
	}
	p.tracker.OnNodeAdd(node("192.168.0.10"))
	if got := healthz(); got != http.StatusOK {
		t.Errorf("with the Node /healthz = %d, want 200", got)
	}
	tainted := node("192.168.0.10")
	tainted.Spec.Taints = []v1.Taint{{Key: health.ToBeDeletedTaint, Effect: v1.TaintEffectNoSchedule}}
	p.tracker.OnNodeUpdate(nil, tainted)
	if got := healthz(); got != http.StatusServiceUnavailable {
		t.Errorf("right after the taint /healthz = %d, want 503", got)
	}
}

// TestFirstSyncTakesTheNodeOver checks that the first successful sync
// removes what kube-proxy left (its nftables tables), other tools' tables
// stay, and later syncs remove nothing more.
func TestFirstSyncTakesTheNodeOver(t *testing.T) {
	p := newTestProxy(t)
	p.nft.SetTables("table ip kube-proxy", "table ip6 kube-proxy", "table inet othertool")
	p.tracker.OnNodeAdd(node("192.168.0.10"))
	p.tracker.OnServiceAdd(service("web", "172.30.0.10"))
	p.syncOnce(t, false)
	want := []string{"table ip kube-proxy", "table ip6 kube-proxy"}
	if diff := cmp.Diff(want, p.nft.Deleted()); diff != "" {
		t.Errorf("tables deleted by the first sync (-want +got):\n%s", diff)
	}
	if !strings.Contains(p.log.String(), "took the node over") {
		t.Errorf("the takeover was not logged:\n%s", p.log)
	}
	p.nft.SetTables("table ip kube-proxy")
	p.syncOnce(t, true)
	if got := p.nft.Deleted(); len(got) != len(want) {
		t.Errorf("a later sync deleted %q too; the takeover runs once", got[len(want):])
	}
}

// TestCanaryWait checks that the canary keeps its period while checks are
// cheap and spends at most a tenth of its time on costly ones.
func TestCanaryWait(t *testing.T) {
	tests := []struct {
		name string
		took time.Duration
		want time.Duration
	}{
		{"a check of the stamp only", 20 * time.Microsecond, CanaryPeriod},
		{"a read that fits in the period's tenth", CanaryPeriod / 10, CanaryPeriod},
		{"iptables-nft-save of 10,000 Services", 7100 * time.Millisecond, 71 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := canaryWait(tt.took); got != tt.want {
				t.Errorf("canaryWait(%v) = %v, want %v", tt.took, got, tt.want)
			}
		})
	}
}
