package sync

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/svcproxy/svcproxy/pkg/model"
)

// hintChains are the chains kubelet creates in the mangle table through
// the iptables variant the node uses, checked in this order. Finding one
// tells which variant the node's other components write with, which is the
// one we must use so that all rules land in the same place.
var hintChains = []string{"KUBE-IPTABLES-HINT", "KUBE-KUBELET-CANARY"}

// minIPTablesNFT is the oldest iptables-nft we trust: before 1.8.4 it
// returned wrong exit codes and its -C check did not find rules that were
// there, so syncs would fail or pile up duplicate rules.
var minIPTablesNFT = dottedVersion{1, 8, 4}

// variantProbe is what one iptables variant showed about itself.
type variantProbe struct {
	mode    Mode
	version dottedVersion
	// dump is the variant's rules, nil when they could not be read.
	dump *detectDump
	// err is why dump is nil, or why the variant, though readable, may
	// not be used (too old).
	err error
}

// detectDump is the part of an iptables-save dump detection looks at.
type detectDump struct {
	// mangleChains are the chains of the mangle table.
	mangleChains map[string]bool
	// rules counts the rules of all tables.
	rules int
}

// parseDetectDump reads an iptables-save dump: detection only needs to
// count the rules and name the mangle table's chains.
func parseDetectDump(out []byte) *detectDump {
	d := &detectDump{mangleChains: map[string]bool{}}
	table := ""
	for line := range strings.Lines(string(out)) {
		switch {
		case strings.HasPrefix(line, "*"):
			table = strings.TrimSpace(line[1:])
		case strings.HasPrefix(line, ":") && table == "mangle":
			name, _, _ := strings.Cut(strings.TrimSpace(line[1:]), " ")
			d.mangleChains[name] = true
		case strings.HasPrefix(line, "-A "):
			d.rules++
		}
	}
	return d
}

// probeVariant reads a variant's rules and checks that its tools exist
// and work. The rules are read whenever the dump tool is there, even when
// another tool is missing: a host whose rules live in a variant must get
// an error saying what to install, not rules in the other variant.
func (d *Detector) probeVariant(ctx context.Context, family model.Family, mode Mode) variantProbe {
	p := variantProbe{mode: mode}
	save := IPTablesCommand(family, mode, "save")
	if p.err = d.lookPath(save, "iptables"); p.err != nil {
		return p
	}
	// No -t mangle: asking iptables-legacy for a table creates it, and an
	// empty legacy mangle table would then mislead every later detection
	// (and other tools') into thinking legacy is in use. A full dump only
	// lists the tables that exist.
	out, err := d.Runner.Run(ctx, nil, save)
	if err != nil {
		p.err = fmt.Errorf("dumping the rules: %w", err)
		return p
	}
	p.dump = parseDetectDump(out)
	for _, tool := range []string{"restore", ""} {
		if p.err = d.lookPath(IPTablesCommand(family, mode, tool), "iptables"); p.err != nil {
			return p
		}
	}
	cmd := IPTablesCommand(family, mode, "")
	if out, err = d.Runner.Run(ctx, nil, cmd, "--version"); err != nil {
		p.err = fmt.Errorf("reading the version: %w", err)
		return p
	}
	if p.version, p.err = variantVersion(cmd, mode, string(out)); p.err != nil {
		return p
	}
	p.err = d.sanityCheck(cmd, mode, p.version)
	return p
}

// sanityCheck refuses iptables-nft versions that are known to misbehave,
// unless NoSanityCheck.
func (d *Detector) sanityCheck(cmd string, mode Mode, v dottedVersion) error {
	if mode != ModeIPTablesNFT || d.NoSanityCheck || !v.less(minIPTablesNFT) {
		return nil
	}
	return fmt.Errorf("%s v%s is older than v%s, whose exit codes and -C checks are wrong: upgrade the iptables package or pass --no-sanity-check", cmd, v, minIPTablesNFT)
}

