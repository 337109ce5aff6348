package sync

import (
	"context"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/svcproxy/svcproxy/internal/netns"
	"github.com/svcproxy/svcproxy/internal/netnstest"
	"github.com/svcproxy/svcproxy/pkg/model"
)

// incrementalSteps derives, from trafficServices, the states an
// incremental sequence goes through, each a change of the one before:
// an endpoint changed, a Service added, a Service removed, a Service
// down to no endpoints and back, a NodePort added.
func incrementalSteps(t *testing.T) []struct{ name, manifests string } {
	t.Helper()
	npEndpoints := "endpoints:\n- {addresses: [10.1.3.7], nodeName: node-b}\n- {addresses: [10.1.4.8], nodeName: node-b}\n"
	stickyStart := strings.Index(trafficServices, "---\napiVersion: v1\nkind: Service\nmetadata: {namespace: t, name: sticky}")
	stickyEnd := strings.Index(trafficServices, "---\napiVersion: v1\nkind: Service\nmetadata: {namespace: t, name: dns}")
	changes := []struct{ name, old, new string }{
		{"endpoint changed", "- {addresses: [10.1.3.7], nodeName: node-b}\n---\napiVersion: v1\nkind: Service\nmetadata: {namespace: t, name: empty}",
			"- {addresses: [10.1.4.8], nodeName: node-b}\n---\napiVersion: v1\nkind: Service\nmetadata: {namespace: t, name: empty}"},
		{"Service added", "", addedService},
		{"Service removed", trafficServices[stickyStart:stickyEnd], ""},
		{"Service down to no endpoints", npEndpoints, "endpoints: []\n"},
		{"Service back to its endpoints", "endpoints: []\n", npEndpoints},
		{"NodePort added", "spec: {clusterIP: 172.30.0.10, ports: [{name: http, protocol: TCP, port: 80}]}",
			"spec: {type: NodePort, clusterIP: 172.30.0.10, ports: [{name: http, protocol: TCP, port: 80, nodePort: 30090}]}"},
	}
	steps := []struct{ name, manifests string }{{"initial", trafficServices}}
	for _, c := range changes {
		prev := steps[len(steps)-1].manifests
		next := prev + c.new
		if c.old != "" {
			if strings.Count(prev, c.old) != 1 {
				t.Fatalf("step %q: its text is not in the previous state exactly once", c.name)
			}
			next = strings.Replace(prev, c.old, c.new, 1)
		}
		steps = append(steps, struct{ name, manifests string }{c.name, next})
	}
	return steps
}

// addedService is a Service with one endpoint on this node.
const addedService = `---
apiVersion: v1
kind: Service
metadata: {namespace: t, name: added}
spec: {clusterIP: 172.30.0.50, ports: [{name: http, protocol: TCP, port: 80}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {namespace: t, name: added-1, labels: {kubernetes.io/service-name: added}}
addressType: IPv4
ports: [{name: http, protocol: TCP, port: 8080}]
endpoints:
- {addresses: [10.1.2.6], nodeName: node-a}
- {addresses: [10.1.4.8], nodeName: node-b}
`

// TestIPTablesUpdateReachesTheFullState applies the first state in full
// and every later one incrementally, and compares the nat and filter
// tables with those of a full apply of the last state in a fresh
// namespace: the incremental path must end exactly where a full sync
// would, in both iptables variants, whether each model is built afresh
// (every chain rendered and compared) or keeps the pointers of unchanged
// ports as the model builder does (only changed ports rendered).
func TestIPTablesUpdateReachesTheFullState(t *testing.T) {
	steps := incrementalSteps(t)
	for _, mode := range []Mode{ModeIPTablesLegacy, ModeIPTablesNFT} {
		for _, shared := range []bool{false, true} {
			name := string(mode) + "/fresh models"
			if shared {
				name = string(mode) + "/shared ports"
			}
			t.Run(name, func(t *testing.T) {
				tool := IPTablesCommand(model.IPv4, mode, "")
				netnstest.RequireRoot(t, tool+"-restore", tool+"-save")
				ns := netnstest.New(t)
				applyIncrementally(t, newApplier(ExecRunner{Prefix: ns.Prefix()}, mode, model.IPv4, nil, nil), steps, shared)
				fresh := netnstest.New(t)
				b := newApplier(ExecRunner{Prefix: fresh.Prefix()}, mode, model.IPv4, nil, nil)
				if _, err := b.Apply(context.Background(), trafficModel(t, steps[len(steps)-1].manifests), false); err != nil {
					t.Fatal(err)
				}
				for _, table := range []string{"nat", "filter"} {
					if got, want := canonicalSave(t, ns, tool, table), canonicalSave(t, fresh, tool, table); got != want {
						t.Errorf("after incremental updates the %s table differs from a full apply:\n%s\nwant:\n%s", table, got, want)
					}
				}
			})
		}
	}
}

