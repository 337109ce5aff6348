package sync

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/svcproxy/svcproxy/pkg/model"
	"github.com/svcproxy/svcproxy/pkg/render"
)

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

// unitModel returns a one-Service model whose endpoint is at ep, built
// without the model builder.
func unitModel(ep string) *model.Model {
	sp := &model.ServicePort{
		Name:      model.PortName{Namespace: "ns", Name: "web", Port: "http", Protocol: model.TCP},
		ClusterIP: netip.MustParseAddr("172.30.0.10"), Port: 80, HasEndpoints: true,
	}
	sp.Hash = model.ServicePortHash(sp.Name)
	e := model.Endpoint{IP: netip.MustParseAddr(ep), Port: 8080, Ready: true, Serving: true, NodeName: "node-b"}
	e.Hash = model.EndpointHash(sp.Name, e)
	sp.ClusterEndpoints = []model.Endpoint{e}
	return &model.Model{Family: model.IPv4, Services: []*model.ServicePort{sp},
		Node:   model.Node{Name: "node-a", IPs: []netip.Addr{netip.MustParseAddr("192.168.0.10")}},
		Config: model.Config{MasqueradeBit: model.DefaultMasqueradeBit}}
}

func TestIPTablesApplyQuotesRejectedLine(t *testing.T) {
	restore := "iptables-legacy-restore --noflush --wait=5"
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
			a := &IPTables{Family: model.IPv4, Mode: ModeIPTablesLegacy, Runner: f}
			_, err := a.Apply(context.Background(), unitModel("10.1.2.5"), false)
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

// TestApplyOutcome takes each applier through a first apply, a delta, a
// delta the kernel refuses and one after that, with a fake tool: what ran
// and why must be what the Outcome says, and a refused delta must be
// followed at once by a full apply.
func TestApplyOutcome(t *testing.T) {
	tests := []struct {
		name string
		mode Mode
		// load is the command that loads a payload; save, when set,
		// the command only a full apply runs.
		load, save string
	}{
		{"iptables-legacy", ModeIPTablesLegacy, "iptables-legacy-restore --noflush --wait=5", "iptables-legacy-save -t nat"},
		{"iptables-nft", ModeIPTablesNFT, "iptables-nft-restore --noflush --wait=5", "iptables-nft-save -t nat"},
		{"nftables", ModeNFTables, "nft -f -", ""},
	}
	type step struct {
		name        string
		ep          string
		incremental bool
		refuse      bool
		// wantIncremental and wantFallback are the Outcome expected;
		// wantFull is whether a full payload was loaded.
		wantIncremental, wantFallback, wantFull bool
	}
	steps := []step{
		{name: "first sync asked incremental", ep: "10.1.2.5", incremental: true, wantFallback: true, wantFull: true},
		{name: "one endpoint moved", ep: "10.1.2.6", incremental: true, wantIncremental: true},
		{name: "nothing changed", ep: "10.1.2.6", incremental: true, wantIncremental: true},
		{name: "a delta refused", ep: "10.1.2.7", incremental: true, refuse: true, wantFallback: true, wantFull: true},
		{name: "after the refusal", ep: "10.1.2.8", incremental: true, wantIncremental: true},
		{name: "full asked", ep: "10.1.2.8", wantFull: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeRunner{}
			a := newApplier(f, tt.mode, model.IPv4, nil, nil)
			for _, s := range steps {
				f.ran, f.stdin = nil, nil
				out, err := applyRefusingOnce(a, f, s.ep, s.incremental, tt.load, s.refuse)
				if err != nil {
					t.Fatalf("%s: %v", s.name, err)
				}
				if out.Incremental != s.wantIncremental || (out.Fallback != nil) != s.wantFallback {
					t.Errorf("%s: outcome %+v, want incremental %v, fallback %v", s.name, out, s.wantIncremental, s.wantFallback)
				}
				if s.wantFallback && !s.refuse && !errors.Is(out.Fallback, render.ErrFullSync) {
					t.Errorf("%s: fallback %v does not wrap render.ErrFullSync", s.name, out.Fallback)
				}
				full := fullLoaded(f, tt.load, tt.save)
				if full != s.wantFull {
					t.Errorf("%s: full payload loaded %v, want %v (ran %q)", s.name, full, s.wantFull, f.ran)
				}
				if len(out.Counts) == 0 || out.Family != model.IPv4 {
					t.Errorf("%s: outcome %+v has no counts or family", s.name, out)
				}
				if tt.mode != ModeNFTables && s.wantFull && !slices.Equal(out.Sent, out.Counts) {
					t.Errorf("%s: a full apply sent %v, want all the tables hold, %v", s.name, out.Sent, out.Counts)
				}
				if tt.mode != ModeNFTables && !s.wantFull && slices.Equal(out.Sent, out.Counts) {
					t.Errorf("%s: a delta is counted as sending all the tables hold, %v", s.name, out.Sent)
				}
			}
		})
	}
}

// applyRefusingOnce applies through a, refusing the first load when
// refuse is set.
func applyRefusingOnce(a Applier, f *fakeRunner, ep string, incremental bool, load string, refuse bool) (Outcome, error) {
	if !refuse {
		return a.Apply(context.Background(), unitModel(ep), incremental)
	}
	once := &onceFailing{fakeRunner: f, cmd: load}
	switch ap := a.(type) {
	case *IPTables:
		ap.Runner = once
		defer func() { ap.Runner = f }()
	case *NFTables:
		ap.Runner = once
		defer func() { ap.Runner = f }()
	}
	return a.Apply(context.Background(), unitModel(ep), incremental)
}

// onceFailing fails the first run of cmd, then runs as fakeRunner does.
type onceFailing struct {
	*fakeRunner
	cmd    string
	failed bool
}

func (o *onceFailing) Run(ctx context.Context, stdin []byte, name string, args ...string) ([]byte, error) {
	out, err := o.fakeRunner.Run(ctx, stdin, name, args...)
	if strings.Join(append([]string{name}, args...), " ") == o.cmd && !o.failed {
		o.failed = true
		return nil, &CommandError{Command: o.cmd, ExitCode: 1, Stderr: "refused"}
	}
	return out, err
}

// fullLoaded reports whether the last load was of a full payload: for
// iptables one that read the tables first, for nftables one that
// replaces the table.
func fullLoaded(f *fakeRunner, load, save string) bool {
	if save != "" {
		return slices.Contains(f.ran, save)
	}
	return strings.Contains(f.stdin[load], "delete table ip svcproxy")
}