// requireVariant checks the explicitly requested variant in det.Mode.
func (d *Detector) requireVariant(ctx context.Context, det *Detection) error {
	p := d.probeVariant(ctx, det.Family, det.Mode)
	if p.err != nil {
		return p.err
	}
	det.IPTablesVersion = p.version.String()
	det.Evidence = append(det.Evidence, versionEvidence(det.Family, p))
	return nil
}

// pickVariant finds the iptables variant the host uses.
func (d *Detector) pickVariant(ctx context.Context, det *Detection) error {
	nft := d.probeVariant(ctx, det.Family, ModeIPTablesNFT)
	legacy := d.probeVariant(ctx, det.Family, ModeIPTablesLegacy)
	chosen, evidence, err := decideVariant(nft, legacy)
	if err != nil {
		return err
	}
	det.Mode = chosen.mode
	det.IPTablesVersion = chosen.version.String()
	det.Evidence = append(det.Evidence, evidence...)
	det.Evidence = append(det.Evidence, versionEvidence(det.Family, chosen))
	// A readable but refused variant still took part in the decision: had
	// it been skipped, a host whose rules are all in nftables would be
	// given legacy rules next to them.
	return chosen.err
}

func versionEvidence(family model.Family, p variantProbe) string {
	return fmt.Sprintf("%s v%s", IPTablesCommand(family, p.mode, ""), p.version)
}

// decideVariant picks between the probed variants: a hint chain in the
// nft variant, then in the legacy one; else the variant with more rules,
// legacy only when it holds strictly more, because nft is the default of
// every current distribution.
func decideVariant(nft, legacy variantProbe) (variantProbe, []string, error) {
	if nft.dump == nil && legacy.dump == nil {
		return variantProbe{}, nil, noVariantError(nft.err, legacy.err)
	}
	for _, p := range []variantProbe{nft, legacy} {
		if p.dump == nil {
			continue
		}
		for _, chain := range hintChains {
			if p.dump.mangleChains[chain] {
				return p, []string{fmt.Sprintf("%s found in %s mangle table", chain, p.mode)}, nil
			}
		}
	}
	evidence := []string{fmt.Sprintf("no %s chain in any mangle table", strings.Join(hintChains, " or "))}
	switch {
	case legacy.dump == nil && nft.err != nil, nft.dump == nil && legacy.err != nil:
		// Neither can be used: say what is wrong with both.
		return variantProbe{}, nil, noVariantError(nft.err, legacy.err)
	case legacy.dump == nil:
		return nft, append(evidence, fmt.Sprintf("%s not usable: %v", legacy.mode, legacy.err)), nil
	case nft.dump == nil:
		return legacy, append(evidence, fmt.Sprintf("%s not usable: %v", nft.mode, nft.err)), nil
	}
	evidence = append(evidence, fmt.Sprintf("rules: legacy %d, nft %d", legacy.dump.rules, nft.dump.rules))
	// A variant that holds no rule and cannot write any gives way to one
	// that can: nothing of the host's would end up beside rules of ours.
	switch {
	case isMissingTool(nft.err) && nft.dump.rules == 0 && legacy.err == nil:
		return legacy, append(evidence, fmt.Sprintf("%s not usable: %v", nft.mode, nft.err)), nil
	case isMissingTool(legacy.err) && legacy.dump.rules == 0 && nft.err == nil:
		return nft, append(evidence, fmt.Sprintf("%s not usable: %v", legacy.mode, legacy.err)), nil
	}
	if legacy.dump.rules > nft.dump.rules {
		return legacy, evidence, nil
	}
	return nft, append(evidence, "iptables-nft is the default unless legacy holds more rules"), nil
}

// isMissingTool reports whether err says a command is not installed.
func isMissingTool(err error) bool {
	var m *MissingToolError
	return errors.As(err, &m)
}

// noVariantError explains why neither variant could be read, keeping to
// one message when both fail the same way (a missing iptables package).
func noVariantError(nftErr, legacyErr error) error {
	var nftMissing, legacyMissing *MissingToolError
	if errors.As(nftErr, &nftMissing) && errors.As(legacyErr, &legacyMissing) {
		return nftErr
	}
	return fmt.Errorf("%w (and iptables-legacy: %v)", nftErr, legacyErr)
}
