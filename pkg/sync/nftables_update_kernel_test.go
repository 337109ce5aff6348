package sync

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/svcproxy/svcproxy/internal/netnstest"
	"github.com/svcproxy/svcproxy/pkg/model"
	"github.com/svcproxy/svcproxy/pkg/render/nftables/nfnl"
)

// Manifest helpers for the update cases. Addresses follow
// docs/test-addresses.md: pods in 10.1.0.0/16 (node-a is this node),
// cluster IPs in 172.30.0.0/24, load balancer IPs in 192.0.2.0/24,
// external IPs from 198.51.100.20, external clients in 203.0.113.0/24.

// service returns a Service manifest; spec is the inside of its spec,
// without braces, and extra any further top-level fields.
func service(name, spec, extra string) string {
	return "apiVersion: v1\nkind: Service\nmetadata: {namespace: t, name: " + name + "}\nspec: {" + spec + "}\n" + extra
}

// slice returns the EndpointSlice of Service name with endpoints on
// port 8080 of addrs; "ADDR@NODE" puts one on another node than node-a.
func slice(name string, addrs ...string) string {
	var b strings.Builder
	b.WriteString("apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n")
	b.WriteString("metadata: {namespace: t, name: " + name + "-1, labels: {kubernetes.io/service-name: " + name + "}}\n")
	b.WriteString("addressType: IPv4\nports: [{name: http, protocol: TCP, port: 8080}]\n")
	if len(addrs) == 0 {
		b.WriteString("endpoints: []\n")
	} else {
		b.WriteString("endpoints:\n")
	}
	for _, a := range addrs {
		ip, node, ok := strings.Cut(a, "@")
		if !ok {
			node = "node-a"
		}
		b.WriteString("- {addresses: [" + ip + "], nodeName: " + node + "}\n")
	}
	return b.String()
}

// manifests joins manifests into one document stream.
func manifests(docs ...string) string { return strings.Join(docs, "---\n") }

const (
	httpPort   = "ports: [{name: http, protocol: TCP, port: 80}]"
	nodePort   = "type: NodePort, ports: [{name: http, protocol: TCP, port: 80, nodePort: 30090}]"
	lbStatus   = "status: {loadBalancer: {ingress: [{ip: 192.0.2.10}]}}\n"
	lbSpec     = "type: LoadBalancer, loadBalancerSourceRanges: [203.0.113.0/25], ports: [{name: http, protocol: TCP, port: 80, nodePort: 30091}]"
	stickySpec = "sessionAffinity: ClientIP, sessionAffinityConfig: {clientIP: {timeoutSeconds: 60}}, " + httpPort
)

// webService is the Service most update cases start from.
var webService = service("web", "clusterIP: 172.30.0.10, "+httpPort, "")

// nftUpdateCase is a sequence of models for TestNFTablesUpdateCases.
type nftUpdateCase struct {
	name  string
	steps []string
	// incremental says, for each step after the first, whether
	// Update may send it as a delta.
	incremental []bool
}

