package iptables

import (
	"strings"
	"testing"

	"github.com/svcproxy/svcproxy/pkg/model"
)

// handRuleset is a small ruleset with two jumps into one built-in chain.
func handRuleset() *Ruleset {
	return &Ruleset{Family: model.IPv4, Tables: []Table{{
		Name: "nat",
		Chains: []Chain{
			{Name: "KUBE-SERVICES", Rules: []string{`-m comment --comment "x" -j KUBE-SVC-AAAA`}},
			{Name: "KUBE-SVC-AAAA", Rules: []string{`-j KUBE-SEP-BBBB`}},
			{Name: "KUBE-SEP-BBBB", Rules: []string{`-p tcp -j DNAT --to-destination 10.1.0.5:80`}},
		},
		Jumps: []Jump{
			{Chain: "PREROUTING", Rule: `-m comment --comment "kubernetes service portals" -j KUBE-SERVICES`},
			{Chain: "PREROUTING", Rule: `-m comment --comment "second" -j KUBE-NODEPORTS`},
		},
	}}}
}

// checkContains fails t for each of want that text lacks and each of
// notWant that it has.
func checkContains(t *testing.T, text string, want, notWant []string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(text, w) {
			t.Errorf("payload lacks %q:\n%s", w, text)
		}
	}
	for _, w := range notWant {
		if strings.Contains(text, w) {
			t.Errorf("payload has %q:\n%s", w, text)
		}
	}
}

func TestRestorePayload(t *testing.T) {
	jumpA := `-m comment --comment "kubernetes service portals" -j KUBE-SERVICES`
	jumpB := `-m comment --comment "second" -j KUBE-NODEPORTS`
	tests := []struct {
		name    string
		save    string
		want    []string
		notWant []string
	}{
		{
			name: "empty table gets the jumps, in order",
			save: "*nat\n:PREROUTING ACCEPT [0:0]\nCOMMIT\n",
			want: []string{"-I PREROUTING 1 " + jumpB + "\n-I PREROUTING 1 " + jumpA, ":KUBE-SEP-BBBB - [0:0]", "-A KUBE-SVC-AAAA -j KUBE-SEP-BBBB"},
		},
		{
			name:    "no table saved is an empty one",
			save:    "",
			want:    []string{"-I PREROUTING 1 " + jumpA, ":KUBE-SEP-BBBB - [0:0]"},
			notWant: []string{"-D ", "-X "},
		},
		{
			name:    "jumps in place are left alone, so a second apply changes nothing",
			save:    "*nat\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING " + jumpA + "\n-A PREROUTING " + jumpB + "\n-A PREROUTING -j DOCKER\nCOMMIT\n",
			notWant: []string{"-I PREROUTING", "-D PREROUTING", "DOCKER"},
		},
		{
			name: "jumps out of order are replaced",
			save: "*nat\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING " + jumpB + "\n-A PREROUTING " + jumpA + "\nCOMMIT\n",
			want: []string{"-D PREROUTING " + jumpB, "-D PREROUTING " + jumpA, "-I PREROUTING 1 " + jumpA},
		},
		{
			name:    "stale owned chains are flushed and deleted, other tools' chains are not",
			save:    "*nat\n:PREROUTING ACCEPT [0:0]\n:KUBE-SEP-OLD - [0:0]\n:DOCKER - [0:0]\n-A PREROUTING " + jumpA + "\n-A PREROUTING " + jumpB + "\nCOMMIT\n",
			want:    []string{":KUBE-SEP-OLD - [0:0]", "-X KUBE-SEP-OLD"},
			notWant: []string{":DOCKER", "-X DOCKER"},
		},
		{
			name:    "a stale chain another tool jumps to is only flushed",
			save:    "*nat\n:KUBE-SEP-OLD - [0:0]\n:OTHER - [0:0]\n-A OTHER -j KUBE-SEP-OLD\nCOMMIT\n",
			want:    []string{":KUBE-SEP-OLD - [0:0]"},
			notWant: []string{"-X KUBE-SEP-OLD"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := string(handRuleset().RestorePayload(ParseSave([]byte(tt.save)), Legacy))
			checkContains(t, got, tt.want, tt.notWant)
		})
	}
}

