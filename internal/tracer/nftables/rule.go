package nfttrace

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// evalRule evaluates one rule for s. A rule using `numgen random mod N`
// is evaluated once for every value below N, so the result holds one
// outcome per reachable branch.
func (w *walker) evalRule(rule string, s state) ([]outcome, error) {
	toks := strings.Fields(rule)
	n, err := numgenMod(toks)
	if err != nil {
		return nil, err
	}
	if n == 0 {
		n = 1
	}
	out := make([]outcome, 0, n)
	for v := range n {
		e := &evaluator{w: w, toks: toks, s: s, numgen: v}
		act, err := e.run()
		if err != nil {
			return nil, err
		}
		if act.kind == actNext && !e.matched {
			e.s = s // a rule that does not match changes nothing
		}
		if n > 1 {
			e.s.trail = e.s.trail.Choose(1 / float64(n))
		}
		out = append(out, outcome{s: e.s, act: act, matched: e.matched, hit: e.hit})
	}
	return out, nil
}

// numgenMod returns N of the rule's `numgen random mod N`, or 0.
func numgenMod(toks []string) (int, error) {
	mod := 0
	for i := 0; i+3 < len(toks); i++ {
		if toks[i] != "numgen" {
			continue
		}
		if toks[i+1] != "random" || toks[i+2] != "mod" {
			return 0, fmt.Errorf("unsupported numgen %q", strings.Join(toks[i:i+3], " "))
		}
		n, err := strconv.Atoi(toks[i+3])
		if err != nil || n < 1 {
			return 0, fmt.Errorf("bad numgen modulus %q", toks[i+3])
		}
		if mod != 0 && mod != n {
			return 0, fmt.Errorf("two numgen moduli in one rule")
		}
		mod = n
	}
	return mod, nil
}

// evaluator reads one rule left to right, matching and acting on s.
type evaluator struct {
	w       *walker
	toks    []string
	pos     int
	s       state
	numgen  int
	matched bool // false once a match fails
	// hit is the verdict map element the rule took, if any.
	hit *Element
}

func (e *evaluator) peek(off int) string {
	if e.pos+off < len(e.toks) {
		return e.toks[e.pos+off]
	}
	return ""
}

func (e *evaluator) next() string {
	t := e.peek(0)
	e.pos++
	return t
}

// expect consumes the given tokens or fails.
func (e *evaluator) expect(words ...string) error {
	for _, want := range words {
		if got := e.next(); got != want {
			return fmt.Errorf("expected %q, found %q", want, got)
		}
	}
	return nil
}

// run evaluates the rule. It returns actNext with matched false as soon
// as a match fails, and the rule's verdict otherwise.
func (e *evaluator) run() (action, error) {
	e.matched = true
	for e.pos < len(e.toks) {
		act, ok, err := e.step()
		if err != nil {
			return action{}, err
		}
		if !e.matched {
			return action{kind: actNext}, nil
		}
		if ok {
			if e.pos != len(e.toks) {
				return action{}, fmt.Errorf("unexpected %q after a verdict", strings.Join(e.toks[e.pos:], " "))
			}
			return act, nil
		}
	}
	return action{kind: actNext}, nil
}

// step evaluates one match or statement; ok says it ended the rule.
func (e *evaluator) step() (act action, ok bool, err error) {
	switch tok := e.peek(0); tok {
	case "ct":
		return action{}, false, e.ct()
	case "fib":
		return action{}, false, e.fib()
	case "iifname":
		return action{}, false, e.iifname()
	case "jump", "goto":
		e.pos++
		kind := map[string]actionKind{"jump": actJump, "goto": actGoto}[tok]
		return action{kind: kind, target: e.next()}, true, nil
	case "return", "accept", "drop", "reject":
		e.pos++
		return verdictAction(tok), true, nil
	case "masquerade":
		e.pos++
		if e.peek(0) == "fully-random" {
			e.pos++
		}
		e.s.masq = true
		return action{kind: actAccept}, true, nil
	case "dnat":
		return e.dnat()
	case "update":
		return action{}, false, e.update()
	}
	if e.peek(0) == "meta" && e.peek(1) == "mark" {
		return action{}, false, e.mark()
	}
	return e.expression()
}

