package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/tools/txtar"

	"github.com/svcproxy/svcproxy/internal/tracer"
	"github.com/svcproxy/svcproxy/pkg/model"
)

// Sections of a scenario file. flags, input.yaml and trace are written by
// hand; stderr, iptables and nftables are golden sections, generated and
// rewritten by test --update. trace is never rewritten: it is the
// behaviour the scenario must have, whatever the rules look like.
const (
	secFlags    = "flags"
	secInput    = "input.yaml"
	secTrace    = "trace"
	secStderr   = "stderr"
	secIPTables = "iptables"
	secNFTables = "nftables"
)

// goldenSections are the sections test --update rewrites.
var goldenSections = []string{secStderr, secIPTables, secNFTables}

// scenario is one scenario file: a txtar archive of render flags, input
// manifests, packets with the outcomes they must have, and optional
// golden sections.
type scenario struct {
	path    string
	archive *txtar.Archive
	flags   []string
	input   []byte
}

func readScenario(path string) (*scenario, error) {
	ar, err := txtar.ParseFile(path)
	if err != nil {
		return nil, err
	}
	sc := &scenario{path: path, archive: ar}
	sc.flags = strings.Fields(string(sc.section(secFlags)))
	sc.input = sc.section(secInput)
	if sc.input == nil {
		return nil, fmt.Errorf("%s: no %s section", path, secInput)
	}
	return sc, nil
}

func (sc *scenario) section(name string) []byte {
	for _, f := range sc.archive.Files {
		if f.Name == name {
			return f.Data
		}
	}
	return nil
}

func (sc *scenario) hasSection(name string) bool {
	for _, f := range sc.archive.Files {
		if f.Name == name {
			return true
		}
	}
	return false
}

func (sc *scenario) setSection(name string, data []byte) {
	for i, f := range sc.archive.Files {
		if f.Name == name {
			sc.archive.Files[i].Data = data
			return
		}
	}
	sc.archive.Files = append(sc.archive.Files, txtar.File{Name: name, Data: data})
}

// render runs `svcproxy render --dry-run` on the scenario's input, as a
// user would.
func (sc *scenario) render(mode string) (stdout, stderr []byte) {
	args := append([]string{"render", "--dry-run", "--mode", mode, "-f", "-"}, sc.flags...)
	root := newRootCommand()
	var out, errOut bytes.Buffer
	root.SetArgs(args)
	root.SetIn(bytes.NewReader(sc.input))
	root.SetOut(&out)
	root.SetErr(&errOut)
	if err := root.Execute(); err != nil {
		fmt.Fprintf(&errOut, "error: %v\n", err)
	}
	return out.Bytes(), errOut.Bytes()
}

// models builds the scenario's models the way render does.
func (sc *scenario) models() ([]*model.Model, error) {
	o := &renderOptions{}
	if err := newRenderCommandFor(o).ParseFlags(sc.flags); err != nil {
		return nil, err
	}
	o.file = "-"
	models, _, err := o.models(bytes.NewReader(sc.input), io.Discard)
	return models, err
}

// scenarioResult is what checking one scenario found.
type scenarioResult struct {
	failures []string
	packets  int
	updated  bool
}

// check checks the scenario: every packet of its trace section against
// both backends' rules, and every golden section byte for byte against
// what render prints now, or, with update, rewrites the golden sections
// (only those the file has) and leaves the trace alone.
func (sc *scenario) check(update bool) (scenarioResult, error) {
	var res scenarioResult
	if err := sc.checkGolden(update, &res); err != nil {
		return res, err
	}
	err := sc.checkTraces(&res)
	return res, err
}