func TestRestorePayloadDeclarationOrder(t *testing.T) {
	tests := []struct {
		name    string
		variant Variant
		want    string
	}{
		{"legacy", Legacy, ":KUBE-SEP-BBBB - [0:0]\n:KUBE-SERVICES - [0:0]\n:KUBE-SVC-AAAA - [0:0]\n"},
		{"nft", NFT, ":KUBE-SVC-AAAA - [0:0]\n:KUBE-SERVICES - [0:0]\n:KUBE-SEP-BBBB - [0:0]\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := string(handRuleset().RestorePayload(ParseSave([]byte("*nat\nCOMMIT\n")), tt.variant))
			if !strings.Contains(got, tt.want) {
				t.Errorf("payload does not declare the chains as\n%s\ngot:\n%s", tt.want, got)
			}
		})
	}
}

func TestParseSaveKeepsNoOwnedRules(t *testing.T) {
	saved := ParseSave([]byte("*nat\n:PREROUTING ACCEPT [0:0]\n:KUBE-SERVICES - [0:0]\n:DOCKER - [0:0]\n" +
		"-A PREROUTING -j KUBE-SERVICES\n-A KUBE-SERVICES -j KUBE-SVC-X\n-A DOCKER -j RETURN\nCOMMIT\n*filter\nCOMMIT\n"))
	nat := saved["nat"]
	if nat == nil || saved["filter"] == nil {
		t.Fatalf("tables %v, want nat and filter", saved)
	}
	if got := strings.Join(nat.chains, ","); got != "PREROUTING,KUBE-SERVICES,DOCKER" {
		t.Errorf("chains %s", got)
	}
	if len(nat.rules["KUBE-SERVICES"]) != 0 || len(nat.rules["PREROUTING"]) != 1 || len(nat.rules["DOCKER"]) != 1 {
		t.Errorf("rules %v: want those of other chains only", nat.rules)
	}
}

func TestRemovalOf(t *testing.T) {
	save := "*nat\n:PREROUTING ACCEPT [0:0]\n:KUBE-SERVICES - [0:0]\n:KUBE-SEP-X - [0:0]\n:KUBE-PROXY-CANARY - [0:0]\n:KUBE-XLB-Y - [0:0]\n:DOCKER - [0:0]\n" +
		"-A PREROUTING -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES\n-A PREROUTING -j DOCKER\n" +
		"-A KUBE-SERVICES -j KUBE-SEP-X\n-A DOCKER -j KUBE-SEP-X\nCOMMIT\n"
	tests := []struct {
		name          string
		what          Leftovers
		chains, jumps int
		want          []string
		notWant       []string
	}{
		{
			name: "svcproxy's chains and jumps only", what: Leftovers{Own: true}, chains: 2, jumps: 1,
			want:    []string{":KUBE-SERVICES - [0:0]", "-X KUBE-SERVICES", `-D PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES`},
			notWant: []string{"DOCKER", "KUBE-PROXY-CANARY", "KUBE-XLB-Y", "-X KUBE-SEP-X"},
		},
		{
			name: "kube-proxy's leftovers too", what: Leftovers{Own: true, KubeProxy: true}, chains: 4, jumps: 1,
			want:    []string{"-X KUBE-PROXY-CANARY", "-X KUBE-XLB-Y", "-X KUBE-SERVICES"},
			notWant: []string{"DOCKER", "-X KUBE-SEP-X"},
		},
		{
			// A node svcproxy runs on in this variant: its chains are the
			// live ones.
			name: "kube-proxy's leftovers only", what: Leftovers{KubeProxy: true}, chains: 2, jumps: 0,
			want:    []string{"-X KUBE-PROXY-CANARY", "-X KUBE-XLB-Y"},
			notWant: []string{"DOCKER", "KUBE-SERVICES", "KUBE-SEP-X"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := RemovalOf("nat", ParseSave([]byte(save))["nat"], tt.what)
			if r.Chains != tt.chains || r.Jumps != tt.jumps {
				t.Errorf("removes %d chains and %d jumps, want %d and %d", r.Chains, r.Jumps, tt.chains, tt.jumps)
			}
			checkContains(t, string(r.Payload), tt.want, tt.notWant)
		})
	}
	if r := RemovalOf("filter", ParseSave([]byte("*filter\n:INPUT ACCEPT [0:0]\nCOMMIT\n"))["filter"], Leftovers{Own: true, KubeProxy: true}); r.Payload != nil || r.Chains != 0 {
		t.Errorf("a table without owned chains gives %+v, want nothing", r)
	}
}

