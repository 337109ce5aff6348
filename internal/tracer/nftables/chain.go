package nfttrace

import (
	"fmt"

	"github.com/svcproxy/svcproxy/internal/tracer"
)

// verdict is how a walk through a chain ended.
type verdict int

const (
	// vNone: the chain ran out or returned; the caller goes on.
	vNone verdict = iota
	vAccept
	vDrop
	vReject
)

// branch is one way through a chain.
type branch struct {
	s state
	v verdict
}

// actionKind is what a rule does after its matches and statements.
type actionKind int

const (
	actNext actionKind = iota // did not match, or matched without a verdict
	actJump
	actGoto
	actReturn
	actAccept
	actDrop
	actReject
)

// action is a rule's verdict and, for jump and goto, its target.
type action struct {
	kind   actionKind
	target string
}

// outcome is one way a rule can end for one value of numgen; matched
// says the rule's matches held.
type outcome struct {
	s       state
	act     action
	matched bool
	// hit is the verdict map element the rule took, if any.
	hit *Element
}

// runChain walks s through the named chain.
func (w *walker) runChain(name string, s state, depth int) ([]branch, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("chain %s: jumps nested deeper than %d", name, maxDepth)
	}
	c := w.table.Chains[name]
	if c == nil {
		return nil, fmt.Errorf("no chain %q", name)
	}
	return w.runRules(name, 0, s, depth)
}

// runRules walks s through the rules of chain from index i on.
func (w *walker) runRules(chain string, i int, s state, depth int) ([]branch, error) {
	c := w.table.Chains[chain]
	if i == len(c.Rules) {
		return []branch{{s, vNone}}, nil
	}
	outs, err := w.evalRule(c.Rules[i], s)
	if err != nil {
		return nil, fmt.Errorf("chain %s rule %q: %w", chain, c.Rules[i], err)
	}
	var out []branch
	for _, o := range outs {
		if o.matched {
			st := tracer.Step{Table: string(w.table.Family) + " " + w.table.Name, Chain: chain, Rule: c.Rules[i], Comment: c.Comments[i]}
			if o.hit != nil {
				st.Element, st.ElementComment = o.hit.String(), o.hit.Comment
			}
			o.s.trail = o.s.trail.Take(st)
		}
		bs, err := w.follow(chain, i, o, depth)
		if err != nil {
			return nil, err
		}
		out = append(out, bs...)
	}
	return out, nil
}

// follow carries out one rule outcome.
func (w *walker) follow(chain string, i int, o outcome, depth int) ([]branch, error) {
	switch o.act.kind {
	case actNext:
		return w.runRules(chain, i+1, o.s, depth)
	case actReturn:
		return []branch{{o.s, vNone}}, nil
	case actAccept:
		return []branch{{o.s, vAccept}}, nil
	case actDrop:
		return []branch{{o.s, vDrop}}, nil
	case actReject:
		return []branch{{o.s, vReject}}, nil
	case actGoto:
		// A return in the target returns from this chain too.
		return w.runChain(o.act.target, o.s, depth+1)
	}
	sub, err := w.runChain(o.act.target, o.s, depth+1)
	if err != nil {
		return nil, err
	}
	var out []branch
	for _, b := range sub {
		if b.v != vNone {
			out = append(out, b)
			continue
		}
		rest, err := w.runRules(chain, i+1, b.s, depth)
		if err != nil {
			return nil, err
		}
		out = append(out, rest...)
	}
	return out, nil
}
