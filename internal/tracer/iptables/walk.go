package iptrace

import (
	"fmt"

	"github.com/svcproxy/svcproxy/internal/tracer"
)

// run walks s through chain c from rule index from and returns every way
// the chain can end. A random rule forks the walk: one branch goes on as
// if it did not match, the other takes its target.
func (w *walker) run(t *table, c *chain, from int, s state, depth int) ([]branch, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("table %s: chains nest deeper than %d at %s: a loop?", t.name, maxDepth, c.name)
	}
	var out []branch
	for i := from; i < len(c.rules); i++ {
		r := c.rules[i]
		if !r.matchesAll(w, &s) {
			continue
		}
		taken := s
		if r.random {
			skipped := s
			skipped.trail = s.trail.Choose(1 - r.probability)
			rest, err := w.run(t, c, i+1, skipped, depth)
			if err != nil {
				return nil, err
			}
			out = append(out, rest...)
			taken.trail = s.trail.Choose(r.probability)
		}
		if r.target.kind != targetNone {
			taken.trail = taken.trail.Take(tracer.Step{Table: t.name, Chain: c.name, Rule: r.text, Comment: r.comment})
		}
		ended, cont, err := w.apply(t, r, taken, depth)
		if err != nil {
			return nil, err
		}
		out = append(out, ended...)
		switch len(cont) {
		case 0:
			return out, nil
		case 1:
			s = cont[0]
			continue
		}
		// A called chain forked and several branches returned: each goes
		// on from the next rule.
		for _, cs := range cont {
			rest, err := w.run(t, c, i+1, cs, depth)
			if err != nil {
				return nil, err
			}
			out = append(out, rest...)
		}
		return out, nil
	}
	return append(out, branch{s: s, v: verdictContinue}), nil
}

func (r *rule) matchesAll(w *walker, s *state) bool {
	for _, m := range r.matches {
		if !m(w, s) {
			return false
		}
	}
	return true
}

// apply applies r's target to s. ended are the ways the current chain
// ends here; cont the states with which it goes on to its next rule.
func (w *walker) apply(t *table, r *rule, s state, depth int) (ended []branch, cont []state, err error) {
	tg := r.target
	switch tg.kind {
	case targetNone:
	case targetMark:
		s.mark = (s.mark | tg.orMark) ^ tg.xorMark
	case targetReturn:
		return []branch{{s: s, v: verdictContinue}}, nil, nil
	case targetAccept:
		return []branch{{s: s, v: verdictAccept}}, nil, nil
	case targetDrop:
		return []branch{{s: s, v: verdictDrop}}, nil, nil
	case targetReject:
		return []branch{{s: s, v: verdictReject}}, nil, nil
	case targetDNAT:
		// DNAT ends the nat table's walk for this hook, like ACCEPT.
		s.dst, s.port, s.dnat = tg.to.Addr(), tg.to.Port(), tg.to
		return []branch{{s: s, v: verdictAccept}}, nil, nil
	case targetMasquerade:
		s.masq = true
		return []branch{{s: s, v: verdictAccept}}, nil, nil
	case targetGoto:
		// The called chain's return is this chain's return.
		ended, err := w.run(t, t.chains[tg.chain], 0, s, depth+1)
		return ended, nil, err
	case targetJump:
		results, err := w.run(t, t.chains[tg.chain], 0, s, depth+1)
		if err != nil {
			return nil, nil, err
		}
		for _, b := range results {
			if b.v == verdictContinue {
				cont = append(cont, b.s)
			} else {
				ended = append(ended, b)
			}
		}
		return ended, cont, nil
	}
	return nil, []state{s}, nil
}