// applyIncrementally applies the first step in full and the others
// incrementally, each model keeping the previous one's unchanged ports if
// shared.
func applyIncrementally(t *testing.T, a Applier, steps []struct{ name, manifests string }, shared bool) {
	t.Helper()
	ctx := context.Background()
	prev := trafficModel(t, steps[0].manifests)
	if _, err := a.Apply(ctx, prev, false); err != nil {
		t.Fatal(err)
	}
	for _, s := range steps[1:] {
		m := trafficModel(t, s.manifests)
		if shared {
			m = sharePorts(prev, m)
		}
		out, err := a.Apply(ctx, m, true)
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if !out.Incremental {
			t.Errorf("%s: took the full path: %v", s.name, out.Fallback)
		}
		prev = m
	}
}

// counters matches the packet and byte counters of a chain line.
var counters = regexp.MustCompile(`\[\d+:\d+\]$`)

// canonicalSave returns one table as iptables-save shows it, without
// comments and counters, with chains in name order and each chain's rules
// in their order: the order in which chains are listed reflects their
// history, not the state.
func canonicalSave(t *testing.T, ns *netns.NS, tool, table string) string {
	t.Helper()
	out, err := ns.Run(nil, tool+"-save", "-t", table)
	if err != nil {
		t.Fatal(err)
	}
	var chains []string
	rules := map[string][]string{}
	for line := range strings.Lines(out) {
		line = strings.TrimRight(line, "\n")
		switch {
		case strings.HasPrefix(line, ":"):
			chains = append(chains, counters.ReplaceAllString(line, ""))
		case strings.HasPrefix(line, "-A "):
			name, _, _ := strings.Cut(line[3:], " ")
			rules[name] = append(rules[name], line)
		}
	}
	slices.Sort(chains)
	var b strings.Builder
	for _, c := range chains {
		b.WriteString(c + "\n")
		name, _, _ := strings.Cut(c[1:], " ")
		for _, r := range rules[name] {
			b.WriteString(r + "\n")
		}
	}
	return b.String()
}

// TestIPTablesTrafficAfterUpdate applies the last state of the
// incremental sequence in full, then reaches trafficServices with one
// incremental update (a Service removed and one re-added, endpoints
// changed back, a NodePort removed), and sends real connections through
// the node: the rules an update leaves must behave as a full apply's.
func TestIPTablesTrafficAfterUpdate(t *testing.T) {
	steps := incrementalSteps(t)
	for _, mode := range []Mode{ModeIPTablesLegacy, ModeIPTablesNFT} {
		t.Run(string(mode), func(t *testing.T) {
			e := newTrafficEnv(t, mode)
			e.apply(t, steps[len(steps)-1].manifests)
			out, err := e.applier.Apply(context.Background(), trafficModel(t, trafficServices), true)
			if err != nil {
				t.Fatalf("updating %s rules: %v", mode, err)
			}
			if !out.Incremental {
				t.Fatalf("the update took the full path: %v", out.Fallback)
			}
			for _, tc := range trafficCases {
				t.Run(tc.name, func(t *testing.T) { tc.run(t, e) })
			}
		})
	}
}

// sharePorts returns next with the pointer of prev's port wherever prev
// has an equal port, as the model builder keeps the pointers of Services
// that did not change.
func sharePorts(prev, next *model.Model) *model.Model {
	byName := map[model.PortName]*model.ServicePort{}
	for _, sp := range prev.Services {
		byName[sp.Name] = sp
	}
	out := *next
	out.Services = make([]*model.ServicePort, len(next.Services))
	for i, sp := range next.Services {
		if old := byName[sp.Name]; old != nil && model.SamePort(old, sp) {
			sp = old
		}
		out.Services[i] = sp
	}
	return &out
}
