package nfttrace

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// selector reads one packet field: ip/ip6 saddr/daddr, meta l4proto, th
// dport, tcp/udp/sctp dport (as nft lists th dport where the protocol is
// known) or numgen random mod N.
func (e *evaluator) selector() (string, error) {
	switch a, b := e.next(), e.next(); {
	case a == e.w.ip && b == "saddr":
		return e.s.src.String(), nil
	case a == e.w.ip && b == "daddr":
		return e.s.dst.String(), nil
	case a == "meta" && b == "l4proto":
		return e.s.proto, nil
	case a == "th" && b == "dport":
		return strconv.Itoa(int(e.s.dport)), nil
	case (a == "tcp" || a == "udp" || a == "sctp") && b == "dport":
		// The protocol is an implicit match: another protocol's
		// packet has no such field, and no key holds "".
		if e.s.proto != a {
			return "", nil
		}
		return strconv.Itoa(int(e.s.dport)), nil
	case a == "numgen" && b == "random":
		e.pos += 2 // "mod N", read by numgenMod
		return strconv.Itoa(e.numgen), nil
	default:
		return "", fmt.Errorf("unsupported expression %q", a+" "+b)
	}
}

// concat reads selectors joined by ".".
func (e *evaluator) concat() ([]string, error) {
	var vals []string
	for {
		v, err := e.selector()
		if err != nil {
			return nil, err
		}
		vals = append(vals, v)
		if e.peek(0) != "." {
			return vals, nil
		}
		e.pos++
	}
}

// expression handles a selector followed by a comparison, a set lookup
// or a verdict map.
func (e *evaluator) expression() (action, bool, error) {
	vals, err := e.concat()
	if err != nil {
		return action{}, false, err
	}
	switch op := e.next(); {
	case op == "vmap":
		return e.vmap(vals)
	case op == "!=" || op == "==":
		in, err := e.member(vals, e.next())
		e.matched = in == (op == "==")
		return action{}, false, err
	default:
		in, err := e.member(vals, op)
		e.matched = in
		return action{}, false, err
	}
}

// member reports whether vals is in the named set ("@name") or an
// anonymous one ("{ A, B }"), or equals a literal (an address, a prefix,
// a protocol or a port).
func (e *evaluator) member(vals []string, ref string) (bool, error) {
	if ref == "{" {
		return e.anonymousSet(vals)
	}
	if name, ok := strings.CutPrefix(ref, "@"); ok {
		set := e.w.table.Sets[name]
		if set == nil {
			return false, fmt.Errorf("no set %q", name)
		}
		for _, el := range set.Elements {
			if keyMatches(el.Key, vals) {
				return true, nil
			}
		}
		return false, nil
	}
	if len(vals) != 1 || ref == "" {
		return false, fmt.Errorf("unsupported comparison with %q", ref)
	}
	return valueMatches(ref, vals[0]), nil
}

// anonymousSet reads `{ V , ... }` and reports whether vals is one of them.
func (e *evaluator) anonymousSet(vals []string) (bool, error) {
	end := e.pos
	for end < len(e.toks) && e.toks[end] != "}" {
		end++
	}
	if end == len(e.toks) || len(vals) != 1 {
		return false, fmt.Errorf("unsupported anonymous set")
	}
	body := strings.Join(e.toks[e.pos:end], " ")
	e.pos = end + 1
	for _, v := range strings.Split(body, ",") {
		if valueMatches(strings.TrimSpace(v), vals[0]) {
			return true, nil
		}
	}
	return false, nil
}

// vmap looks vals up in a named verdict map or an anonymous one.
func (e *evaluator) vmap(vals []string) (action, bool, error) {
	ref := e.next()
	if ref == "{" {
		return e.anonymousVmap(vals)
	}
	name, ok := strings.CutPrefix(ref, "@")
	m := e.w.table.Maps[name]
	if !ok || m == nil {
		return action{}, false, fmt.Errorf("no map %q", ref)
	}
	for _, el := range m.Elements {
		if keyMatches(el.Key, vals) {
			act, err := parseVerdict(strings.Join(el.Value, " . "))
			e.hit = &el
			return act, true, err
		}
	}
	e.matched = false
	return action{}, false, nil
}