func verdictAction(tok string) action {
	switch tok {
	case "return":
		return action{kind: actReturn}
	case "accept":
		return action{kind: actAccept}
	case "drop":
		return action{kind: actDrop}
	}
	return action{kind: actReject}
}

// parseVerdict reads a map value such as "goto chain" or "drop".
func parseVerdict(v string) (action, error) {
	f := strings.Fields(v)
	switch {
	case len(f) == 2 && f[0] == "goto":
		return action{kind: actGoto, target: f[1]}, nil
	case len(f) == 2 && f[0] == "jump":
		return action{kind: actJump, target: f[1]}, nil
	case len(f) == 1 && (f[0] == "return" || f[0] == "accept" || f[0] == "drop"):
		return verdictAction(f[0]), nil
	}
	return action{}, fmt.Errorf("unsupported verdict %q", v)
}

func (e *evaluator) ct() error {
	e.pos++
	switch what, val := e.next(), e.next(); {
	case what == "state" && val == "new":
		// The trace is of a connection's first packet.
	case what == "status" && val == "dnat":
		e.matched = e.s.dnat
	default:
		return fmt.Errorf("unsupported ct match %q %q", what, val)
	}
	return nil
}

// iifname evaluates `iifname [!=] "NAME"`, where a trailing "*" makes
// NAME a prefix.
func (e *evaluator) iifname() error {
	e.pos++
	op := e.next()
	negate := op == "!="
	if negate {
		op = e.next()
	}
	name, quoted := strings.CutPrefix(op, `"`)
	name, closed := strings.CutSuffix(name, `"`)
	if !quoted || !closed || name == "" {
		return fmt.Errorf("iifname: want a quoted name, got %q", op)
	}
	in := e.s.iif == name
	if prefix, isPrefix := strings.CutSuffix(name, "*"); isPrefix {
		in = strings.HasPrefix(e.s.iif, prefix)
	}
	e.matched = in != negate
	return nil
}

func (e *evaluator) fib() error {
	e.pos++
	which := e.next()
	if err := e.expect("type", "local"); err != nil {
		return err
	}
	switch which {
	case "daddr":
		e.matched = e.w.local(e.s.dst)
	case "saddr":
		e.matched = e.w.local(e.s.src)
	default:
		return fmt.Errorf("unsupported fib %q", which)
	}
	return nil
}

// update is a dynamic set update: it records state for later packets,
// which a first-packet trace never sees.
func (e *evaluator) update() error {
	e.pos++
	if !strings.HasPrefix(e.next(), "@") || e.next() != "{" {
		return fmt.Errorf("unsupported update statement")
	}
	for e.pos < len(e.toks) {
		if e.next() == "}" {
			return nil
		}
	}
	return fmt.Errorf("unterminated update statement")
}

// mark handles `meta mark & M == V` and `meta mark set meta mark or|xor V`.
func (e *evaluator) mark() error {
	e.pos += 2
	switch e.next() {
	case "&":
		mask, err1 := parseUint(e.next())
		op := e.next()
		val, err2 := parseUint(e.next())
		if err1 != nil || err2 != nil || (op != "==" && op != "!=") {
			return fmt.Errorf("unsupported mark match")
		}
		e.matched = (e.s.mark&mask == val) == (op == "==")
		return nil
	case "set":
		if err := e.expect("meta", "mark"); err != nil {
			return err
		}
		op := e.next()
		val, err := parseUint(e.next())
		if err != nil {
			return err
		}
		switch op {
		case "or", "|":
			e.s.mark |= val
		case "xor", "^":
			e.s.mark ^= val
		default:
			return fmt.Errorf("unsupported mark operation %q", op)
		}
		return nil
	}
	return fmt.Errorf("unsupported meta mark expression")
}

func parseUint(s string) (uint32, error) {
	v, err := strconv.ParseUint(s, 0, 32)
	return uint32(v), err
}

// addrPort parses a DNAT target, "10.0.0.1:80" or "[fd00::1]:80".
func addrPort(s string) (netip.AddrPort, error) {
	return netip.ParseAddrPort(s)
}
