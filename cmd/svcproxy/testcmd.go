package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"

	"github.com/spf13/cobra"
)

func newTestCommand() *cobra.Command {
	var update bool
	cmd := &cobra.Command{
		Use:   "test [--update] FILE|DIR...",
		Short: "Check scenario files: packets against both backends, golden sections byte for byte",
		Long: `Test checks scenario files, as svcproxy checks its own (testdata/golden):
txtar archives with render flags (-- flags --), manifests
(-- input.yaml --), packets and the outcomes they must have (-- trace --,
one per line: "[node] SRC[@IFACE] PROTO DST:PORT => OUTCOME...", where an
OUTCOME is IP:PORT, accept, reject or drop, with +masq when
masqueraded), and optional golden sections (-- iptables --,
-- nftables --, -- stderr --) that must equal what render --dry-run
prints. Every packet is walked through both backends' rules.

A directory stands for its *.txtar files. --update rewrites the golden
sections a file has, and nothing else. A failure prints the packet's
trace, or how the rules' behaviour differs, and test exits 1.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runTests(cmd.OutOrStdout(), args, update)
		},
	}
	cmd.Flags().BoolVar(&update, "update", false, "rewrite the golden sections instead of comparing them")
	return cmd
}

// runTests checks every scenario file args name and reports each.
func runTests(out io.Writer, args []string, update bool) error {
	files, err := scenarioFiles(args)
	if err != nil {
		return &exitError{exitDiffTrouble, err}
	}
	failed := 0
	for _, path := range files {
		res, err := checkScenarioFile(path, update)
		switch {
		case err != nil:
			failed++
			fmt.Fprintf(out, "FAIL %s: %v\n", path, err)
		case len(res.failures) > 0:
			failed++
			fmt.Fprintf(out, "FAIL %s\n", path)
			for _, f := range res.failures {
				fmt.Fprintf(out, "  %s\n", f)
			}
		default:
			note := ""
			if res.updated {
				note = ", golden sections rewritten"
			}
			fmt.Fprintf(out, "ok   %s (%d packets%s)\n", path, res.packets, note)
		}
	}
	if failed > 0 {
		return &exitError{1, fmt.Errorf("test: %d of %d scenarios failed", failed, len(files))}
	}
	return nil
}

// checkScenarioFile reads and checks one scenario file: what svcproxy
// test does for each file, and what svcproxy's own golden tests run.
func checkScenarioFile(path string, update bool) (scenarioResult, error) {
	sc, err := readScenario(path)
	if err != nil {
		return scenarioResult{}, err
	}
	return sc.check(update)
}

// scenarioFiles expands directories to their *.txtar files, in name
// order.
func scenarioFiles(args []string) ([]string, error) {
	var files []string
	for _, a := range args {
		info, err := os.Stat(a)
		if err != nil {
			return nil, fmt.Errorf("test: %w", err)
		}
		if !info.IsDir() {
			files = append(files, a)
			continue
		}
		matches, err := filepath.Glob(filepath.Join(a, "*.txtar"))
		if err != nil {
			return nil, fmt.Errorf("test: %w", err)
		}
		if len(matches) == 0 {
			return nil, fmt.Errorf("test: no *.txtar files in %s", a)
		}
		slices.Sort(matches)
		files = append(files, matches...)
	}
	return files, nil
}
