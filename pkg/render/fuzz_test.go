package render_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/netip"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"golang.org/x/tools/txtar"

	"github.com/svcproxy/svcproxy/pkg/manifest"
	"github.com/svcproxy/svcproxy/pkg/model"
	"github.com/svcproxy/svcproxy/pkg/render/iptables"
	"github.com/svcproxy/svcproxy/pkg/render/nftables"
)

// fuzzInput is what FuzzRender varies: every string a user writes into a
// Service or EndpointSlice that reaches a rule, and the switches that
// pick which rules are written.
type fuzzInput struct {
	name, port, proto, clusterIP, extIP, lbIP, srcRange, epIP, epNode string
	number, nodePort, target, kind                                    int32
	local, affinity                                                   bool
}

// manifest writes the input as a JSON stream, as kubectl would: a
// Service, its EndpointSlice, and a second Service whose external IP
// is the first's cluster IP, so that claims are contested too.
func (in fuzzInput) manifest() []byte {
	types := []v1.ServiceType{v1.ServiceTypeClusterIP, v1.ServiceTypeNodePort, v1.ServiceTypeLoadBalancer}
	svc := &v1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: in.name},
		Spec: v1.ServiceSpec{
			Type: types[uint32(in.kind)%3], ClusterIP: in.clusterIP, ExternalIPs: []string{in.extIP},
			LoadBalancerSourceRanges: []string{in.srcRange},
			Ports:                    []v1.ServicePort{{Name: in.port, Protocol: v1.Protocol(in.proto), Port: in.number, NodePort: in.nodePort}},
		},
		Status: v1.ServiceStatus{LoadBalancer: v1.LoadBalancerStatus{Ingress: []v1.LoadBalancerIngress{{IP: in.lbIP}}}},
	}
	if in.local {
		svc.Spec.ExternalTrafficPolicy = v1.ServiceExternalTrafficPolicyLocal
		svc.Spec.HealthCheckNodePort = in.nodePort + 1
	}
	if in.affinity {
		svc.Spec.SessionAffinity = v1.ServiceAffinityClientIP
	}
	other := svc.DeepCopy()
	other.Name, other.Spec.ClusterIP, other.Spec.ExternalIPs = "other", "172.30.0.99", []string{in.clusterIP}
	sl := &discovery.EndpointSlice{
		TypeMeta:    metav1.TypeMeta{APIVersion: "discovery.k8s.io/v1", Kind: "EndpointSlice"},
		ObjectMeta:  metav1.ObjectMeta{Namespace: "ns", Name: in.name + "-1", Labels: map[string]string{discovery.LabelServiceName: in.name}},
		AddressType: discovery.AddressTypeIPv4,
		Ports:       []discovery.EndpointPort{{Name: ptr.To(in.port), Protocol: ptr.To(v1.Protocol(in.proto)), Port: ptr.To(in.target)}},
		Endpoints:   []discovery.Endpoint{{Addresses: []string{in.epIP}, NodeName: ptr.To(in.epNode)}, {Addresses: []string{"10.1.0.7"}}},
	}
	var b bytes.Buffer
	for _, obj := range []any{svc, other, sl} {
		data, _ := json.Marshal(obj)
		b.Write(data)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// FuzzRender feeds hostile strings and numbers through the whole path,
// manifest to model to both renderers. Nothing may panic, and what comes
// out must be rules the tools take as meant: every line in the grammar
// of iptables-restore or nft -f, every jump and goto to a declared
// chain, every @set declared, every comment within the tools' limits.
// The golden tests prove such output loads into the real tools.
func FuzzRender(f *testing.F) {
	f.Add("web", "http", "TCP", "172.30.0.10", "198.51.100.20", "192.0.2.10", "203.0.113.0/24", "10.1.0.5", "node-a", int32(80), int32(30080), int32(8080), int32(2), true, true)
	f.Add(`x" -j ACCEPT`, "p\n-A", "UDP", "010.0.0.1", "::ffff:1.2.3.4", "fe80::1%eth0", "nonsense", "127.0.0.1", "node-a", int32(-1), int32(70000), int32(0), int32(1), false, true)
	f.Add("a", "dns", "SCTP", "172.30.0.10", "172.30.0.10", "192.168.0.10", "0.0.0.0/0", "10.1.0.5", `n"; drop #`, int32(53), int32(30053), int32(53), int32(2), true, false)
	f.Fuzz(func(t *testing.T, name, port, proto, clusterIP, extIP, lbIP, srcRange, epIP, epNode string, number, nodePort, target, kind int32, local, affinity bool) {
		in := fuzzInput{name, port, proto, clusterIP, extIP, lbIP, srcRange, epIP, epNode, number, nodePort, target, kind, local, affinity}
		objs, _, err := manifest.Load("fuzz", bytes.NewReader(in.manifest()))
		if err != nil {
			t.Fatal(err)
		}
		node := model.Node{Name: "node-a", IPs: []netip.Addr{netip.MustParseAddr("192.168.0.10")}}
		cfg := model.Config{MasqueradeBit: model.DefaultMasqueradeBit, LocalhostNodePorts: true}
		models, _ := model.Build(model.Input{Services: objs.Services, EndpointSlices: objs.EndpointSlices, Node: node}, cfg)
		for _, m := range models {
			if err := checkIPTables(iptables.Render(m).Payload()); err != nil {
				t.Errorf("iptables: %v", err)
			}
			if err := checkNFTables(nftables.RenderRuleset(m).Transaction()); err != nil {
				t.Errorf("nftables: %v", err)
			}
		}
	})
}

var (
	// iptToken is one word of an iptables-restore rule: flags, names,
	// addresses, ports, marks, or a comment in double quotes, which
	// iptables limits to 256 characters.
	iptToken = regexp.MustCompile(`^(?:[A-Za-z0-9_./:!,=+\[\]-]+|"[^"\\\x00-\x1f\x7f]{1,256}")$`)
	// iptChain is a chain name iptables accepts: at most 28 characters.
	iptChain = regexp.MustCompile(`^[A-Z][A-Z0-9-]{0,27}$`)
	// iptTargets are the targets a rule may name that are not chains.
	iptTargets = map[string]bool{"ACCEPT": true, "DROP": true, "RETURN": true, "REJECT": true, "DNAT": true, "SNAT": true, "MASQUERADE": true, "MARK": true}
)

// checkIPTables checks an iptables-restore payload line by line.
func checkIPTables(payload []byte) error {
	var declared map[string]bool
	var refs []string
	for i, line := range strings.Split(strings.TrimSuffix(string(payload), "\n"), "\n") {
		where := fmt.Sprintf("line %d %q", i+1, line)
		switch {
		case strings.HasPrefix(line, "# jump: "):
			if err := checkIPTablesRule(strings.TrimPrefix(line, "# jump: "), &refs); err != nil {
				return fmt.Errorf("%s: %w", where, err)
			}
		case strings.HasPrefix(line, "# "):
		case line == "*filter" || line == "*nat":
			declared, refs = map[string]bool{"INPUT": true, "OUTPUT": true, "FORWARD": true, "PREROUTING": true, "POSTROUTING": true}, nil
		case line == "COMMIT":
			for _, r := range refs {
				if !declared[r] && !iptTargets[r] {
					return fmt.Errorf("%s: a rule of the table jumps to %s, which it does not declare", where, r)
				}
			}
		case strings.HasPrefix(line, ":"):
			name, rest, _ := strings.Cut(line[1:], " ")
			if !iptChain.MatchString(name) || rest != "- [0:0]" {
				return fmt.Errorf("%s: not a chain declaration", where)
			}
			declared[name] = true
		case strings.HasPrefix(line, "-X "):
			if !iptChain.MatchString(line[3:]) {
				return fmt.Errorf("%s: not a chain", where)
			}
		default:
			if err := checkIPTablesRule(line, &refs); err != nil {
				return fmt.Errorf("%s: %w", where, err)
			}
		}
	}
	return nil
}

// checkIPTablesRule checks one -A, -I or -D command and notes the chain
// it jumps to.
func checkIPTablesRule(rule string, refs *[]string) error {
	tokens := splitQuoted(rule)
	if len(tokens) < 2 || (tokens[0] != "-A" && tokens[0] != "-I" && tokens[0] != "-D") || !iptChain.MatchString(tokens[1]) {
		return fmt.Errorf("not a rule command")
	}
	for i, tok := range tokens {
		if !iptToken.MatchString(tok) {
			return fmt.Errorf("token %q is outside the grammar", tok)
		}
		if (tok == "-j" || tok == "-g") && i+1 < len(tokens) {
			*refs = append(*refs, tokens[i+1])
		}
	}
	return nil
}

// splitQuoted splits on spaces, keeping a double-quoted string (which
// the renderers never nest or escape) as one token.
func splitQuoted(s string) []string {
	var out []string
	for s != "" {
		var tok string
		if s[0] == '"' {
			end := strings.IndexByte(s[1:], '"')
			if end < 0 {
				return append(out, s)
			}
			tok, s = s[:end+2], s[end+2:]
		} else {
			tok, s, _ = strings.Cut(s, " ")
		}
		out = append(out, tok)
		s = strings.TrimPrefix(s, " ")
	}
	return out
}

var (
	// nftCommand is the start of every line of a transaction.
	nftCommand = regexp.MustCompile(`^(?:add|flush|delete) (?:table|chain|rule|set|map|element) (?:ip|ip6) svcproxy\b`)
	// nftWord is what may stand outside quotes: no '#', which would
	// start a comment, no quote, no ';' outside a declaration's braces.
	nftWord = regexp.MustCompile(`^[A-Za-z0-9_./:!,&=<>@{}\[\]*-]+$`)
	// nftComment is a comment in quotes; nft limits them to 128 bytes.
	nftComment = regexp.MustCompile(`^"[^"\\\x00-\x1f\x7f]{1,128}"$`)
	// nftInterface is an interface name, or a prefix of one ending in
	// '*', in quotes.
	nftInterface = regexp.MustCompile(`^"[A-Za-z0-9._-]{1,15}\*?"$`)
)

// nftQuoted reports whether a quoted token, after those before it, is a
// comment or an interface name the tools take.
func nftQuoted(before []string, tok string) bool {
	n := len(before)
	if n > 0 && before[n-1] == "comment" {
		return nftComment.MatchString(tok)
	}
	if n > 1 && before[n-1] == "!=" {
		n--
	}
	return n > 0 && (before[n-1] == "iifname" || before[n-1] == "oifname") && nftInterface.MatchString(tok)
}

// checkNFTables checks an nft -f transaction line by line, then that
// every chain jumped to and every set named is declared in it.
func checkNFTables(text []byte) error {
	chains, sets := map[string]bool{}, map[string]bool{}
	var chainRefs, setRefs []string
	for i, line := range strings.Split(strings.TrimSuffix(string(text), "\n"), "\n") {
		if strings.HasPrefix(line, "# ") {
			continue
		}
		where := fmt.Sprintf("line %d %q", i+1, line)
		if !nftCommand.MatchString(line) {
			return fmt.Errorf("%s: not a command", where)
		}
		tokens := splitQuoted(line)
		for j, tok := range tokens {
			switch {
			case tok == ";":
			case strings.HasPrefix(tok, `"`):
				if !nftQuoted(tokens[:j], tok) {
					return fmt.Errorf("%s: quoted %q is neither a comment within the limits nor an interface name", where, tok)
				}
			case !nftWord.MatchString(tok):
				return fmt.Errorf("%s: token %q is outside the grammar", where, tok)
			case (tok == "jump" || tok == "goto") && j+1 < len(tokens):
				chainRefs = append(chainRefs, strings.TrimRight(tokens[j+1], ",}"))
			case strings.HasPrefix(tok, "@"):
				setRefs = append(setRefs, tok[1:])
			}
		}
		if len(tokens) > 4 && tokens[0] == "add" {
			switch tokens[1] {
			case "chain":
				chains[tokens[4]] = true
			case "set", "map":
				sets[tokens[4]] = true
			}
		}
	}
	for _, c := range chainRefs {
		if !chains[c] {
			return fmt.Errorf("a jump or goto to chain %s, which is not declared", c)
		}
	}
	for _, s := range setRefs {
		if !sets[s] {
			return fmt.Errorf("@%s names no declared set or map", s)
		}
	}
	return nil
}

// TestFuzzCheckersAcceptGoldens runs FuzzRender's checkers over every
// golden ruleset, which the real tools load (TestGoldenLoadsIntoKernelTools):
// a checker that refused them would make the fuzz target cry wolf.
func TestFuzzCheckersAcceptGoldens(t *testing.T) {
	paths, err := filepath.Glob("../../testdata/golden/*.txtar")
	if err != nil || len(paths) < 50 {
		t.Fatalf("goldens: %d, %v", len(paths), err)
	}
	for _, path := range paths {
		ar, err := txtar.ParseFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range ar.Files {
			var err error
			switch f.Name {
			case "iptables":
				err = checkIPTables(f.Data)
			case "nftables":
				err = checkNFTables(f.Data)
			}
			if err != nil {
				t.Errorf("%s %s: %v", filepath.Base(path), f.Name, err)
			}
		}
	}
}

// TestFuzzCheckersRefuse shows each checker failing on what it is there
// to catch.
func TestFuzzCheckersRefuse(t *testing.T) {
	long := strings.Repeat("x", 257)
	for _, tt := range []struct {
		name, iptables, nftables string
	}{
		{name: "a jump to an undeclared chain", iptables: "*nat\n:KUBE-SERVICES - [0:0]\n-A KUBE-SERVICES -j KUBE-SVC-X\nCOMMIT\n"},
		{name: "a comment too long", iptables: "*nat\n:KUBE-SERVICES - [0:0]\n-A KUBE-SERVICES -m comment --comment \"" + long + "\" -j ACCEPT\nCOMMIT\n"},
		{name: "a quote breaking out of a comment", iptables: "*nat\n:A - [0:0]\n-A A -m comment --comment \"x\" -j ACCEPT\" -j DROP\nCOMMIT\n"},
		{name: "a chain name too long", iptables: "*nat\n:KUBE-SVC-ABCDEFGHIJKLMNOPQRSTUVWXYZ - [0:0]\nCOMMIT\n"},
		{name: "nft: a # outside quotes", nftables: "add rule ip svcproxy services ip daddr 10.0.0.1 # drop\n"},
		{name: "nft: an undeclared set", nftables: "add chain ip svcproxy services\nadd rule ip svcproxy services ip daddr @nope drop\n"},
		{name: "nft: a goto to an undeclared chain", nftables: "add chain ip svcproxy services\nadd element ip svcproxy m { 10.0.0.1 : goto nowhere }\n"},
		{name: "nft: a comment too long", nftables: "add chain ip svcproxy services\nadd rule ip svcproxy services accept comment \"" + long[:129] + "\"\n"},
		{name: "nft: another table", nftables: "add rule ip filter input accept\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var err error
			if tt.iptables != "" {
				err = checkIPTables([]byte(tt.iptables))
			} else {
				err = checkNFTables([]byte(tt.nftables))
			}
			if err == nil {
				t.Error("accepted")
			}
		})
	}
}
