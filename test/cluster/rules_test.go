package cluster

import (
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/svcproxy/svcproxy/internal/kubecluster"
)

// proxyChain matches the names of the iptables chains of kube-proxy, which
// svcproxy's iptables mode shares, and of kube-proxy's canary.
var proxyChain = regexp.MustCompile(`\b(KUBE-(SERVICES|NODEPORTS|POSTROUTING|MARK-MASQ|FORWARD|EXTERNAL-SERVICES|PROXY-FIREWALL|PROXY-CANARY)\b|KUBE-(SVC|SEP|EXT|SVL|FW|XLB)-)`)

// proxyTable matches the nftables tables of kube-proxy and svcproxy.
var proxyTable = regexp.MustCompile(`^table ip6? (kube-proxy|svcproxy)$`)

// counters are the packet and byte counts of iptables-save, which change
// with every packet.
var counters = regexp.MustCompile(`\[\d+:\d+\]`)

// rules is what the node's kernel holds, by backend.
type rules struct {
	legacy, nft []string // iptables-save lines of each variant, both families
	tables      []string // nft list tables
}

// readRules dumps every backend of the node.
func readRules(t *testing.T, c *kubecluster.Cluster) rules {
	t.Helper()
	var r rules
	for _, d := range []struct {
		to    *[]string
		cmds  []string
		strip bool
	}{
		{&r.legacy, []string{"iptables-legacy-save", "ip6tables-legacy-save"}, true},
		{&r.nft, []string{"iptables-nft-save", "ip6tables-nft-save"}, true},
		{&r.tables, []string{"nft list tables"}, false},
	} {
		for _, cmd := range d.cmds {
			f := strings.Fields(cmd)
			out, err := c.NetNS.Run(nil, f[0], f[1:]...)
			if err != nil {
				t.Fatal(err)
			}
			for line := range strings.Lines(out) {
				line = strings.TrimSpace(line)
				if line == "" || strings.HasPrefix(line, "#") {
					continue
				}
				*d.to = append(*d.to, counters.ReplaceAllString(line, "[]"))
			}
		}
	}
	return r
}

// proxies returns the lines of kube-proxy's and svcproxy's rules.
func (r rules) proxies() (legacy, nft, tables []string) {
	return slices.DeleteFunc(slices.Clone(r.legacy), notProxy),
		slices.DeleteFunc(slices.Clone(r.nft), notProxy),
		slices.DeleteFunc(slices.Clone(r.tables), func(l string) bool { return !proxyTable.MatchString(l) })
}

// others returns every line that is not a proxy's: other tools' chains
// and rules (the kubelet's, CNI's), and the tables they live in.
func (r rules) others() []string {
	var out []string
	for _, l := range r.legacy {
		if notProxy(l) {
			out = append(out, "legacy "+l)
		}
	}
	for _, l := range r.nft {
		if notProxy(l) {
			out = append(out, "nft "+l)
		}
	}
	for _, l := range r.tables {
		if !proxyTable.MatchString(l) {
			out = append(out, l)
		}
	}
	slices.Sort(out)
	return out
}

func notProxy(line string) bool {
	return !proxyChain.MatchString(line)
}

// String lists every line of r, by backend, for a failure message.
func (r rules) String() string {
	return "iptables-legacy:\n" + strings.Join(r.legacy, "\n") +
		"\niptables-nft:\n" + strings.Join(r.nft, "\n") +
		"\nnftables:\n" + strings.Join(r.tables, "\n")
}