// TestKubeletFirewallChainIsShared restores over a filter table where
// kubelet made KUBE-FIREWALL and jumps to it first in INPUT. Without
// localhost NodePorts svcproxy leaves both alone; with them, it fills the
// chain and finds kubelet's jump where its own would go.
func TestKubeletFirewallChainIsShared(t *testing.T) {
	for _, localhost := range []bool{false, true} {
		rs := Render(&model.Model{Family: model.IPv4, Config: model.Config{LocalhostNodePorts: localhost}})
		filter := rs.Tables[0]
		save := "*filter\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:KUBE-FIREWALL - [0:0]\n" +
			"-A INPUT -j KUBE-FIREWALL\n-A OUTPUT -j KUBE-FIREWALL\n"
		for _, j := range filter.Jumps {
			if ruleTarget(j.Rule) != chainLocalnetFirewall {
				save += "-A " + j.Chain + " " + j.Rule + "\n"
			}
		}
		save += "-A KUBE-FIREWALL " + localnetGuard + "\nCOMMIT\n"
		got := string(rs.RestorePayload(ParseSave([]byte(save)), Legacy))
		notWant := []string{"-D INPUT -j KUBE-FIREWALL", "-D OUTPUT -j KUBE-FIREWALL", "-X KUBE-FIREWALL"}
		if localhost {
			checkContains(t, got, []string{":KUBE-FIREWALL - [0:0]", "-A KUBE-FIREWALL " + localnetGuard}, append(notWant, "-I INPUT"))
		} else {
			checkContains(t, got, nil, append(notWant, ":KUBE-FIREWALL"))
		}
	}
}

// TestNFAcctCounters renders with the counters: the INVALID drop and the
// localhost NodePorts count in kube-proxy's counters, and the tracer still
// finds the same outcomes; without them, no rule names a counter.
func TestNFAcctCounters(t *testing.T) {
	m := newModel([]string{podCIDR}, servicePort(withNodePort))
	m.Config.LocalhostNodePorts = true
	without := string(Render(m).Payload())
	m.Config.NFAcctCounters = true
	with := string(Render(m).Payload())
	if strings.Contains(without, "nfacct") {
		t.Errorf("rules name a counter though there are none:\n%s", without)
	}
	checkContains(t, with, []string{
		"-A KUBE-FORWARD -m conntrack --ctstate INVALID -m nfacct --nfacct-name " + NFAcctInvalidDropped + " -j DROP",
		"-d 127.0.0.0/8 --dport 30080 -m nfacct --nfacct-name " + NFAcctLocalhostAccepted + " -j KUBE-EXT-",
	}, nil)
	plain := *m
	plain.Config.NFAcctCounters = false
	for _, p := range []string{"node 127.0.0.1 tcp 127.0.0.1:30080", "203.0.113.7 tcp 192.168.0.10:30080", "10.1.0.9 tcp 172.30.0.41:80"} {
		if got, want := trace(t, m, packet(t, p)), trace(t, &plain, packet(t, p)); got != want {
			t.Errorf("%s: %s with the counters, %s without", p, got, want)
		}
	}
}