// anonymousVmap reads `{ K : VERDICT , ... }` and applies it.
func (e *evaluator) anonymousVmap(vals []string) (action, bool, error) {
	end := e.pos
	for end < len(e.toks) && e.toks[end] != "}" {
		end++
	}
	if end == len(e.toks) {
		return action{}, false, fmt.Errorf("unterminated anonymous map")
	}
	body := strings.Join(e.toks[e.pos:end], " ")
	e.pos = end + 1
	for _, entry := range strings.Split(body, ",") {
		k, v, ok := strings.Cut(entry, ":")
		if !ok {
			return action{}, false, fmt.Errorf("bad map entry %q", entry)
		}
		if keyMatches(strings.Split(strings.TrimSpace(k), " . "), vals) {
			act, err := parseVerdict(strings.TrimSpace(v))
			return act, true, err
		}
	}
	e.matched = false
	return action{}, false, nil
}

// dnat handles `dnat ip to ADDR:PORT` and `dnat ip to KEY map @name`,
// whose map yields "ADDR . PORT". A map miss makes the rule not match,
// as in the kernel.
func (e *evaluator) dnat() (action, bool, error) {
	e.pos++
	if e.peek(0) == e.w.ip {
		e.pos++
	}
	if err := e.expect("to"); err != nil {
		return action{}, false, err
	}
	if ap, err := addrPort(e.peek(0)); err == nil {
		e.pos++
		e.setDNAT(ap)
		return action{kind: actAccept}, true, nil
	}
	vals, err := e.concat()
	if err != nil {
		return action{}, false, err
	}
	if err := e.expect("map"); err != nil {
		return action{}, false, err
	}
	ref := e.next()
	m := e.w.table.Maps[strings.TrimPrefix(ref, "@")]
	if m == nil || !strings.HasPrefix(ref, "@") {
		return action{}, false, fmt.Errorf("no map %q", ref)
	}
	for _, el := range m.Elements {
		if keyMatches(el.Key, vals) {
			ap, err := mapTarget(el.Value)
			e.setDNAT(ap)
			e.hit = &el
			return action{kind: actAccept}, true, err
		}
	}
	e.matched = false
	return action{}, false, nil
}

func (e *evaluator) setDNAT(ap netip.AddrPort) {
	e.s.dst, e.s.dport, e.s.dnat = ap.Addr(), ap.Port(), true
}

// mapTarget parses a DNAT map value, ["10.0.0.1", "80"].
func mapTarget(value []string) (netip.AddrPort, error) {
	if len(value) != 2 {
		return netip.AddrPort{}, fmt.Errorf("bad DNAT map value %q", strings.Join(value, " . "))
	}
	addr, err := netip.ParseAddr(value[0])
	if err != nil {
		return netip.AddrPort{}, err
	}
	port, err := strconv.ParseUint(value[1], 10, 16)
	return netip.AddrPortFrom(addr, uint16(port)), err
}

// keyMatches reports whether an element key matches packet values.
func keyMatches(key, vals []string) bool {
	if len(key) != len(vals) {
		return false
	}
	for i := range key {
		if !valueMatches(strings.TrimSpace(key[i]), vals[i]) {
			return false
		}
	}
	return true
}

// valueMatches compares an element or literal with a packet value,
// canonicalizing addresses and treating prefixes as ranges.
func valueMatches(elem, val string) bool {
	if elem == val {
		return true
	}
	v, err := netip.ParseAddr(val)
	if err != nil {
		return false
	}
	if p, err := netip.ParsePrefix(elem); err == nil {
		return p.Contains(v)
	}
	a, err := netip.ParseAddr(elem)
	return err == nil && a == v
}
