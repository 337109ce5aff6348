package bench

import (
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/svcproxy/svcproxy/internal/testnet"
	"github.com/svcproxy/svcproxy/pkg/sync"
)

// dataPlaneModes are the modes the data-plane benchmark compares.
var dataPlaneModes = []sync.Mode{sync.ModeNFTables, sync.ModeIPTablesLegacy, sync.ModeIPTablesNFT}

// dataPlaneSizes are the Service counts it loads in each mode: 50,000
// in nftables mode only, whose lookup must stay flat; the iptables
// modes' cost is already known to grow with the count.
var dataPlaneSizes = map[sync.Mode][]int{
	sync.ModeNFTables:       {1000, 10000, 30000, 50000},
	sync.ModeIPTablesLegacy: {1000, 10000, 30000},
	sync.ModeIPTablesNFT:    {1000, 10000, 30000},
}

const (
	// benchProbes is how many Services each case probes, spread evenly
	// over the whole cluster, the first and the last among them.
	benchProbes = 16
	// benchRounds is how many times one loop iteration connects to each
	// probe: 16×64 = 1,024 connections, enough for a p99 that is not
	// just the worst sample.
	benchRounds = 64
)

// BenchmarkDataPlane measures first-packet connect latency to a Service
// as the number of Services grows, in nftables and iptables-legacy mode:
// 1,000, 10,000 and 30,000 Services of 10 endpoints, every tenth a
// NodePort. It needs root and skips otherwise. Run it alone, on an idle
// machine, for example:
//
//	go test ./pkg/bench -run '^$' -bench DataPlane -benchtime 1x -count 3 -timeout 30m
//
// Each case builds an internal/testnet topology: a node namespace with
// the rules applied by sync.Node, a client pod, and 10 backend pods
// running echo servers. Of the generated Services, 16 spread evenly over
// the sorted list (so over the rule order too: iptables scans
// KUBE-SERVICES top to bottom) have their endpoints moved into the
// backend pods; every other Service points at addresses that never
// answer, as they are never asked. Each loop iteration makes 64 rounds
// of one new TCP connection per probed Service from the client pod, so
// every SYN is new to conntrack and goes through the node's PREROUTING
// NAT rules, and times connect() to established, SYN to SYN/ACK. Any
// probe that fails, times out, or is answered by a backend not its
// Service's, fails the benchmark.
//
// It reports, over all connections, p50-µs and p99-µs; first-p50-µs and
// last-p50-µs, the median for the first and last Service in rule
// order; and connects, the number of connections measured. ns/op (the
// time of a whole iteration) means nothing here and is not reported.
// Applying the rules is not measured: see svcproxy-bench for that.
//
// At 30,000 Services the iptables-legacy nat table must stay under the
// 512 MB x_tables allows a table in the kernel: with kube-proxy's layout
// and a comment on every rule it needed about 580 MB, and
// iptables-restore got ENOMEM at COMMIT; svcproxy's layout fits.
func BenchmarkDataPlane(b *testing.B) {
	for _, mode := range dataPlaneModes {
		for _, size := range dataPlaneSizes[mode] {
			b.Run(fmt.Sprintf("%s/services=%d", mode, size), func(b *testing.B) {
				benchDataPlane(b, mode, Mix{Services: size, Endpoints: 10, NodePortEvery: 10})
			})
		}
	}
}

// benchDataPlane runs one case: setup once, then the measured rounds.
func benchDataPlane(b *testing.B, mode sync.Mode, mix Mix) {
	d := newDataPlane(b, mix, benchProbes)
	if err := d.load(b.Context(), mode, mix); err != nil {
		b.Fatal(err)
	}
	times := make([][]time.Duration, benchProbes)
	for b.Loop() {
		answers, err := d.ask(benchRounds)
		if err != nil {
			b.Fatal(err)
		}
		for k, as := range answers {
			for _, a := range as {
				times[k] = append(times[k], a.Connect)
			}
		}
	}
	reportLatency(b, times)
}

