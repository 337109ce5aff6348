package live

import (
	"bytes"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/svcproxy/svcproxy/pkg/sync"
)

func TestHistogramOf(t *testing.T) {
	text := `# HELP kubeproxy_sync_proxy_rules_duration_seconds SyncProxyRules latency in seconds
# TYPE kubeproxy_sync_proxy_rules_duration_seconds histogram
kubeproxy_sync_proxy_rules_duration_seconds_bucket{ip_family="IPv4",le="0.001"} 0
kubeproxy_sync_proxy_rules_duration_seconds_sum{ip_family="IPv4"} 2.5
kubeproxy_sync_proxy_rules_duration_seconds_count{ip_family="IPv4"} 2
kubeproxy_sync_proxy_rules_duration_seconds_sum{ip_family="IPv6"} 0.25
kubeproxy_sync_proxy_rules_duration_seconds_count{ip_family="IPv6"} 2
svcproxy_sync_duration_seconds_sum{kind="full"} 1.5
svcproxy_sync_duration_seconds_count{kind="full"} 1
svcproxy_sync_duration_seconds_sum{kind="partial"} 0.5
svcproxy_sync_duration_seconds_count{kind="partial"} 4
svcproxy_sync_duration_seconds_count_not_this 99
`
	tests := []struct {
		name string
		want histogram
	}{
		{"kubeproxy_sync_proxy_rules_duration_seconds", histogram{sum: 2.5, count: 2}},
		{"svcproxy_sync_duration_seconds", histogram{sum: 2, count: 5}},
		{"absent_seconds", histogram{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := histogramOf([]byte(text), tt.name); got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestPercentile(t *testing.T) {
	ms := func(n ...int) []time.Duration {
		var out []time.Duration
		for _, v := range n {
			out = append(out, time.Duration(v)*time.Millisecond)
		}
		return out
	}
	tests := []struct {
		name    string
		changes []time.Duration
		p       float64
		want    time.Duration
	}{
		{"none", nil, 50, 0},
		{"median of odd", ms(30, 10, 20), 50, 20 * time.Millisecond},
		{"median of even takes the lower", ms(40, 10, 30, 20), 50, 20 * time.Millisecond},
		{"p99 of ten is the largest", ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 100), 99, 100 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := (Result{Changes: tt.changes}).Percentile(tt.p); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestWriteTableRatios(t *testing.T) {
	results := []Result{
		{Services: 1000, Endpoints: 10, Proxy: SvcProxy, Mode: sync.ModeNFTables, FirstSync: time.Second,
			FirstAnswered: 2 * time.Second, Changes: []time.Duration{50 * time.Millisecond},
			ChangesSeen: []time.Duration{80 * time.Millisecond}, ChangesCommitted: []time.Duration{30 * time.Millisecond},
			RSS: 100e6, TreePeak: 120e6},
		{Services: 1000, Endpoints: 10, Proxy: KubeProxy, Mode: sync.ModeNFTables, FirstSync: 12 * time.Second,
			FirstAnswered: 16 * time.Second, Changes: []time.Duration{time.Second},
			ChangesSeen: []time.Duration{1200 * time.Millisecond}, RSS: 300e6, TreePeak: 600e6},
		{Services: 1000, Endpoints: 10, Proxy: SvcProxy, Mode: sync.ModeIPTablesNFT, FirstSync: 2 * time.Second,
			FirstAnswered: 3 * time.Second, RSS: 100e6},
		{Services: 1000, Endpoints: 10, Proxy: KubeProxy, Mode: sync.ModeIPTablesNFT, NotFinished: time.Minute, RSS: 200e6},
	}
	var out bytes.Buffer
	if err := WriteTable(&out, results); err != nil {
		t.Fatal(err)
	}
	var lines []string
	for line := range strings.Lines(out.String()) {
		lines = append(lines, strings.Join(strings.Fields(line), " "))
	}
	for _, want := range []string{
		"1000 10 kube-proxy iptables-nft not finished after 1m0s - - - - - - 0 200.0 0.0 0.0 - -",
		"1000 10 svcproxy iptables-nft 2.00 0.00 3.00 - - - - 0 100.0 0.0 0.0 - -",
		"1000 10 svcproxy nftables 1.00 0.00 2.00 50.0 50.0 80.0 80.0 1 100.0 0.0 120.0 30.0 30.0",
		"1000 nftables 12.0 8.0 20.0 15.0 3.0 5.0",
		"1000 iptables-nft ≥ 30.0 ≥ 20.0 - - 2.0 -",
	} {
		if !slices.Contains(lines, want) {
			t.Errorf("table lacks the row %q:\n%s", want, out.String())
		}
	}
}
