package tracer

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/svcproxy/svcproxy/pkg/model"
)

// Expectation is one line of a scenario's trace section: a packet and the
// outcomes it must have.
type Expectation struct {
	Line int
	// Backend is the only backend the line is for, "iptables" or
	// "nftables"; empty for every backend.
	Backend string
	Packet  Packet
	// Want is the expected Result in its String form, normalized.
	Want string
}

// ParseExpectations reads lines of the form
//
//	[iptables|nftables] [node] SRC[@IFACE] PROTO DST:PORT => OUTCOME...
//
// where IFACE is the interface an arriving packet comes in on and OUTCOME
// is "accept", "reject", "drop" or "IP:PORT" with an optional
// "+masq". A backend's name first limits the line to that backend, where
// kube-proxy's modes differ. Blank lines and lines starting with # are
// skipped.
func ParseExpectations(text string) ([]Expectation, error) {
	var out []Expectation
	for i, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		e, err := parseExpectation(line)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", i+1, err)
		}
		e.Line = i + 1
		out = append(out, e)
	}
	return out, nil
}

func parseExpectation(line string) (Expectation, error) {
	lhs, rhs, ok := strings.Cut(line, "=>")
	if !ok {
		return Expectation{}, fmt.Errorf("missing =>: %q", line)
	}
	f := strings.Fields(lhs)
	var backend string
	if len(f) > 0 && (f[0] == "iptables" || f[0] == "nftables") {
		backend, f = f[0], f[1:]
	}
	var p Packet
	if len(f) > 0 && f[0] == "node" {
		p.FromNode = true
		f = f[1:]
	}
	if len(f) != 3 {
		return Expectation{}, fmt.Errorf("want [node] SRC PROTO DST:PORT, got %q", lhs)
	}
	var err error
	src, iface, _ := strings.Cut(f[0], "@")
	if p.Src, err = netip.ParseAddr(src); err != nil {
		return Expectation{}, err
	}
	p.InIface = iface
	p.Protocol = model.Protocol(f[1])
	dst, err := netip.ParseAddrPort(f[2])
	if err != nil {
		return Expectation{}, err
	}
	p.Dst, p.Port = dst.Addr(), dst.Port()
	want := strings.Fields(rhs)
	if len(want) == 0 {
		return Expectation{}, fmt.Errorf("no outcome after =>")
	}
	for _, w := range want {
		if err := checkOutcome(w); err != nil {
			return Expectation{}, err
		}
	}
	slices.Sort(want)
	return Expectation{Backend: backend, Packet: p, Want: strings.Join(slices.Compact(want), " ")}, nil
}

func checkOutcome(s string) error {
	switch s {
	case "accept", "reject", "drop", "accept+masq":
		return nil
	}
	ep, _ := strings.CutSuffix(s, "+masq")
	if _, err := netip.ParseAddrPort(ep); err != nil {
		return fmt.Errorf("bad outcome %q: want accept, reject, drop or IP:PORT[+masq]", s)
	}
	return nil
}
