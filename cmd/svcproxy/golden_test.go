package main

import (
	"bytes"
	"flag"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/svcproxy/svcproxy/pkg/model"
)

var update = flag.Bool("update", false, "rewrite the generated sections of testdata/golden/*.txtar")

const goldenDir = "../../testdata/golden"

// loadScenario reads a golden file, failing the test if it cannot.
func loadScenario(t *testing.T, path string) *scenario {
	t.Helper()
	sc, err := readScenario(path)
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

// runRender is render on the scenario, for tests.
func (sc *scenario) runRender(mode string) (stdout, stderr []byte) { return sc.render(mode) }

// mustModels is models, failing the test on an error.
func (sc *scenario) mustModels(t *testing.T) []*model.Model {
	t.Helper()
	models, err := sc.models()
	if err != nil {
		t.Fatal(err)
	}
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

// TestGolden checks every scenario the way svcproxy test does, through
// the same code: each golden section byte for byte against what render
// prints, and each packet of the trace section against both backends.
// Run `go test ./... -update` to rewrite the golden sections after a
// deliberate change, and review the diff.
func TestGolden(t *testing.T) {
	total := 0
	for _, path := range goldenFiles(t) {
		t.Run(scenarioName(path), func(t *testing.T) {
			res, err := checkScenarioFile(path, *update)
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range res.failures {
				t.Error(f)
			}
			if res.packets == 0 {
				t.Error("no trace expectations")
			}
			total += res.packets
		})
	}
	t.Logf("%d packets checked against both backends", total)
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
