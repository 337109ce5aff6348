package bench

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/svcproxy/svcproxy/pkg/render"
	"github.com/svcproxy/svcproxy/pkg/sync"
)

// countText counts the chains, rules and set/map elements of a rendered
// ruleset from its text, independently of the renderers' own counts.
// iptables: ":" chain lines and "-A" rule lines. nftables: "add chain"
// and "add rule" lines; element commands are merged, so a line holds one
// more element than it has ", " separators.
func countText(rendered string, mode sync.Mode) render.Counts {
	var c render.Counts
	for line := range strings.Lines(rendered) {
		if mode != sync.ModeNFTables {
			switch {
			case strings.HasPrefix(line, ":"):
				c.Chains++
			case strings.HasPrefix(line, "-A "):
				c.Rules++
			}
			continue
		}
		switch {
		case strings.HasPrefix(line, "add chain "):
			c.Chains++
		case strings.HasPrefix(line, "add rule "):
			c.Rules++
		case strings.HasPrefix(line, "add element "):
			c.Elements += strings.Count(line, ", ") + 1
		}
	}
	return c
}

func TestRender(t *testing.T) {
	sc, err := BuildScenario(Mix{Services: 30, Endpoints: 2, NodePortEvery: 10})
	if err != nil {
		t.Fatal(err)
	}
	for _, mode := range Modes {
		t.Run(string(mode), func(t *testing.T) {
			cost, err := Render(sc.Initial, mode)
			if err != nil {
				t.Fatal(err)
			}
			if cost.Bytes == 0 || cost.Duration <= 0 {
				t.Errorf("nothing measured: %+v", cost)
			}
			if cost.Counts.Rules == 0 || cost.Counts.Chains == 0 {
				t.Errorf("nothing counted: %+v", cost.Counts)
			}
			if mode == sync.ModeNFTables && cost.Counts.Elements == 0 {
				t.Errorf("no nftables elements counted: %+v", cost.Counts)
			}
			// The counts the metrics report must be what the text holds.
			text, err := renderer(mode)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(countText(text(sc.Initial), mode), cost.Counts); diff != "" {
				t.Errorf("the renderer's counts differ from its text's (-text +renderer):\n%s", diff)
			}
		})
	}
	if _, err := Render(sc.Initial, "ipvs"); err == nil || !strings.Contains(err.Error(), "ipvs") {
		t.Errorf("rendering in an unknown mode: got %v, want an error naming it", err)
	}
}

func TestParseModes(t *testing.T) {
	tests := []struct {
		name    string
		in      []string
		want    []sync.Mode
		wantErr bool
	}{
		{name: "all", in: []string{"nftables", "iptables-legacy", "iptables-nft"}, want: Modes},
		{name: "one", in: []string{"iptables-nft"}, want: []sync.Mode{sync.ModeIPTablesNFT}},
		{name: "unknown", in: []string{"nftables", "ipvs"}, wantErr: true},
		{name: "none", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseModes(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("got error %v, want error %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("modes (-want +got):\n%s", diff)
			}
		})
	}
}