func (sc *scenario) checkGolden(update bool, res *scenarioResult) error {
	ipt, stderr := sc.render(modeIPTables)
	nft, nftStderr := sc.render(modeNFTables)
	if !bytes.Equal(stderr, nftStderr) {
		res.failures = append(res.failures, fmt.Sprintf("warnings differ between modes:\niptables:\n%snftables:\n%s", stderr, nftStderr))
	}
	got := map[string][]byte{secStderr: stderr, secIPTables: ipt, secNFTables: nft}
	for _, name := range goldenSections {
		if !sc.hasSection(name) || bytes.Equal(sc.section(name), got[name]) {
			continue
		}
		if update {
			sc.setSection(name, got[name])
			res.updated = true
			continue
		}
		res.failures = append(res.failures, fmt.Sprintf("%s section differs from what render prints (test --update rewrites it):\n%s", name, sectionDiff(name, sc.section(name), got[name])))
	}
	if res.updated {
		return os.WriteFile(sc.path, txtar.Format(sc.archive), 0o644)
	}
	return nil
}

// sectionDiff says how a golden section differs: by what the rules do,
// where both are rulesets that say it, and by the first line that
// differs.
func sectionDiff(name string, want, got []byte) string {
	var b strings.Builder
	if name != secStderr {
		a, aerr := parseRendered(want)
		c, cerr := parseRendered(got)
		if aerr == nil && cerr == nil {
			for _, fam := range model.Families {
				va, _ := viewOf(a[fam], fam)
				vc, _ := viewOf(c[fam], fam)
				for _, l := range compareViews(va, vc) {
					fmt.Fprintf(&b, "  %s %s\n", fam, l)
				}
			}
		}
	}
	wl, gl := strings.Split(string(want), "\n"), strings.Split(string(got), "\n")
	for i := 0; i < max(len(wl), len(gl)); i++ {
		var w, g string
		if i < len(wl) {
			w = wl[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		if w != g {
			fmt.Fprintf(&b, "  first difference, line %d:\n  - %s\n  + %s\n", i+1, w, g)
			break
		}
	}
	return b.String()
}

// viewOf is newRuleView of rules that may be missing.
func viewOf(r *tracedRules, fam model.Family) (ruleView, error) {
	if r == nil {
		return ruleView{}, nil
	}
	return newRuleView(r, fam)
}

// checkTraces walks every packet of the trace section through both
// backends' rules, or the one a line names.
func (sc *scenario) checkTraces(res *scenarioResult) error {
	exps, err := tracer.ParseExpectations(string(sc.section(secTrace)))
	if err != nil {
		return fmt.Errorf("trace section: %w", err)
	}
	models, err := sc.models()
	if err != nil {
		return err
	}
	byFamily := map[model.Family]*model.Model{}
	for _, m := range models {
		byFamily[m.Family] = m
	}
	for _, e := range exps {
		m := byFamily[model.FamilyOf(e.Packet.Dst)]
		for _, mode := range []string{modeIPTables, modeNFTables} {
			if e.Backend != "" && e.Backend != mode {
				continue
			}
			res.packets++
			if msg := checkExpectation(m, mode, e); msg != "" {
				res.failures = append(res.failures, msg)
			}
		}
	}
	return nil
}

// checkExpectation traces one packet and returns what is wrong, with
// the packet's trace, or "".
func checkExpectation(m *model.Model, mode string, e tracer.Expectation) string {
	where := fmt.Sprintf("trace line %d, %s: %s", e.Line, mode, e.Packet)
	if m == nil {
		return where + ": no rules of its family"
	}
	rules, err := newTracedRules(mode, m)
	if err != nil {
		return where + ": " + err.Error()
	}
	routes, err := rules.routes(e.Packet)
	if err != nil {
		return where + ": " + err.Error()
	}
	if got := tracer.Outcomes(routes).String(); got != e.Want {
		var b strings.Builder
		newTraceReport(e.Packet, mode, routes).writeText(&b)
		return fmt.Sprintf("%s\n   got: %s\n  want: %s\n%s", where, got, e.Want, indent(b.String()))
	}
	return ""
}

func indent(s string) string {
	return "    " + strings.ReplaceAll(strings.TrimSuffix(s, "\n"), "\n", "\n    ")
}
