package sync

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/svcproxy/svcproxy/pkg/model"
	"github.com/svcproxy/svcproxy/pkg/render/iptables"
)

// testRuleset is a small ruleset with two jumps into one built-in chain.
func testRuleset() *iptables.Ruleset {
	return &iptables.Ruleset{Family: model.IPv4, Tables: []iptables.Table{{
		Name: "nat",
		Chains: []iptables.Chain{
			{Name: "KUBE-SERVICES", Rules: []string{`-m comment --comment "x" -j KUBE-SVC-AAAA`}},
			{Name: "KUBE-SVC-AAAA", Rules: []string{`-j KUBE-SEP-BBBB`}},
			{Name: "KUBE-SEP-BBBB", Rules: []string{`-p tcp -j DNAT --to-destination 10.1.0.5:80`}},
		},
		Jumps: []iptables.Jump{
			{Chain: "PREROUTING", Rule: `-m comment --comment "kubernetes service portals" -j KUBE-SERVICES`},
			{Chain: "PREROUTING", Rule: `-m comment --comment "second" -j KUBE-NODEPORTS`},
		},
	}}}
}

func TestApplyPayload(t *testing.T) {
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
			saved := map[string]*savedTable{"nat": parseSaved(tt.save)["nat"]}
			got := string(applyPayload(testRuleset(), saved, ModeIPTablesLegacy))
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("payload lacks %q:\n%s", w, got)
				}
			}
			for _, w := range tt.notWant {
				if strings.Contains(got, w) {
					t.Errorf("payload has %q:\n%s", w, got)
				}
			}
		})
	}
}

func TestApplyPayloadDeclarationOrder(t *testing.T) {
	tests := []struct {
		mode Mode
		want string
	}{
		{ModeIPTablesLegacy, ":KUBE-SEP-BBBB - [0:0]\n:KUBE-SERVICES - [0:0]\n:KUBE-SVC-AAAA - [0:0]\n"},
		{ModeIPTablesNFT, ":KUBE-SVC-AAAA - [0:0]\n:KUBE-SERVICES - [0:0]\n:KUBE-SEP-BBBB - [0:0]\n"},
	}
	for _, tt := range tests {
		t.Run(string(tt.mode), func(t *testing.T) {
			saved := map[string]*savedTable{"nat": parseSaved("*nat\nCOMMIT\n")["nat"]}
			got := string(applyPayload(testRuleset(), saved, tt.mode))
			if !strings.Contains(got, tt.want) {
				t.Errorf("payload does not declare the chains as\n%s\ngot:\n%s", tt.want, got)
			}
		})
	}
}

// fakeRunner answers commands from a table and records what ran.
type fakeRunner struct {
	outputs map[string]string
	errs    map[string]error
	ran     []string
	stdin   map[string]string
}

func (f *fakeRunner) Run(_ context.Context, stdin []byte, name string, args ...string) ([]byte, error) {
	cmd := strings.Join(append([]string{name}, args...), " ")
	f.ran = append(f.ran, cmd)
	if f.stdin == nil {
		f.stdin = map[string]string{}
	}
	f.stdin[cmd] = string(stdin)
	return []byte(f.outputs[cmd]), f.errs[cmd]
}

func (f *fakeRunner) LookPath(name string) (string, error) {
	if _, ok := f.errs["lookpath "+name]; ok {
		return "", f.errs["lookpath "+name]
	}
	return "/usr/sbin/" + name, nil
}

func TestIPTablesApplyQuotesRejectedLine(t *testing.T) {
	restore := "iptables-legacy-restore --noflush --wait"
	tests := []struct{ name, stderr, reason string }{
		{"commit failure", "iptables-restore: line 3 failed", "iptables-restore: line 3 failed"},
		{"parse failure", "iptables-restore v1.8.9 (legacy): Couldn't load target `X'\n\nError occurred at line: 3\nTry `iptables-restore -h' for more information.",
			"iptables-restore v1.8.9 (legacy): Couldn't load target `X'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeRunner{errs: map[string]error{
				restore: &CommandError{Command: restore, ExitCode: 1, Stderr: tt.stderr},
			}}
			a := &IPTables{Family: 4, Mode: ModeIPTablesLegacy, Runner: f}
			err := a.Apply(context.Background(), testRuleset())
			var rej *RejectedError
			if !errors.As(err, &rej) {
				t.Fatalf("error %v is not a RejectedError", err)
			}
			if lines := strings.Split(f.stdin[restore], "\n"); rej.Line != 3 || rej.Text != lines[2] || rej.Reason != tt.reason {
				t.Errorf("rejected line %d %q (%q), want 3 %q (%q)", rej.Line, rej.Text, rej.Reason, lines[2], tt.reason)
			}
		})
	}
}
