package iptables

import (
	"bytes"
	"strings"
	"testing"

	"github.com/svcproxy/svcproxy/internal/netns"
	"github.com/svcproxy/svcproxy/internal/netnstest"

	"github.com/svcproxy/svcproxy/pkg/model"
)

// TestKernelLoadsPayload loads the payload of a model that uses every rule
// form into the real iptables tools, legacy and nft, in a throwaway network
// namespace: the tracer only proves what the rules mean, this proves the
// kernel and the tools accept them. It loads the payload twice, as a resync
// would, and adds the jumps the way the applier does.
func TestKernelLoadsPayload(t *testing.T) {
	netnstest.RequireRoot(t)
	tests := []struct {
		name    string
		family  model.Family
		command string // restore is command + "-restore", save command + "-save"
	}{
		{"legacy ipv4", model.IPv4, "iptables-legacy"},
		{"nft ipv4", model.IPv4, "iptables-nft"},
		{"legacy ipv6", model.IPv6, "ip6tables-legacy"},
		{"nft ipv6", model.IPv6, "ip6tables-nft"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			netnstest.RequireRoot(t, tt.command, tt.command+"-restore", tt.command+"-save")
			ns := netnstest.New(t)
			rs := Render(richModel(tt.family))
			payload := rs.Payload()
			inNetns(t, ns, payload, tt.command+"-restore", "--noflush", "--test")
			inNetns(t, ns, payload, tt.command+"-restore", "--noflush")
			inNetns(t, ns, payload, tt.command+"-restore", "--noflush")
			want := 0
			for _, tbl := range rs.Tables {
				for _, j := range tbl.Jumps {
					args := append([]string{"-w", "-t", tbl.Name, "-A", j.Chain}, args(j.Rule)...)
					inNetns(t, ns, nil, tt.command, args...)
				}
				want += len(tbl.Jumps)
				for _, c := range tbl.Chains {
					want += len(c.Rules)
				}
			}
			saved := inNetns(t, ns, nil, tt.command+"-save")
			if got := strings.Count(saved, "\n-A "); got != want {
				t.Errorf("%s-save shows %d rules, want %d:\n%s", tt.command, got, want, saved)
			}
		})
	}
}

// inNetns runs a command in ns with stdin and returns its output, failing
// the test if it fails.
func inNetns(t *testing.T, ns *netns.NS, stdin []byte, name string, args ...string) string {
	t.Helper()
	out, err := ns.Run(bytes.NewReader(stdin), name, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