var nftUpdateCases = []nftUpdateCase{{
	name: "hairpin address shared by two Services, one removed",
	steps: []string{
		manifests(webService, slice("web", "10.1.1.5", "10.1.2.6"),
			service("api", "clusterIP: 172.30.0.11, "+httpPort, ""), slice("api", "10.1.1.5")),
		manifests(webService, slice("web", "10.1.1.5", "10.1.2.6")),
		manifests(webService, slice("web", "10.1.2.6")),
	},
	incremental: []bool{true, true},
}, {
	name: "Service from endpoints to none and back",
	steps: []string{
		manifests(webService, slice("web", "10.1.1.5", "10.1.2.6")),
		manifests(webService, slice("web")),
		manifests(webService),
		manifests(webService, slice("web", "10.1.1.5", "10.1.2.6")),
	},
	incremental: []bool{true, true, true},
}, {
	name: "endpoint count nobody else has",
	steps: []string{
		manifests(webService, slice("web", "10.1.1.5", "10.1.2.6"),
			service("api", "clusterIP: 172.30.0.11, "+httpPort, ""), slice("api", "10.1.1.5", "10.1.3.7@node-b")),
		manifests(webService, slice("web", "10.1.1.5", "10.1.2.6", "10.1.3.7@node-b"),
			service("api", "clusterIP: 172.30.0.11, "+httpPort, ""), slice("api", "10.1.1.5", "10.1.3.7@node-b")),
		manifests(webService, slice("web", "10.1.1.5", "10.1.2.6", "10.1.3.7@node-b"),
			service("api", "clusterIP: 172.30.0.11, "+httpPort, ""), slice("api", "10.1.1.5", "10.1.2.6", "10.1.3.7@node-b")),
	},
	incremental: []bool{true, true},
}, {
	// The model gives the external IP to a, the first by name; b gets
	// it back once a lets go, all by deltas.
	name: "contested external IP changes hands",
	steps: []string{
		manifests(
			service("a", "clusterIP: 172.30.0.10, externalIPs: [198.51.100.20], "+httpPort, ""), slice("a", "10.1.1.5"),
			service("b", "clusterIP: 172.30.0.11, externalIPs: [198.51.100.20], "+httpPort, ""), slice("b", "10.1.2.6")),
		manifests(
			service("a", "clusterIP: 172.30.0.10, externalIPs: [198.51.100.20], "+httpPort, ""), slice("a", "10.1.1.5"),
			service("b", "clusterIP: 172.30.0.11, externalIPs: [198.51.100.20], "+httpPort, ""), slice("b", "10.1.3.7@node-b")),
		manifests(
			service("a", "clusterIP: 172.30.0.10, externalIPs: [198.51.100.20], "+httpPort, ""), slice("a", "10.1.1.5"),
			service("b", "clusterIP: 172.30.0.11, "+httpPort, ""), slice("b", "10.1.3.7@node-b")),
		manifests(
			service("a", "clusterIP: 172.30.0.10, externalIPs: [198.51.100.20], "+httpPort, ""), slice("a", "10.1.2.6")),
		manifests(
			service("a", "clusterIP: 172.30.0.10, "+httpPort, ""), slice("a", "10.1.2.6"),
			service("b", "clusterIP: 172.30.0.11, externalIPs: [198.51.100.20], "+httpPort, ""), slice("b", "10.1.3.7@node-b")),
	},
	incremental: []bool{true, true, true, true},
}, {
	name: "affinity and firewall Services added, changed and removed",
	steps: []string{
		manifests(webService, slice("web", "10.1.1.5")),
		manifests(webService, slice("web", "10.1.1.5"),
			service("lb", "clusterIP: 172.30.0.12, "+lbSpec, lbStatus), slice("lb", "10.1.3.7@node-b"),
			service("sticky", "clusterIP: 172.30.0.40, "+stickySpec, ""), slice("sticky", "10.1.1.5", "10.1.2.6")),
		manifests(webService, slice("web", "10.1.1.5"),
			service("lb", "clusterIP: 172.30.0.12, "+strings.Replace(lbSpec, "/25", "/26", 1), lbStatus), slice("lb", "10.1.3.7@node-b"),
			service("sticky", "clusterIP: 172.30.0.40, "+stickySpec, ""), slice("sticky", "10.1.1.5", "10.1.3.7@node-b")),
		manifests(webService, slice("web", "10.1.1.5")),
	},
	incremental: []bool{true, true, true},
}, {
	name: "NodePort added, and a Service made a NodePort",
	steps: []string{
		manifests(webService, slice("web", "10.1.1.5")),
		manifests(webService, slice("web", "10.1.1.5"),
			service("np", "clusterIP: 172.30.0.11, "+nodePort, ""), slice("np", "10.1.2.6")),
		manifests(service("web", "clusterIP: 172.30.0.10, type: NodePort, externalTrafficPolicy: Local, "+
			"ports: [{name: http, protocol: TCP, port: 80, nodePort: 30092}]", ""), slice("web", "10.1.1.5", "10.1.3.7@node-b"),
			service("np", "clusterIP: 172.30.0.11, "+nodePort, ""), slice("np", "10.1.2.6")),
	},
	incremental: []bool{true, true},
}}

