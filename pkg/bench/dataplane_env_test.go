package bench

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/svcproxy/svcproxy/internal/netns"
	"github.com/svcproxy/svcproxy/internal/netnstest"
	"github.com/svcproxy/svcproxy/internal/testnet"
	"github.com/svcproxy/svcproxy/pkg/model"
	"github.com/svcproxy/svcproxy/pkg/sync"
)

// probeTimeout bounds one probe, connect and answer together. It is
// below the 1 s a lost SYN waits for its retransmission, so a lost or
// dropped packet fails the probe, and with it the benchmark, instead of
// showing up as a 1 s connect in the percentiles.
const probeTimeout = 900 * time.Millisecond

// podLink is the pod's end of its veth, as internal/testnet names it.
const podLink = "eth0"

// dataPlane is a testnet topology for measuring connections through a
// node's Service rules: a client pod, and one backend pod per endpoint
// slot whose echo servers answer for every probed Service.
type dataPlane struct {
	topo   *testnet.Topology
	client *netns.NS
	probes []probe
}

// newDataPlane builds the topology for a cluster of mix with n probed
// Services, with echo servers in every backend pod, and no rules yet.
// Everything is deleted when tb ends.
func newDataPlane(tb testing.TB, mix Mix, n int) *dataPlane {
	tb.Helper()
	netnstest.RequireRoot(tb, "nft", "iptables-legacy-restore")
	probes, err := planProbes(mix.Services, mix.Endpoints, n)
	if err != nil {
		tb.Fatal(err)
	}
	specs := []testnet.PodSpec{{Name: "client", IPv4: clientPodIP}}
	for j := range mix.Endpoints {
		specs = append(specs, testnet.PodSpec{Name: backendName(j), IPv4: backendPodAddr(j)})
	}
	topo := testnet.New(tb, specs...)
	for j := range mix.Endpoints {
		pod := topo.Pods[backendName(j)]
		pod.StartEcho(tb, testnet.Port{Proto: testnet.TCP, Port: targetPort})
		if err := addProbeAddrs(pod, j, len(probes)); err != nil {
			tb.Fatal(err)
		}
	}
	return &dataPlane{topo: topo, client: topo.Pods["client"].NS, probes: probes}
}

func backendName(j int) string { return fmt.Sprintf("backend-%d", j) }

// addProbeAddrs gives backend pod j the endpoint addresses of probes 1
// to n-1 (it has probe 0's as its own), in its own /24, so the node
// reaches them by the pod's connected route.
func addProbeAddrs(pod *testnet.Pod, j, n int) error {
	var batch strings.Builder
	for k := 1; k < n; k++ {
		fmt.Fprintf(&batch, "addr add %s/24 dev %s\n", backendAddr(k, j), podLink)
	}
	if _, err := pod.NS.Run(strings.NewReader(batch.String()), "ip", "-batch", "-"); err != nil {
		return fmt.Errorf("adding probe addresses to %s: %w", pod.Name, err)
	}
	return nil
}

// load generates the cluster of mix with the probed Services leading to
// the backend pods, applies it to the node in mode the way svcproxy run
// does (sync.Node, one full apply), and warms the path up.
func (d *dataPlane) load(ctx context.Context, mode sync.Mode, mix Mix) error {
	in, err := Generate(mix)
	if err != nil {
		return err
	}
	if in, err = withProbeBackends(in, d.probes); err != nil {
		return err
	}
	m, err := ipv4Of(model.Build(in, Config()))
	if err != nil {
		return err
	}
	r := sync.ExecRunner{Prefix: d.topo.Node.Prefix()}
	node := &sync.Node{Runner: r, Detector: &sync.Detector{Runner: r}, Request: sync.Request(mode),
		Netlink: &sync.KernelNetlink{NetNS: "/run/netns/" + d.topo.Node.Name}}
	if _, err := node.Apply(ctx, []*model.Model{m}, false); err != nil {
		return fmt.Errorf("applying %d Services in %s: %w", mix.Services, mode, err)
	}
	if got := node.Mode(model.IPv4); got != mode {
		return fmt.Errorf("applying %d Services: applied in %s, want %s", mix.Services, got, mode)
	}
	return d.warm()
}

// warm makes the first connections, which are not measured: one from
// the node straight to every backend address, so the node's neighbour
// entries are resolved (a first packet waiting for ARP is not what the
// benchmark is about), then one round through the Services.
func (d *dataPlane) warm() error {
	var direct []netip.AddrPort
	for _, p := range d.probes {
		direct = append(direct, p.Backends...)
	}
	if _, err := testnet.AskTimed(d.topo.Node, direct, probeTimeout); err != nil {
		return fmt.Errorf("warming up the backends: %w", err)
	}
	if _, err := d.ask(1); err != nil {
		return fmt.Errorf("warming up the Services: %w", err)
	}
	return nil
}

// ask connects from the client pod to every probed Service rounds
// times, interleaved, each time over a new connection, and returns the
// answers by probe. A failed connection, or one answered by anything but
// one of the probe's own endpoints, is an error.
func (d *dataPlane) ask(rounds int) ([][]testnet.TimedAnswer, error) {
	targets := probeTargets(d.probes)
	seq := make([]netip.AddrPort, 0, rounds*len(targets))
	for range rounds {
		seq = append(seq, targets...)
	}
	answers, err := testnet.AskTimed(d.client, seq, probeTimeout)
	if err != nil {
		return nil, fmt.Errorf("probing, after %d good connections: %w", len(answers), err)
	}
	return byProbe(d.probes, answers)
}

// byProbe sorts answers to a sequence of rounds (every probe once, in
// order, per round) by probe, checking each came from one of its probe's
// endpoints.
func byProbe(probes []probe, answers []testnet.TimedAnswer) ([][]testnet.TimedAnswer, error) {
	out := make([][]testnet.TimedAnswer, len(probes))
	for i, a := range answers {
		k := i % len(probes)
		p := probes[k]
		if !slices.Contains(p.Backends, a.Endpoint) {
			return nil, fmt.Errorf("checking probe %s (%s): answered by %s, which is not one of its endpoints %v", serviceName(p.Index), p.VIP, a.Endpoint, p.Backends)
		}
		out[k] = append(out[k], a)
	}
	return out, nil
}
