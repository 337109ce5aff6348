package nftables

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	nfttrace "github.com/svcproxy/svcproxy/internal/tracer/nftables"
	"github.com/svcproxy/svcproxy/pkg/model"
	"github.com/svcproxy/svcproxy/pkg/render"
)

// TestRenderRuleset checks what the applier relies on in RenderRuleset:
// its transaction loads the way nft reads it (every chain, set and map
// declared before it is named); the table it leaves holds what the
// State counts, which is what the metrics report; no element command
// holds more than maxElementsPerCommand elements; and one model always
// gives the same text.
func TestRenderRuleset(t *testing.T) {
	tests := []struct {
		name  string
		model *model.Model
	}{
		{"rich IPv4", richModel(model.IPv4)},
		{"rich IPv6", richModel(model.IPv6)},
		{"empty", newModel(model.IPv4, noCIDRs, node4)},
		{"no cluster CIDRs", newModel(model.IPv4, noCIDRs, node4, svc("a", clusterIP, twoEps, nodePort(30080)))},
		// Over 1,000 elements in a map, so its commands are split.
		{"large", bigModel(300, 5)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs := RenderRuleset(tt.model)
			table, err := nfttrace.Load(string(rs.Transaction()))
			if err != nil {
				t.Fatalf("loading the text: %v\n%s", err, rs.Text)
			}
			if got, want := []render.Counts{countsOf(table)}, rs.State().Counts(); !slices.Equal(got, want) {
				t.Errorf("loaded table holds %+v, the State counts %+v", got, want)
			}
			checkElementCommands(t, rs.Text)
			if again := RenderRuleset(tt.model).Text; again != rs.Text {
				t.Errorf("two renders of one model differ:\n%s", cmp.Diff(rs.Text, again))
			}
		})
	}
}

// countsOf counts a loaded table's chains, rules and elements.
func countsOf(table *nfttrace.Table) render.Counts {
	c := render.Counts{Table: TableName, Chains: len(table.Chains)}
	for _, ch := range table.Chains {
		c.Rules += len(ch.Rules)
	}
	for _, sets := range []map[string]*nfttrace.Set{table.Sets, table.Maps} {
		for _, s := range sets {
			c.Elements += len(s.Elements)
		}
	}
	return c
}

// checkElementCommands checks that no element command of text holds more
// than maxElementsPerCommand elements: nft quotes the whole command in
// an error, and a longer one would make that unreadable.
func checkElementCommands(t *testing.T, text string) {
	t.Helper()
	for line := range strings.Lines(text) {
		if !strings.HasPrefix(line, "add element ") {
			continue
		}
		if n := strings.Count(line, ",") + 1; n > maxElementsPerCommand {
			t.Errorf("an element command holds %d elements, more than %d: %.80s...", n, maxElementsPerCommand, line)
		}
	}
}

// TestRenderRulesetNamesOnlyDeclaredObjects takes out, one object at a
// time, every chain, set and map that no hook calls, with the commands
// that fill it, from the text of a model that uses every feature (the
// nodeport-ips set, which every table has, is used only with
// NodePortAddresses). Loading must then fail, which proves both that the
// loader checks references in the real text and that such a model needs
// every object the renderer makes.
func TestRenderRulesetNamesOnlyDeclaredObjects(t *testing.T) {
	for _, fam := range model.Families {
		m := richModel(fam)
		ip := m.Node.IPs[0]
		m.Config.NodePortAddresses = []netip.Prefix{netip.PrefixFrom(ip, ip.BitLen())}
		rs := RenderRuleset(m)
		lines := strings.SplitAfter(rs.Text, "\n")
		for _, line := range lines {
			if !isDeclaration(line) {
				continue
			}
			name := strings.Fields(line)[4]
			t.Run(fam.String()+"/"+name, func(t *testing.T) {
				// Every command's fifth word is the object it adds to,
				// flushes or fills.
				rest := slices.DeleteFunc(slices.Clone(lines), func(l string) bool {
					f := strings.Fields(l)
					return len(f) > 4 && f[4] == name
				})
				text := strings.Join(rest, "")
				if _, err := nfttrace.Load(string((&Ruleset{Text: text, family: Family(fam)}).Transaction())); err == nil {
					t.Errorf("the text loaded without %s", name)
				}
			})
		}
	}
}

// isDeclaration reports whether line adds a set, a map or a regular
// chain; a base chain is called by its hook, not by name.
func isDeclaration(line string) bool {
	f := strings.Fields(line)
	if len(f) < 5 || f[0] != "add" {
		return false
	}
	switch f[1] {
	case "set", "map":
		return true
	case "chain":
		return !strings.Contains(line, " hook ")
	}
	return false
}
