package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/tools/txtar"

	"github.com/svcproxy/svcproxy/internal/tracer"
	iptrace "github.com/svcproxy/svcproxy/internal/tracer/iptables"
	nfttrace "github.com/svcproxy/svcproxy/internal/tracer/nftables"
	"github.com/svcproxy/svcproxy/pkg/model"
	"github.com/svcproxy/svcproxy/pkg/render/iptables"
	"github.com/svcproxy/svcproxy/pkg/render/nftables"
)

var update = flag.Bool("update", false, "rewrite the generated sections of testdata/golden/*.txtar")

const goldenDir = "../../testdata/golden"

// Sections of a scenario file. flags, input.yaml and trace are written by
// hand; stderr, iptables and nftables are generated and rewritten by
// -update. trace is never rewritten: it is the behaviour the scenario
// must have, whatever the rules look like.
const (
	secFlags    = "flags"
	secInput    = "input.yaml"
	secTrace    = "trace"
	secStderr   = "stderr"
	secIPTables = "iptables"
	secNFTables = "nftables"
)

// scenario is one golden file.
type scenario struct {
	path    string
	archive *txtar.Archive
	flags   []string
	input   []byte
}

func loadScenario(t *testing.T, path string) *scenario {
	t.Helper()
	ar, err := txtar.ParseFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sc := &scenario{path: path, archive: ar}
	sc.flags = strings.Fields(string(sc.section(secFlags)))
	sc.input = sc.section(secInput)
	if sc.input == nil {
		t.Fatalf("%s: no %s section", path, secInput)
	}
	return sc
}

