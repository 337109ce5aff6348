// Package iptrace walks a packet through an iptables-restore payload as
// the kernel would, so tests can assert where svcproxy's iptables rules
// send it.
//
// It understands exactly the subset of iptables that the renderer in
// pkg/render/iptables emits. Anything else is an error rather than being
// ignored: a renderer change the tracer does not understand must fail the
// tests, not pass them by accident.
package iptrace

import (
	"fmt"
	"regexp"
	"strings"
)

// builtinChains are the built-in chains of the tables the tracer knows.
// Rules reach them only through "# jump:" comment lines, since svcproxy
// does not own them.
var builtinChains = map[string][]string{
	"filter": {"INPUT", "FORWARD", "OUTPUT"},
	"nat":    {"PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"},
}

// Ruleset is a parsed payload.
type Ruleset struct {
	tables map[string]*table
}

type table struct {
	name   string
	chains map[string]*chain
}

type chain struct {
	name    string
	builtin bool
	rules   []*rule
}

// Parse reads an iptables-restore payload as produced by the renderer,
// including its "# jump: -A CHAIN RULE" lines, which it adds to the
// built-in chains in the order they appear.
func Parse(payload []byte) (*Ruleset, error) {
	rs := &Ruleset{tables: map[string]*table{}}
	var cur *table
	for i, line := range strings.Split(string(payload), "\n") {
		if err := rs.parseLine(&cur, strings.TrimSpace(line)); err != nil {
			return nil, fmt.Errorf("line %d: %w", i+1, err)
		}
	}
	if cur != nil {
		return nil, fmt.Errorf("table %s: missing COMMIT", cur.name)
	}
	return rs, nil
}

func (rs *Ruleset) parseLine(cur **table, line string) error {
	switch {
	case line == "":
		return nil
	case strings.HasPrefix(line, "# jump: -A "):
		if *cur == nil {
			return fmt.Errorf("jump outside a table")
		}
		return (*cur).addRule(strings.TrimPrefix(line, "# jump: -A "), true)
	case strings.HasPrefix(line, "#"):
		return nil
	case strings.HasPrefix(line, "*"):
		return rs.startTable(cur, line[1:])
	case line == "COMMIT":
		if *cur == nil {
			return fmt.Errorf("COMMIT outside a table")
		}
		err := (*cur).checkTargets()
		*cur = nil
		return err
	case *cur == nil:
		return fmt.Errorf("%q outside a table", line)
	case strings.HasPrefix(line, ":"):
		return (*cur).declare(line[1:])
	case strings.HasPrefix(line, "-A "):
		return (*cur).addRule(line[len("-A "):], false)
	}
	return fmt.Errorf("unknown line %q", line)
}

func (rs *Ruleset) startTable(cur **table, name string) error {
	if *cur != nil {
		return fmt.Errorf("table %s starts before %s is committed", name, (*cur).name)
	}
	builtins, ok := builtinChains[name]
	if !ok {
		return fmt.Errorf("unknown table %q", name)
	}
	if rs.tables[name] != nil {
		return fmt.Errorf("table %s appears twice", name)
	}
	t := &table{name: name, chains: map[string]*chain{}}
	for _, c := range builtins {
		t.chains[c] = &chain{name: c, builtin: true}
	}
	rs.tables[name] = t
	*cur = t
	return nil
}

// declare handles ":NAME - [0:0]". Declaring a chain twice is an error
// because the renderer must not emit the same chain from two places.
func (t *table) declare(decl string) error {
	f := strings.Fields(decl)
	if len(f) != 3 || f[1] != "-" || f[2] != "[0:0]" {
		return fmt.Errorf("bad chain declaration %q", decl)
	}
	if t.chains[f[0]] != nil {
		return fmt.Errorf("chain %s declared twice or is built in", f[0])
	}
	t.chains[f[0]] = &chain{name: f[0]}
	return nil
}

// commentMatch is the comment module of a rule, which a Step keeps
// apart from the rule.
var commentMatch = regexp.MustCompile(`-m comment --comment ("[^"]*"|\S+) ?`)

// addRule parses "CHAIN RULE..." and appends it. Jump lines may only
// target built-in chains and -A lines only declared ones, as restore
// --noflush with the applier's -I would require.
func (t *table) addRule(text string, jump bool) error {
	name, args, _ := strings.Cut(text, " ")
	c := t.chains[name]
	if c == nil {
		return fmt.Errorf("rule for undeclared chain %q", name)
	}
	if c.builtin != jump {
		return fmt.Errorf("chain %s: built-in chains take only jump lines, owned chains only -A lines", name)
	}
	tokens, err := tokenize(args)
	if err != nil {
		return err
	}
	r, err := parseRule(tokens, t.name)
	if err != nil {
		return fmt.Errorf("chain %s: %w", name, err)
	}
	r.text = strings.TrimSpace(commentMatch.ReplaceAllString(args, ""))
	c.rules = append(c.rules, r)
	return nil
}

// checkTargets makes sure every jump goes to a chain of the table that is
// not built in, as iptables-restore would.
func (t *table) checkTargets() error {
	for _, c := range t.chains {
		for _, r := range c.rules {
			if r.target.chain == "" {
				continue
			}
			to := t.chains[r.target.chain]
			if to == nil || to.builtin {
				return fmt.Errorf("table %s: rule %q jumps to unknown chain %s", t.name, r.text, r.target.chain)
			}
		}
	}
	return nil
}

// tokenize splits a rule into words the way iptables-restore does:
// on spaces, with double quotes grouping a comment that contains them.
func tokenize(s string) ([]string, error) {
	var out []string
	for {
		s = strings.TrimLeft(s, " \t")
		if s == "" {
			return out, nil
		}
		if s[0] == '"' {
			end := strings.IndexByte(s[1:], '"')
			if end < 0 {
				return nil, fmt.Errorf("unterminated quote in %q", s)
			}
			out = append(out, s[1:end+1])
			s = s[end+2:]
			continue
		}
		end := strings.IndexAny(s, " \t")
		if end < 0 {
			end = len(s)
		}
		if strings.ContainsRune(s[:end], '"') {
			return nil, fmt.Errorf("stray quote in %q", s[:end])
		}
		out = append(out, s[:end])
		s = s[end:]
	}
}
