package nfttrace

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"sigs.k8s.io/knftables"
)

// decls declares table ip t with a regular chain, a set, an interval set
// and two maps, for the commands of the tests below.
const decls = `add table ip t { comment "test table" ; }
add chain ip t c
add chain ip t pre { type nat hook prerouting priority dstnat ; }
add set ip t s { type ipv4_addr ; }
add set ip t cidrs { type ipv4_addr ; flags interval ; auto-merge ; }
add map ip t vm { type ipv4_addr . inet_proto . inet_service : verdict ; }
add map ip t dm { typeof ip daddr . numgen random mod 2 : ip daddr . tcp dport ; }
`

// loaded is what a test expects of a loaded table: its chains when
// chains is not nil, and the elements of each set and map named.
type loaded struct {
	chains     map[string]*Chain
	sets, maps map[string][]Element
}

func TestLoad(t *testing.T) {
	tests := []struct {
		name string
		text string
		want loaded
	}{
		{
			name: "declarations",
			text: decls,
			want: loaded{chains: map[string]*Chain{"c": {}, "pre": {Hook: knftables.PreroutingHook, Priority: -100}}},
		},
		{
			name: "rules keep their comments apart, merged elements split",
			text: decls +
				"add rule ip t c ip saddr @s goto pre comment \"a \\\"quoted\\\" ; comment\"\n" +
				"add rule ip t c ip daddr . meta l4proto . th dport vmap @vm\n" +
				"add element ip t s { 10.1.1.5, 10.1.2.6 }\n" +
				"add element ip t cidrs { 10.1.0.0/16 }\n" +
				"add element ip t vm { 172.30.0.10 . tcp . 80 : goto c, 172.30.0.11 . udp . 53 : drop }\n" +
				"add element ip t dm { 172.30.0.10 . 0 : 10.1.1.5 . 8080 }\n",
			want: loaded{
				chains: map[string]*Chain{
					"c":   {Rules: []string{"ip saddr @s goto pre", "ip daddr . meta l4proto . th dport vmap @vm"}, Comments: []string{`a "quoted" ; comment`, ""}},
					"pre": {Hook: knftables.PreroutingHook, Priority: -100},
				},
				sets: map[string][]Element{"s": {{Key: []string{"10.1.1.5"}}, {Key: []string{"10.1.2.6"}}}, "cidrs": {{Key: []string{"10.1.0.0/16"}}}},
				maps: map[string][]Element{
					"vm": {{Key: []string{"172.30.0.10", "tcp", "80"}, Value: []string{"goto c"}}, {Key: []string{"172.30.0.11", "udp", "53"}, Value: []string{"drop"}}},
					"dm": {{Key: []string{"172.30.0.10", "0"}, Value: []string{"10.1.1.5", "8080"}}},
				},
			},
		},
		{
			name: "the applier's prefix deletes what the table held",
			text: decls + "add element ip t s { 10.1.1.5 }\n" +
				"add table ip t\ndelete table ip t\nadd table ip t\nadd set ip t s { type ipv4_addr ; }\n",
			want: loaded{sets: map[string][]Element{"s": nil}},
		},
		{
			name: "flushing the table keeps elements",
			text: decls + "add rule ip t c drop\nadd element ip t s { 10.1.1.5 }\nflush table ip t\n",
			want: loaded{chains: map[string]*Chain{"c": {}, "pre": {Hook: knftables.PreroutingHook, Priority: -100}}, sets: map[string][]Element{"s": {{Key: []string{"10.1.1.5"}}}}},
		},
		{
			name: "flushing a map empties it, and adding it again changes nothing",
			text: decls + "add element ip t vm { 172.30.0.10 . tcp . 80 : drop }\nflush map ip t vm\n" +
				"add map ip t vm { type ipv4_addr . inet_proto . inet_service : verdict ; }\n",
			want: loaded{maps: map[string][]Element{"vm": nil}},
		},
		{
			name: "an element added twice with the same value is kept once",
			text: decls + "add element ip t vm { 172.30.0.10 . tcp . 80 : drop }\nadd element ip t vm { 172.30.0.10 . tcp . 80 : drop }\n",
			want: loaded{maps: map[string][]Element{"vm": {{Key: []string{"172.30.0.10", "tcp", "80"}, Value: []string{"drop"}}}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Load(tt.text)
			if err != nil {
				t.Fatal(err)
			}
			if got.Family != knftables.IPv4Family || got.Name != "t" {
				t.Errorf("loaded table %s %s, want ip t", got.Family, got.Name)
			}
			checkTable(t, got, tt.want)
		})
	}
}

// checkTable compares got with what want sets.
func checkTable(t *testing.T, got *Table, want loaded) {
	t.Helper()
	if want.chains != nil {
		if diff := cmp.Diff(want.chains, got.Chains, cmpopts.IgnoreFields(Chain{}, "Name"), cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("chains (-want +got):\n%s", diff)
		}
	}
	for _, c := range []struct {
		kind string
		want map[string][]Element
		got  map[string]*Set
	}{{"set", want.sets, got.Sets}, {"map", want.maps, got.Maps}} {
		for name, elems := range c.want {
			s := c.got[name]
			if s == nil {
				t.Errorf("no %s %s", c.kind, name)
				continue
			}
			if diff := cmp.Diff(elems, s.Elements, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("%s %s elements (-want +got):\n%s", c.kind, name, diff)
			}
		}
	}
}

// TestLoadRefuses checks that Load fails where nft would, above all on
// a reference to a chain, set or map that was not declared before it.
func TestLoadRefuses(t *testing.T) {
	tests := []struct {
		name, text, want string
	}{
		{"jump to an undeclared chain", decls + "add rule ip t c jump nowhere\n", `no chain "nowhere"`},
		{"goto a chain declared later", decls + "add rule ip t c goto later\nadd chain ip t later\n", `no chain "later"`},
		{"goto in an anonymous verdict map", decls + "add rule ip t c numgen random mod 2 vmap { 0 : goto c , 1 : goto gone }\n", `no chain "gone"`},
		{"undeclared set", decls + "add rule ip t c ip saddr @nope accept\n", `no set "nope"`},
		{"a set where a map is wanted", decls + "add rule ip t c ip daddr vmap @s\n", `no map "s"`},
		{"a map where a set is wanted", decls + "add rule ip t c ip daddr @vm accept\n", `no set "vm"`},
		{"rule in an undeclared chain", decls + "add rule ip t nowhere accept\n", `no chain "nowhere"`},
		{"verdict element naming an undeclared chain", decls + "add element ip t vm { 172.30.0.10 . tcp . 80 : goto nowhere }\n", `no chain "nowhere"`},
		{"element of an undeclared set", decls + "add element ip t nope { 10.1.1.5 }\n", `no set or map "nope"`},
		{"flush of an undeclared map", decls + "flush map ip t nope\n", `no map "nope"`},
		{"flush of a set as a map", decls + "flush map ip t s\n", `no map "s"`},
		{"map element in a set", decls + "add element ip t s { 10.1.1.5 : drop }\n", "does not fit set s"},
		{"set element in a map", decls + "add element ip t vm { 172.30.0.10 . tcp . 80 }\n", "does not fit map vm"},
		{"key of the wrong shape", decls + "add element ip t vm { 172.30.0.10 . 80 : drop }\n", "2 key parts, map vm has 3"},
		{"value of the wrong shape", decls + "add element ip t dm { 172.30.0.10 . 0 : 10.1.1.5 }\n", "1 value parts, map dm has 2"},
		{"prefix in a set without intervals", decls + "add element ip t s { 10.1.0.0/16 }\n", "no interval set"},
		{"a key again with another value", decls + "add element ip t vm { 172.30.0.10 . tcp . 80 : drop, 172.30.0.10 . tcp . 80 : accept }\n", "exists with another value"},
		{"a set and a map of one name", decls + "add map ip t s { type ipv4_addr : verdict ; }\n", "s is a set already"},
		{"a set with a value type", decls + "add set ip t x { type ipv4_addr : verdict ; }\n", "does not fit a set"},
		{"a set without a type", decls + "add set ip t x { flags interval ; }\n", "declares no type"},
		{"a base chain declared again on another hook", decls + "add chain ip t pre { type nat hook output priority -100 ; }\n", "another declaration"},
		{"an unknown hook", decls + "add chain ip t x { type filter hook ingress priority 0 ; }\n", `unsupported hook "ingress"`},
		{"a drop policy", decls + "add chain ip t x { type filter hook input priority 0 ; policy drop ; }\n", `unsupported "policy drop"`},
		{"a quote outside the comment", decls + "add rule ip t c meta oifname \"eth0\" accept\n", "a quote outside a trailing comment"},
		{"an interface name that is not one", decls + "add rule ip t c iifname \"eth0 accept\" accept\n", "a quote outside a trailing comment"},
		{"an unterminated comment", decls + "add rule ip t c accept comment \"open\n", "bad comment"},
		{"elements without braces", decls + "add element ip t s 10.1.1.5\n", "want { ... }"},
		{"an unsupported command", decls + "delete chain ip t c\n", `unsupported command "delete chain"`},
		{"a command before the table", "add chain ip t c\n", "no table ip t"},
		{"a command after the table is deleted", decls + "delete table ip t\nadd chain ip t c\n", "no table ip t"},
		{"deleting a table that is not there", "delete table ip t\n", "no table ip t"},
		{"a second table", decls + "add table ip6 t\n", "Load reads one table"},
		{"the inet family", "add table inet t\n", `unsupported family "inet"`},
		{"a text that leaves no table", decls + "delete table ip t\n", "leaves no table"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(tt.text)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Load error = %v, want one saying %q", err, tt.want)
			}
		})
	}
}

// TestLoadNamesTheLine checks that an error says where the text went
// wrong, and shortens a long command.
func TestLoadNamesTheLine(t *testing.T) {
	text := decls + "add element ip t s { " + strings.Repeat("10.1.1.5, ", 50) + "10.1.0.0/16 }\n"
	_, err := Load(text)
	if err == nil {
		t.Fatal("Load accepted a prefix in a set without intervals")
	}
	prefix := fmt.Sprintf("line %d: ", strings.Count(decls, "\n")+1)
	if msg := err.Error(); !strings.HasPrefix(msg, prefix) || len(msg) > 300 {
		t.Errorf("Load error = %q, want it to start with %q and be short", msg, prefix)
	}
}
