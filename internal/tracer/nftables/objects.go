package nfttrace

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"sigs.k8s.io/knftables"
)

// hooks and chainTypes are the base chain hooks and types the tracer
// knows the place of in a packet's path.
var (
	hooks = []knftables.BaseChainHook{
		knftables.PreroutingHook, knftables.InputHook, knftables.ForwardHook,
		knftables.OutputHook, knftables.PostroutingHook,
	}
	chainTypes = []knftables.BaseChainType{knftables.FilterType, knftables.NATType, knftables.RouteType}
)

// addChain declares a chain: "NAME" or "NAME { type T hook H priority
// P ; }". Adding a chain that exists with the same declaration changes
// nothing, as in nft.
func (t *Table) addChain(name, decl string) error {
	cs, err := clauses(decl, "type", "policy", "comment")
	if err != nil {
		return err
	}
	c := &Chain{Name: name}
	for _, cl := range cs {
		f := strings.Fields(cl)
		switch f[0] {
		case "type":
			if len(f) != 6 || f[2] != "hook" || f[4] != "priority" {
				return fmt.Errorf("want type T hook H priority P, got %q", cl)
			}
			if !slices.Contains(chainTypes, knftables.BaseChainType(f[1])) {
				return fmt.Errorf("unsupported chain type %q", f[1])
			}
			c.Hook = knftables.BaseChainHook(f[3])
			if !slices.Contains(hooks, c.Hook) {
				return fmt.Errorf("unsupported hook %q", f[3])
			}
			if c.Priority, err = knftables.ParsePriority(t.Family, f[5]); err != nil {
				return err
			}
		case "policy":
			// The walk lets a packet through at the end of a base
			// chain; a drop policy would need modelling first.
			if cl != "policy accept" {
				return fmt.Errorf("unsupported %q", cl)
			}
		}
	}
	if old := t.Chains[name]; old != nil {
		if old.Hook != c.Hook || old.Priority != c.Priority {
			return fmt.Errorf("chain %s exists with another declaration", name)
		}
		return nil
	}
	t.Chains[name] = c
	return nil
}

// addSet declares a set, or a map if isMap: "NAME { type|typeof KEY [:
// VALUE] ; [flags F ;] ... }".
func (t *Table) addSet(isMap bool, name, decl string) error {
	cs, err := clauses(decl, "type", "typeof", "flags", "auto-merge", "timeout", "gc-interval", "size", "policy", "comment")
	if err != nil {
		return err
	}
	s := &Set{Name: name}
	for _, cl := range cs {
		word, arg, _ := strings.Cut(cl, " ")
		switch word {
		case "type", "typeof":
			key, value, hasValue := strings.Cut(arg, " : ")
			if hasValue != isMap {
				return fmt.Errorf("%s %s: the type %q does not fit a %s", kindOf(isMap), name, arg, kindOf(isMap))
			}
			s.keyParts = len(splitParts(key))
			if hasValue {
				s.valueParts = len(splitParts(value))
			}
		case "flags":
			s.interval = slices.Contains(strings.Split(arg, ","), "interval")
		}
	}
	if s.keyParts == 0 {
		return fmt.Errorf("%s %s declares no type", kindOf(isMap), name)
	}
	own, other := t.Sets, t.Maps
	if isMap {
		own, other = other, own
	}
	if other[name] != nil {
		return fmt.Errorf("%s is a %s already", name, kindOf(!isMap))
	}
	if old := own[name]; old != nil {
		if old.keyParts != s.keyParts || old.valueParts != s.valueParts || old.interval != s.interval {
			return fmt.Errorf("%s %s exists with another declaration", kindOf(isMap), name)
		}
		return nil
	}
	own[name] = s
	return nil
}

func kindOf(isMap bool) string {
	if isMap {
		return "map"
	}
	return "set"
}

// flushSet removes every element of a set, or of a map if isMap.
func (t *Table) flushSet(isMap bool, name, rest string) error {
	if rest != "" {
		return fmt.Errorf("unexpected %q", rest)
	}
	s := t.Sets[name]
	if isMap {
		s = t.Maps[name]
	}
	if s == nil {
		return fmt.Errorf("no %s %q", kindOf(isMap), name)
	}
	s.flush()
	return nil
}