// reportLatency reports the percentiles of connect times given by probe,
// in rule order.
func reportLatency(b *testing.B, byProbe [][]time.Duration) {
	all := slices.Sorted(slices.Values(slices.Concat(byProbe...)))
	first := slices.Sorted(slices.Values(byProbe[0]))
	last := slices.Sorted(slices.Values(byProbe[len(byProbe)-1]))
	b.ReportMetric(micros(percentile(all, 0.50)), "p50-µs")
	b.ReportMetric(micros(percentile(all, 0.99)), "p99-µs")
	b.ReportMetric(micros(percentile(first, 0.50)), "first-p50-µs")
	b.ReportMetric(micros(percentile(last, 0.50)), "last-p50-µs")
	b.ReportMetric(float64(len(all)), "connects")
	b.ReportMetric(0, "ns/op")
}

// TestDataPlaneProbes proves the benchmark's harness in each mode, on a
// 50-Service cluster: with no rules loaded a probe fails, and with them
// every probe is answered by its own Service's endpoints only, by every
// one of them over enough connections, which takes a new connection
// each time through the DNAT rules.
func TestDataPlaneProbes(t *testing.T) {
	mix := Mix{Services: 50, Endpoints: 3, NodePortEvery: 10}
	const probes, rounds = 5, 30
	for _, mode := range dataPlaneModes {
		t.Run(string(mode), func(t *testing.T) {
			d := newDataPlane(t, mix, probes)
			// Without rules a cluster IP leads nowhere: the SYN loops
			// between node and external until its TTL runs out.
			if _, err := d.ask(1); !testnet.TimedOut(err) {
				t.Fatalf("probing before any rule was loaded: error = %v, want a timeout", err)
			}
			if err := d.load(t.Context(), mode, mix); err != nil {
				t.Fatal(err)
			}
			answers, err := d.ask(rounds)
			if err != nil {
				t.Fatal(err)
			}
			for k, p := range d.probes {
				checkProbeAnswers(t, p, answers[k], rounds)
			}
		})
	}
}

// checkProbeAnswers wants n answers for p, from every one of its
// endpoints, with a plausible connect time.
func checkProbeAnswers(t *testing.T, p probe, answers []testnet.TimedAnswer, n int) {
	t.Helper()
	if len(answers) != n {
		t.Fatalf("%s: %d answers, want %d", serviceName(p.Index), len(answers), n)
	}
	seen := map[netip.AddrPort]bool{}
	for _, a := range answers {
		seen[a.Endpoint] = true
		if a.Connect <= 0 || a.Connect >= probeTimeout {
			t.Errorf("%s: connect time %v, want within (0, %v)", serviceName(p.Index), a.Connect, probeTimeout)
		}
	}
	for _, be := range p.Backends {
		if !seen[be] {
			t.Errorf("%s (%s): endpoint %s never answered in %d connections; answered: %v", serviceName(p.Index), p.VIP, be, n, seen)
		}
	}
}

func TestPlanProbes(t *testing.T) {
	probes, err := planProbes(30000, 10, 16)
	if err != nil {
		t.Fatal(err)
	}
	var indexes []int
	for _, p := range probes {
		indexes = append(indexes, p.Index)
	}
	want := []int{0, 2000, 4000, 6000, 8000, 10000, 12000, 14000, 15999, 17999, 19999, 21999, 23999, 25999, 27999, 29999}
	if diff := cmp.Diff(want, indexes); diff != "" {
		t.Errorf("probed Services (-want +got):\n%s", diff)
	}
	tests := []struct {
		name string
		got  netip.AddrPort
		want string
	}{
		{name: "first VIP", got: probes[0].VIP, want: "172.16.0.1:80"},
		{name: "last VIP", got: probes[15].VIP, want: "172.16.117.48:80"},
		{name: "first probe's first endpoint", got: probes[0].Backends[0], want: "10.250.0.2:8080"},
		{name: "first probe's last endpoint", got: probes[0].Backends[9], want: "10.250.9.2:8080"},
		{name: "last probe's last endpoint", got: probes[15].Backends[9], want: "10.250.9.17:8080"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got.String() != tt.want {
				t.Errorf("got %s, want %s", tt.got, tt.want)
			}
		})
	}
}

