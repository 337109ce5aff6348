package iptrace

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/svcproxy/svcproxy/pkg/model"
)

// matchModule parses "-m NAME" and the options the renderer gives it.
func (p *ruleParser) matchModule(name string) error {
	switch name {
	case "comment":
		if err := p.expect("--comment"); err != nil {
			return err
		}
		// The kernel keeps 256 bytes with the terminating NUL and
		// refuses longer comments.
		c := p.next()
		if c == "" || len(c) > 255 {
			return fmt.Errorf("comment must have 1-255 characters, has %d", len(c))
		}
		p.r.comment = c
		return nil
	case "tcp", "udp", "sctp":
		p.module = model.Protocol(name)
		return nil
	case "addrtype":
		return p.addrtype()
	case "conntrack":
		return p.conntrack()
	case "mark":
		return p.markMatch()
	case "statistic":
		return p.statistic()
	case "recent":
		return p.recent()
	case "nfacct":
		// Counts the packet and matches it.
		if err := p.expect("--nfacct-name"); err != nil {
			return err
		}
		if p.next() == "" {
			return fmt.Errorf("nfacct: no counter name")
		}
		return nil
	}
	return fmt.Errorf("unknown match module %q", name)
}

// addrtype parses "--dst-type LOCAL" or "--src-type LOCAL"; LOCAL means
// one of the node's addresses or loopback.
func (p *ruleParser) addrtype() error {
	opt := p.next()
	if typ := p.next(); typ != "LOCAL" {
		return fmt.Errorf("addrtype: unsupported type %q", typ)
	}
	switch opt {
	case "--dst-type":
		p.add(func(w *walker, s *state) bool { return w.local(s.dst) }, false)
	case "--src-type":
		p.add(func(w *walker, s *state) bool { return w.local(s.src) }, false)
	default:
		return fmt.Errorf("addrtype: unsupported option %q", opt)
	}
	return nil
}

// conntrack parses "[!] --ctstate LIST". The traced packet starts a
// connection, so it is NEW, and it is DNAT once a nat rule has DNATed it.
func (p *ruleParser) conntrack() error {
	negate, opt := p.maybeNegated()
	if opt != "--ctstate" {
		return fmt.Errorf("conntrack: want --ctstate, got %q", opt)
	}
	isNew, dnat := false, false
	for _, st := range strings.Split(p.next(), ",") {
		switch st {
		case "NEW":
			isNew = true
		case "DNAT":
			dnat = true
		case "RELATED", "ESTABLISHED", "INVALID", "UNTRACKED":
		default:
			return fmt.Errorf("conntrack: unknown state %q", st)
		}
	}
	p.add(func(_ *walker, s *state) bool { return isNew || dnat && s.dnat.IsValid() }, negate)
	return nil
}

// maybeNegated reads an option that a "!" may come before.
func (p *ruleParser) maybeNegated() (negate bool, opt string) {
	opt = p.next()
	if opt == "!" {
		return true, p.next()
	}
	return false, opt
}

// markMatch parses "[!] --mark VALUE/MASK".
func (p *ruleParser) markMatch() error {
	negate, opt := p.maybeNegated()
	if opt != "--mark" {
		return fmt.Errorf("mark: want --mark, got %q", opt)
	}
	v, m, ok := strings.Cut(p.next(), "/")
	if !ok {
		return fmt.Errorf("mark: want VALUE/MASK")
	}
	value, err1 := parseMark(v)
	mask, err2 := parseMark(m)
	if err1 != nil || err2 != nil {
		return fmt.Errorf("mark: bad VALUE/MASK %s/%s", v, m)
	}
	p.add(func(_ *walker, s *state) bool { return s.mark&mask == value }, negate)
	return nil
}

func parseMark(s string) (uint32, error) {
	n, err := strconv.ParseUint(s, 0, 32)
	return uint32(n), err
}

// statistic parses "--mode random --probability P".
func (p *ruleParser) statistic() error {
	if err := p.expect("--mode", "random", "--probability"); err != nil {
		return fmt.Errorf("statistic: %w", err)
	}
	prob, err := strconv.ParseFloat(p.next(), 64)
	if err != nil || prob <= 0 || prob >= 1 {
		return fmt.Errorf("statistic: probability must be in (0,1)")
	}
	p.r.random, p.r.probability = true, prob
	return nil
}

// recent parses "--name N --set" (records the source; a no-op for a
// single first packet) and "--name N --rcheck --seconds S --reap" (never
// matches: the first packet has no record yet).
func (p *ruleParser) recent() error {
	if err := p.expect("--name"); err != nil {
		return fmt.Errorf("recent: %w", err)
	}
	if p.next() == "" {
		return fmt.Errorf("recent: empty name")
	}
	switch op := p.next(); op {
	case "--set":
		return nil
	case "--rcheck":
		if err := p.expect("--seconds"); err != nil {
			return fmt.Errorf("recent: %w", err)
		}
		if n, err := strconv.Atoi(p.next()); err != nil || n < 1 {
			return fmt.Errorf("recent: bad --seconds")
		}
		if err := p.expect("--reap"); err != nil {
			return fmt.Errorf("recent: %w", err)
		}
		p.add(func(*walker, *state) bool { return false }, false)
		return nil
	default:
		return fmt.Errorf("recent: unsupported option %q", op)
	}
}