// addRule appends a rule to a chain, once every chain, set and map it
// names exists.
func (t *Table) addRule(chain, text string) error {
	c := t.Chains[chain]
	if c == nil {
		return fmt.Errorf("no chain %q", chain)
	}
	rule, comment, err := stripComment(text)
	if err != nil {
		return err
	}
	if strings.TrimSpace(rule) == "" {
		return fmt.Errorf("empty rule")
	}
	if err := t.checkRefs(rule); err != nil {
		return err
	}
	c.Rules = append(c.Rules, rule)
	c.Comments = append(c.Comments, comment)
	return nil
}

// checkRefs checks that the chains a rule jumps or goes to, in a
// statement or an anonymous verdict map, and the sets and maps it names
// with @ exist.
func (t *Table) checkRefs(rule string) error {
	words := strings.Fields(rule)
	for i, w := range words {
		switch {
		case w == "jump" || w == "goto":
			if i+1 == len(words) {
				return fmt.Errorf("%s without a chain", w)
			}
			if target := strings.TrimSuffix(words[i+1], ","); t.Chains[target] == nil {
				return fmt.Errorf("no chain %q", target)
			}
		case strings.HasPrefix(w, "@"):
			name := w[1:]
			if i > 0 && (words[i-1] == "map" || words[i-1] == "vmap") {
				if t.Maps[name] == nil {
					return fmt.Errorf("no map %q", name)
				}
			} else if t.Sets[name] == nil {
				return fmt.Errorf("no set %q", name)
			}
		}
	}
	return nil
}

// addElements adds "{ E, E, ... }" to a set or map.
func (t *Table) addElements(name, body string) error {
	s, isMap := t.Sets[name], false
	if s == nil {
		s, isMap = t.Maps[name], true
	}
	if s == nil {
		return fmt.Errorf("no set or map %q", name)
	}
	inner, err := braced(body)
	if err != nil {
		return err
	}
	for _, text := range strings.Split(inner, ",") {
		e, err := t.element(s, isMap, strings.TrimSpace(text))
		if err != nil {
			return err
		}
		if err := s.add(e); err != nil {
			return fmt.Errorf("%s %s: %w", kindOf(isMap), name, err)
		}
	}
	return nil
}

// elementComment splits `KEY comment "TEXT"` into the key and the
// comment's text, which nft limits to 128 bytes.
func elementComment(key string) (string, string, error) {
	k, quoted, ok := strings.Cut(key, ` comment `)
	if !ok {
		return key, "", nil
	}
	c, err := strconv.Unquote(quoted)
	if err != nil || c == "" || len(c) > 128 {
		return "", "", fmt.Errorf("bad element comment %s", quoted)
	}
	return k, c, nil
}

// element parses one element of s and checks it fits: as many key (and
// value) parts as s's type has, prefixes only in an interval set, and
// verdicts only to chains that exist.
func (t *Table) element(s *Set, isMap bool, text string) (Element, error) {
	key, value, hasValue := strings.Cut(text, " : ")
	key, comment, err := elementComment(key)
	if err != nil || key == "" || strings.ContainsRune(key+value, '"') {
		return Element{}, fmt.Errorf("unsupported element %q in %s %s", text, kindOf(isMap), s.Name)
	}
	if hasValue != isMap {
		return Element{}, fmt.Errorf("element %q does not fit %s %s", text, kindOf(isMap), s.Name)
	}
	e := Element{Key: splitParts(key), Comment: comment}
	if len(e.Key) != s.keyParts {
		return Element{}, fmt.Errorf("element %q has %d key parts, %s %s has %d", text, len(e.Key), kindOf(isMap), s.Name, s.keyParts)
	}
	for _, k := range e.Key {
		if _, err := netip.ParsePrefix(k); err == nil && !s.interval {
			return Element{}, fmt.Errorf("prefix %s in %s %s, which is no interval set", k, kindOf(isMap), s.Name)
		}
	}
	if !hasValue {
		return e, nil
	}
	e.Value = splitParts(value)
	if len(e.Value) != s.valueParts {
		return Element{}, fmt.Errorf("element %q has %d value parts, map %s has %d", text, len(e.Value), s.Name, s.valueParts)
	}
	if f := strings.Fields(value); len(f) == 2 && (f[0] == "goto" || f[0] == "jump") && t.Chains[f[1]] == nil {
		return Element{}, fmt.Errorf("no chain %q", f[1])
	}
	return e, nil
}
