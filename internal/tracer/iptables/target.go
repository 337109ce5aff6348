package iptrace

import (
	"fmt"
	"net/netip"
)

// target parses "-j NAME" and its options. A name that is not a known
// target is a chain; Parse checks at COMMIT that it exists.
func (p *ruleParser) target(name string) error {
	t := &p.r.target
	switch name {
	case "":
		return fmt.Errorf("-j without a target")
	case "ACCEPT":
		t.kind = targetAccept
	case "RETURN":
		t.kind = targetReturn
	case "DROP", "REJECT":
		// The kernel refuses both in nat; catching it here spares a
		// round trip through the real tools.
		if p.table != "filter" {
			return fmt.Errorf("%s is only valid in the filter table", name)
		}
		t.kind = targetDrop
		if name == "REJECT" {
			t.kind = targetReject
		}
	case "MARK":
		return p.markTarget()
	case "DNAT":
		return p.dnatTarget()
	case "MASQUERADE":
		if p.table != "nat" {
			return fmt.Errorf("MASQUERADE is only valid in the nat table")
		}
		t.kind = targetMasquerade
		if len(p.words) > 0 && p.words[0] == "--random-fully" {
			p.next()
		}
	default:
		t.kind = targetJump
		t.chain = name
	}
	return nil
}

// markTarget parses "MARK --or-mark V" and "MARK --xor-mark V".
func (p *ruleParser) markTarget() error {
	opt := p.next()
	v, err := parseMark(p.next())
	if err != nil {
		return fmt.Errorf("MARK: bad value: %w", err)
	}
	t := &p.r.target
	t.kind = targetMark
	switch opt {
	case "--or-mark":
		t.orMark = v
	case "--xor-mark":
		t.xorMark = v
	default:
		return fmt.Errorf("MARK: unsupported option %q", opt)
	}
	return nil
}

// dnatTarget parses "DNAT --to-destination IP:PORT" ([IPv6]:PORT). A DNAT
// must follow -p, since a port is only meaningful for one protocol.
func (p *ruleParser) dnatTarget() error {
	if p.table != "nat" {
		return fmt.Errorf("DNAT is only valid in the nat table")
	}
	if p.proto == "" {
		return fmt.Errorf("DNAT to a port needs -p")
	}
	if err := p.expect("--to-destination"); err != nil {
		return fmt.Errorf("DNAT: %w", err)
	}
	to, err := netip.ParseAddrPort(p.next())
	if err != nil {
		return fmt.Errorf("DNAT: %w", err)
	}
	p.r.target = target{kind: targetDNAT, to: to}
	return nil
}
