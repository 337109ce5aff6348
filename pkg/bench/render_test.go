package bench

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/svcproxy/svcproxy/pkg/sync"
)

func TestCount(t *testing.T) {
	tests := []struct {
		name     string
		rendered string
		mode     sync.Mode
		want     Counts
	}{{
		name: "iptables",
		rendered: `*nat
:KUBE-SERVICES - [0:0]
:KUBE-SVC-AAA - [0:0]
-A KUBE-SERVICES -j KUBE-SVC-AAA
-A KUBE-SVC-AAA -j KUBE-SEP-BBB
COMMIT
`,
		mode: sync.ModeIPTablesLegacy,
		want: Counts{Chains: 2, Rules: 2},
	}, {
		name: "nftables",
		rendered: `add table ip svcproxy
add chain ip svcproxy services
add rule ip svcproxy services ip daddr . meta l4proto . th dport vmap @service-ips
add element ip svcproxy service-ips { 172.16.0.1 . tcp . 80 : goto a, 172.16.0.2 . tcp . 80 : goto b }
add element ip svcproxy endpoints { 10.0.0.1 }
`,
		mode: sync.ModeNFTables,
		want: Counts{Chains: 1, Rules: 1, Elements: 3},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, Count(tt.rendered, tt.mode)); diff != "" {
				t.Errorf("counts (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRender(t *testing.T) {
	sc, err := BuildScenario(Mix{Services: 30, Endpoints: 2, NodePortEvery: 10})
	if err != nil {
		t.Fatal(err)
	}
	for _, mode := range Modes {
		t.Run(string(mode), func(t *testing.T) {
			cost, err := Render(sc.Initial, mode)
			if err != nil {
				t.Fatal(err)
			}
			if cost.Bytes == 0 || cost.Duration <= 0 {
				t.Errorf("nothing measured: %+v", cost)
			}
			if cost.Counts.Rules == 0 || cost.Counts.Chains == 0 {
				t.Errorf("nothing counted: %+v", cost.Counts)
			}
			if mode == sync.ModeNFTables && cost.Counts.Elements == 0 {
				t.Errorf("no nftables elements counted: %+v", cost.Counts)
			}
		})
	}
	if _, err := Render(sc.Initial, "ipvs"); err == nil || !strings.Contains(err.Error(), "ipvs") {
		t.Errorf("rendering in an unknown mode: got %v, want an error naming it", err)
	}
}

func TestParseModes(t *testing.T) {
	tests := []struct {
		name    string
		in      []string
		want    []sync.Mode
		wantErr bool
	}{
		{name: "all", in: []string{"nftables", "iptables-legacy", "iptables-nft"}, want: Modes},
		{name: "one", in: []string{"iptables-nft"}, want: []sync.Mode{sync.ModeIPTablesNFT}},
		{name: "unknown", in: []string{"nftables", "ipvs"}, wantErr: true},
		{name: "none", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseModes(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("got error %v, want error %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("modes (-want +got):\n%s", diff)
			}
		})
	}
}