func (sc *scenario) section(name string) []byte {
	for _, f := range sc.archive.Files {
		if f.Name == name {
			return f.Data
		}
	}
	return nil
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

// runRender runs `svcproxy render --dry-run` on the scenario's input.
func (sc *scenario) runRender(mode string) (stdout, stderr []byte) {
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
func (sc *scenario) models(t *testing.T) []*model.Model {
	t.Helper()
	o := &renderOptions{}
	cmd := newRenderCommandFor(o)
	if err := cmd.ParseFlags(sc.flags); err != nil {
		t.Fatal(err)
	}
	o.file = "-"
	objs, _, err := o.load(bytes.NewReader(sc.input))
	if err != nil {
		t.Fatal(err)
	}
	in, cfg, _, err := o.input(objs)
	if err != nil {
		t.Fatal(err)
	}
	models, _ := model.Build(in, cfg)
	return models
}

func goldenFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(goldenDir, "*.txtar"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden files in %s: %v", goldenDir, err)
	}
	return files
}

func scenarioName(path string) string {
	return strings.TrimSuffix(filepath.Base(path), ".txtar")
}

// TestGolden compares the rendered rules of every scenario with its golden
// sections. Run `go test ./... -update` to rewrite them after a deliberate
// change, and review the diff.
func TestGolden(t *testing.T) {
	for _, path := range goldenFiles(t) {
		t.Run(scenarioName(path), func(t *testing.T) {
			sc := loadScenario(t, path)
			ipt, stderr := sc.runRender(modeIPTables)
			nft, nftStderr := sc.runRender(modeNFTables)
			if !bytes.Equal(stderr, nftStderr) {
				t.Errorf("warnings differ between modes:\niptables:\n%s\nnftables:\n%s", stderr, nftStderr)
			}
			got := map[string][]byte{secStderr: stderr, secIPTables: ipt, secNFTables: nft}
			if *update {
				for _, name := range []string{secStderr, secIPTables, secNFTables} {
					sc.setSection(name, got[name])
				}
				if err := os.WriteFile(path, txtar.Format(sc.archive), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			for _, name := range []string{secStderr, secIPTables, secNFTables} {
				if diff := cmp.Diff(string(sc.section(name)), string(got[name])); diff != "" {
					t.Errorf("%s differs from %s (-want +got); run go test ./... -update if intended:\n%s", name, path, diff)
				}
			}
		})
	}
}

// TestGoldenDeterministic renders every scenario twice, the second time
// with its documents in reverse order, and expects identical output.
func TestGoldenDeterministic(t *testing.T) {
	for _, path := range goldenFiles(t) {
		t.Run(scenarioName(path), func(t *testing.T) {
			sc := loadScenario(t, path)
			reversed := *sc
			reversed.input = reverseDocuments(sc.input)
			for _, mode := range []string{modeIPTables, modeNFTables} {
				a, _ := sc.runRender(mode)
				b, _ := reversed.runRender(mode)
				if !bytes.Equal(a, b) {
					t.Errorf("%s output depends on input order:\n%s", mode, cmp.Diff(string(a), string(b)))
				}
			}
		})
	}
}

func reverseDocuments(in []byte) []byte {
	docs := strings.Split(string(in), "\n---\n")
	for i, j := 0, len(docs)-1; i < j; i, j = i+1, j-1 {
		docs[i], docs[j] = docs[j], docs[i]
	}
	for i := range docs {
		docs[i] = strings.TrimSuffix(docs[i], "\n")
	}
	return []byte(strings.Join(docs, "\n---\n") + "\n")
}

// TestGoldenBehaviour walks each scenario's trace packets through the
// rules both renderers produced and checks where they end up.
func TestGoldenBehaviour(t *testing.T) {
	total := 0
	for _, path := range goldenFiles(t) {
		t.Run(scenarioName(path), func(t *testing.T) {
			sc := loadScenario(t, path)
			exps, err := tracer.ParseExpectations(string(sc.section(secTrace)))
			if err != nil {
				t.Fatalf("%s: trace: %v", path, err)
			}
			if len(exps) == 0 {
				t.Fatalf("%s: no trace expectations", path)
			}
			total += len(exps)
			backends := newTraceBackends(t, sc.models(t))
			for _, e := range exps {
				for _, b := range backends {
					if e.Backend != "" && e.Backend != b.name {
						continue
					}
					got, err := b.trace(e.Packet)
					if err != nil {
						t.Errorf("%s trace line %d (%s): %v", b.name, e.Line, e.Packet, err)
						continue
					}
					if got.String() != e.Want {
						t.Errorf("%s trace line %d: %s\n got: %s\nwant: %s", b.name, e.Line, e.Packet, got, e.Want)
					}
				}
			}
		})
	}
	t.Logf("%d trace expectations checked against both backends", total)
}

// traceBackend traces packets through one backend's rules of every family.
type traceBackend struct {
	name  string
	trace func(tracer.Packet) (tracer.Result, error)
}

func newTraceBackends(t *testing.T, models []*model.Model) []traceBackend {
	t.Helper()
	byFamily := map[model.Family]*model.Model{}
	for _, m := range models {
		byFamily[m.Family] = m
	}
	pick := func(p tracer.Packet) (*model.Model, error) {
		m := byFamily[model.FamilyOf(p.Dst)]
		if m == nil {
			return nil, errors.New("no rules rendered for this family")
		}
		return m, nil
	}
	return []traceBackend{
		{"iptables", func(p tracer.Packet) (tracer.Result, error) {
			m, err := pick(p)
			if err != nil {
				return nil, err
			}
			return iptrace.Trace(iptables.Render(m).Payload(), m.Node.IPs, p)
		}},
		{"nftables", func(p tracer.Packet) (tracer.Result, error) {
			m, err := pick(p)
			if err != nil {
				return nil, err
			}
			table, err := loadedTable(m)
			if err != nil {
				return nil, err
			}
			return nfttrace.Trace(table, m.Node.IPs, p)
		}},
	}
}

// loadedTable loads the transaction the nftables applier sends for a
// full sync of m (Ruleset.Transaction), the way nft reads it, which also
// checks that every chain, set and map it names is declared before it is
// used.
func loadedTable(m *model.Model) (*nfttrace.Table, error) {
	t, err := nfttrace.Load(string(nftables.RenderRuleset(m).Transaction()))
	if err != nil {
		return nil, fmt.Errorf("loading the %s ruleset: %w", m.Family, err)
	}
	return t, nil
}
