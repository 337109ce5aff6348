package iptrace

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/svcproxy/svcproxy/pkg/model"
)

// rule is one parsed rule: matches that must all hold, then a target.
type rule struct {
	text    string
	comment string
	matches []match
	// random is set by "-m statistic --mode random": the rule both
	// matches, with probability, and does not, and the tracer follows
	// both branches.
	random      bool
	probability float64
	target      target
}

// match tests a packet.
type match func(w *walker, s *state) bool

type targetKind int

const (
	targetNone targetKind = iota // no -j: the rule only counts (or comments)
	targetJump
	targetGoto
	targetReturn
	targetAccept
	targetDrop
	targetReject
	targetMark
	targetDNAT
	targetMasquerade
)

type target struct {
	kind targetKind
	// chain is the chain of a jump or goto.
	chain string
	// orMark and xorMark are applied by MARK.
	orMark, xorMark uint32
	// to is where DNAT sends the packet.
	to netip.AddrPort
}

// ruleParser parses one rule's words.
type ruleParser struct {
	words []string
	table string
	r     *rule
	// proto is the -p protocol; module is the protocol loaded by -m,
	// which must agree with it for --dport to mean anything.
	proto, module model.Protocol
}

func parseRule(words []string, table string) (*rule, error) {
	p := &ruleParser{words: words, table: table, r: &rule{}}
	for len(p.words) > 0 {
		if p.r.target.kind != targetNone {
			return nil, fmt.Errorf("%q after the target", p.words[0])
		}
		if err := p.option(); err != nil {
			return nil, err
		}
	}
	if p.module != "" && p.module != p.proto {
		return nil, fmt.Errorf("-m %s without -p %s", p.module, p.module)
	}
	return p.r, nil
}

// next returns the next word, or "" at the end, which no option accepts.
func (p *ruleParser) next() string {
	if len(p.words) == 0 {
		return ""
	}
	w := p.words[0]
	p.words = p.words[1:]
	return w
}

// expect consumes the given words in order.
func (p *ruleParser) expect(words ...string) error {
	for _, want := range words {
		if got := p.next(); got != want {
			return fmt.Errorf("want %q, got %q", want, got)
		}
	}
	return nil
}

func (p *ruleParser) add(m match, negate bool) {
	if negate {
		p.r.matches = append(p.r.matches, func(w *walker, s *state) bool { return !m(w, s) })
		return
	}
	p.r.matches = append(p.r.matches, m)
}

func (p *ruleParser) option() error {
	opt := p.next()
	negate := opt == "!"
	if negate {
		opt = p.next()
		if opt != "-s" && opt != "-d" && opt != "-i" {
			return fmt.Errorf("negation of %q is not supported", opt)
		}
	}
	switch opt {
	case "-m":
		return p.matchModule(p.next())
	case "-p":
		proto := model.Protocol(p.next())
		if !knownProtocol(proto) {
			return fmt.Errorf("unknown protocol %q", proto)
		}
		p.proto = proto
		p.add(func(_ *walker, s *state) bool { return s.proto == proto }, false)
		return nil
	case "-s", "-d":
		return p.address(opt, negate)
	case "-i":
		return p.inInterface(negate)
	case "--dport":
		return p.dport()
	case "-j":
		return p.target(p.next())
	case "-g":
		p.r.target = target{kind: targetGoto, chain: p.next()}
		return nil
	}
	return fmt.Errorf("unknown option %q", opt)
}

func knownProtocol(p model.Protocol) bool {
	return p == model.TCP || p == model.UDP || p == model.SCTP
}

func (p *ruleParser) address(opt string, negate bool) error {
	pfx, err := parsePrefix(p.next())
	if err != nil {
		return fmt.Errorf("%s: %w", opt, err)
	}
	if opt == "-s" {
		p.add(func(_ *walker, s *state) bool { return pfx.Contains(s.src) }, negate)
	} else {
		p.add(func(_ *walker, s *state) bool { return pfx.Contains(s.dst) }, negate)
	}
	return nil
}

// inInterface parses "-i NAME", where a trailing "+" makes NAME a prefix.
func (p *ruleParser) inInterface(negate bool) error {
	name := p.next()
	if name == "" {
		return errors.New("-i: no interface")
	}
	prefix, isPrefix := strings.CutSuffix(name, "+")
	p.add(func(_ *walker, s *state) bool {
		if isPrefix {
			return strings.HasPrefix(s.iif, prefix)
		}
		return s.iif == name
	}, negate)
	return nil
}

// parsePrefix accepts an address or a CIDR, as -s and -d do.
func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		if p != p.Masked() {
			return netip.Prefix{}, fmt.Errorf("%s has host bits set", s)
		}
		return p, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

func (p *ruleParser) dport() error {
	if p.proto == "" || p.module != p.proto {
		return fmt.Errorf("--dport needs -m PROTO -p PROTO before it")
	}
	n, err := strconv.ParseUint(p.next(), 10, 16)
	if err != nil || n == 0 {
		return fmt.Errorf("bad --dport: %v", err)
	}
	port := uint16(n)
	p.add(func(_ *walker, s *state) bool { return s.port == port }, false)
	return nil
}
