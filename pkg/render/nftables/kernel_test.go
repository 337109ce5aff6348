package nftables

import (
	"fmt"
	"net/netip"
	"os"
	"strings"
	"testing"

	"github.com/svcproxy/svcproxy/internal/netns"
	"github.com/svcproxy/svcproxy/internal/netnstest"
	"github.com/svcproxy/svcproxy/pkg/model"
)

// newNS returns a throwaway namespace, skipping unless root with nft.
func newNS(t testing.TB) *netns.NS {
	t.Helper()
	netnstest.RequireRoot(t, "nft")
	return netnstest.New(t)
}

// nft runs nft in ns with stdin as input.
func nft(ns *netns.NS, stdin string, args ...string) (string, error) {
	return ns.Run(strings.NewReader(stdin), "nft", args...)
}

// TestKernelLoadsRules checks, then loads, the text of a model that uses
// every rule form into a throwaway namespace, for each family.
func TestKernelLoadsRules(t *testing.T) {
	tests := []struct {
		name string
		fam  model.Family
	}{
		{"ipv4", model.IPv4},
		{"ipv6", model.IPv6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ns := newNS(t)
			text := RenderRuleset(richModel(tt.fam)).Text
			if out, err := nft(ns, text, "--check", "-f", "-"); err != nil {
				t.Fatalf("nft --check: %v\n%s\n%s", err, out, text)
			}
			// Twice: the second load is a resync over existing objects.
			for range 2 {
				if out, err := nft(ns, text, "-f", "-"); err != nil {
					t.Fatalf("nft -f: %v\n%s", err, out)
				}
			}
			out, err := nft(ns, "", "list", "table", string(Family(tt.fam)), TableName)
			if err != nil {
				t.Fatalf("nft list: %v\n%s", err, out)
			}
			for _, want := range []string{"map service-ips", "chain services", "masquerade fully-random", "goto firewall-"} {
				if !strings.Contains(out, want) && !strings.Contains(out, strings.Replace(want, "goto", "jump", 1)) {
					t.Errorf("listed table lacks %q:\n%s", want, out)
				}
			}
		})
	}
}

// bigModel builds services Services with eps endpoints each, the first
// on this node and the others on another, every tenth with a NodePort:
// the scale the layout is measured at, shaped like svcproxy-bench's
// cluster.
func bigModel(services, eps int) *model.Model {
	m := &model.Model{
		Family: model.IPv4,
		Node:   model.Node{Name: "node-a", IPs: []netip.Addr{nodeIP}},
		Config: model.Config{ClusterCIDRs: []netip.Prefix{clusterCIDR, clusterCIDR2}, MasqueradeBit: model.DefaultMasqueradeBit},
	}
	for i := range services {
		pn := model.PortName{Namespace: "ns", Name: fmt.Sprintf("svc-%05d", i), Port: "http", Protocol: model.TCP}
		sp := &model.ServicePort{
			Name: pn, Hash: model.ServicePortHash(pn), Port: 80, HasEndpoints: true,
			ClusterIP: netip.AddrFrom4([4]byte{172, 30, byte(i >> 8), byte(i)}),
		}
		if i%10 == 0 {
			sp.NodePort = uint16(30000 + i/10)
		}
		for j := range eps {
			n := i*eps + j
			// From 10.1.0.0 up into 10.2.0.0/16: 100,000 pods fill
			// more than one /16.
			e := model.Endpoint{IP: netip.AddrFrom4([4]byte{10, byte(1 + n>>16), byte(n >> 8), byte(n)}), Port: 8080, Ready: true, Serving: true,
				NodeName: "node-b"}
			if j == 0 {
				e.NodeName, e.Local = "node-a", true
			}
			e.Hash = model.EndpointHash(pn, e)
			sp.ClusterEndpoints = append(sp.ClusterEndpoints, e)
		}
		m.Services = append(m.Services, sp)
	}
	return m
}

// BenchmarkKernelLoad measures how long nft takes to load the rules of
// 10,000 Services × 10 endpoints as the applier sends them (the table
// added and deleted, then RenderRuleset's text): into an empty
// namespace, as a resync over the loaded table, and one endpoint change.
// It is slow and needs root, so it runs only with
// SVCPROXY_NFT_LOADTEST=1; the numbers go into doc.go and BENCHMARKS.md.
func BenchmarkKernelLoad(b *testing.B) {
	if os.Getenv("SVCPROXY_NFT_LOADTEST") != "1" {
		b.Skip("skipping load-time measurement: set SVCPROXY_NFT_LOADTEST=1 (needs root)")
	}
	ns := newNS(b)
	rs := RenderRuleset(bigModel(10000, 10))
	table := "ip " + TableName
	drop := "add table " + table + "\ndelete table " + table + "\n"
	text := string(rs.Transaction())
	load := func(b *testing.B, text string) {
		if out, err := nft(ns, text, "-f", "-"); err != nil {
			b.Fatalf("nft -f: %v\n%s", err, out)
		}
	}
	counts := rs.State().Counts()[0]
	b.Run("initial", func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			load(b, drop)
			b.StartTimer()
			load(b, text)
		}
		b.ReportMetric(float64(len(text)), "bytes")
		b.ReportMetric(float64(counts.Elements), "elements")
	})
	b.Run("resync", func(b *testing.B) {
		load(b, text)
		for b.Loop() {
			load(b, text)
		}
	})
	b.Run("one endpoint change", func(b *testing.B) {
		load(b, text)
		// Deleting the element first makes every iteration the same
		// change, whatever the one before left.
		change := "delete element " + table + " select-tcp-10 { 172.30.0.7 . tcp . 80 . 3 }\n" +
			"add element " + table + " select-tcp-10 { 172.30.0.7 . tcp . 80 . 3 : 10.2.200.1 . 8080 }\n"
		for b.Loop() {
			load(b, change)
		}
	})
}