func TestPlanProbesRejects(t *testing.T) {
	tests := []struct {
		name                   string
		services, endpoints, n int
	}{
		{name: "one probe", services: 10, endpoints: 1, n: 1},
		{name: "more probes than Services", services: 3, endpoints: 1, n: 4},
		{name: "past the address plan", services: 1000, endpoints: 1, n: maxProbes + 1},
		{name: "no endpoints", services: 10, endpoints: 0, n: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := planProbes(tt.services, tt.endpoints, tt.n); err == nil {
				t.Errorf("planProbes(%d, %d, %d) succeeded, want an error", tt.services, tt.endpoints, tt.n)
			}
		})
	}
}

func TestWithProbeBackends(t *testing.T) {
	mix := Mix{Services: 10, Endpoints: 2}
	in, err := Generate(mix)
	if err != nil {
		t.Fatal(err)
	}
	before, err := Generate(mix)
	if err != nil {
		t.Fatal(err)
	}
	probes, err := planProbes(10, 2, 2)
	if err != nil {
		t.Fatal(err)
	}
	out, err := withProbeBackends(in, probes)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(before, in, cmpopts.EquateComparable(netip.Addr{})); diff != "" {
		t.Errorf("the input changed (-before +after):\n%s", diff)
	}
	for i, s := range out.EndpointSlices {
		var got []string
		for _, e := range s.Endpoints {
			got = append(got, e.Addresses...)
		}
		want := []string{in.EndpointSlices[i].Endpoints[0].Addresses[0], in.EndpointSlices[i].Endpoints[1].Addresses[0]}
		switch i {
		case 0:
			want = []string{"10.250.0.2", "10.250.1.2"}
		case 9:
			want = []string{"10.250.0.3", "10.250.1.3"}
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("slice %d addresses (-want +got):\n%s", i, diff)
		}
	}
}

func TestByProbe(t *testing.T) {
	probes, err := planProbes(10, 2, 2)
	if err != nil {
		t.Fatal(err)
	}
	answer := func(ep netip.AddrPort) testnet.TimedAnswer {
		return testnet.TimedAnswer{Answer: testnet.Answer{Endpoint: ep}, Connect: time.Microsecond}
	}
	good := []testnet.TimedAnswer{answer(probes[0].Backends[1]), answer(probes[1].Backends[0]), answer(probes[0].Backends[0])}
	got, err := byProbe(probes, good)
	if err != nil {
		t.Fatalf("byProbe: %v", err)
	}
	if len(got[0]) != 2 || len(got[1]) != 1 {
		t.Errorf("byProbe gave %d and %d answers, want 2 and 1", len(got[0]), len(got[1]))
	}
	// The second answer comes from the first probe's endpoint: a rule
	// that sent one Service's traffic to another's backends.
	crossed := []testnet.TimedAnswer{answer(probes[0].Backends[0]), answer(probes[0].Backends[0])}
	if _, err := byProbe(probes, crossed); err == nil {
		t.Error("byProbe accepted an answer from another Service's endpoint")
	}
}

func TestPercentile(t *testing.T) {
	hundred := make([]time.Duration, 100)
	for i := range hundred {
		hundred[i] = time.Duration(i+1) * time.Microsecond
	}
	tests := []struct {
		name   string
		sorted []time.Duration
		q      float64
		want   time.Duration
	}{
		{name: "no samples", q: 0.5, want: 0},
		{name: "one sample", sorted: []time.Duration{7}, q: 0.99, want: 7},
		{name: "median of four", sorted: []time.Duration{1, 2, 3, 4}, q: 0.5, want: 2},
		{name: "p50 of 100", sorted: hundred, q: 0.50, want: 50 * time.Microsecond},
		{name: "p99 of 100", sorted: hundred, q: 0.99, want: 99 * time.Microsecond},
		{name: "max", sorted: hundred, q: 1, want: 100 * time.Microsecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := percentile(tt.sorted, tt.q); got != tt.want {
				t.Errorf("percentile(%v) = %v, want %v", tt.q, got, tt.want)
			}
		})
	}
}