// TestNFTablesUpdateCases runs sequences of models through Update, each
// aimed at something the delta must get right, and after every step
// compares the table with a full apply of that step's model in a fresh
// namespace.
func TestNFTablesUpdateCases(t *testing.T) {
	netnstest.RequireRoot(t, "nft")
	for _, tt := range nftUpdateCases {
		for _, loader := range nftablesLoaders {
			t.Run(tt.name+"/"+loader, func(t *testing.T) {
				if got := updateSteps(t, tt.steps, loader); !slices.Equal(got, tt.incremental) {
					t.Errorf("incremental paths taken: %v, want %v", got, tt.incremental)
				}
			})
		}
	}
}

// updateSteps applies the first step in full and the others through
// incremental applies, loading with loader, checks the table against a
// full apply with nft after each, and returns which updates were
// incremental.
func updateSteps(t *testing.T, steps []string, loader string) []bool {
	t.Helper()
	ctx := context.Background()
	ns := netnstest.New(t)
	r := &recordingRunner{Runner: ExecRunner{Prefix: ns.Prefix()}}
	a := newTestNFTables(ns, r, loader)
	if a.Netlink != nil {
		a.Netlink = &recordingSender{BatchSender: a.Netlink, r: r}
	}
	first, _ := trafficModelWarned(t, steps[0], func(*model.Input, *model.Config) {})
	if _, err := applyVia(t, a, first, false, loader); err != nil {
		t.Fatal(err)
	}
	var paths []bool
	for i, s := range steps[1:] {
		m, _ := trafficModelWarned(t, s, func(*model.Input, *model.Config) {})
		r.last = ""
		out, err := applyVia(t, a, m, true, loader)
		if err != nil {
			t.Fatalf("step %d: %v", i+1, err)
		}
		paths = append(paths, out.Incremental)
		if out.Incremental {
			if strings.Contains(r.last, "flush table") {
				t.Errorf("step %d: the delta reloads the table:\n%s", i+1, r.last)
			}
			t.Logf("step %d delta:\n%s", i+1, r.last)
		}
		fresh := netnstest.New(t)
		b := &NFTables{Family: model.IPv4, Runner: ExecRunner{Prefix: fresh.Prefix()}}
		full, err := b.Apply(ctx, m, false)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := canonicalTable(t, ns), canonicalTable(t, fresh); got != want {
			t.Errorf("step %d: the table differs from a full apply:\n%s\nwant:\n%s", i+1, got, want)
		}
		if got, want := out.Counts, full.Counts; !slices.Equal(got, want) {
			t.Errorf("step %d: stats %+v, a full apply's %+v", i+1, got, want)
		}
	}
	return paths
}

// recordingRunner keeps the input of the last command given any.
type recordingRunner struct {
	Runner
	last string
}

func (r *recordingRunner) Run(ctx context.Context, stdin []byte, name string, args ...string) ([]byte, error) {
	if stdin != nil {
		r.last = string(stdin)
	}
	return r.Runner.Run(ctx, stdin, name, args...)
}

// recordingSender keeps the commands of the last batch in r, as
// recordingRunner keeps nft's input.
type recordingSender struct {
	BatchSender
	r *recordingRunner
}

func (s *recordingSender) SendBatch(msgs []nfnl.Message) error {
	var b strings.Builder
	for i, m := range msgs {
		if i == 0 || m.Command != msgs[i-1].Command {
			b.WriteString(m.Command + "\n")
		}
	}
	s.r.last = b.String()
	return s.BatchSender.SendBatch(msgs)
}
