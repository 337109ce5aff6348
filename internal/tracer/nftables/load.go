package nfttrace

import (
	"errors"
	"fmt"
	"strings"

	"sigs.k8s.io/knftables"
)

// Load reads `nft -f` text and returns the table it leaves, so a test
// traces the very text an applier sends. It reads the commands svcproxy
// writes, one per line: add, delete and flush of the table; add of
// chains, sets, maps, rules and elements; flush of sets and maps. Any
// other command is an error, and so is text that names a second table.
//
// Like nft, Load applies the commands in order and refuses one that
// names a chain, set or map not declared before it (in a jump or goto,
// an @reference, or a verdict element), an element of the wrong shape
// for its set or map, and a map element whose key is already there with
// another value. A renderer that forgets to declare an object therefore
// fails here, without a kernel.
func Load(text string) (*Table, error) {
	l := &loader{}
	for i, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		if err := l.command(line); err != nil {
			return nil, fmt.Errorf("line %d: %w: %s", i+1, err, excerpt(line))
		}
	}
	if l.table == nil {
		return nil, errors.New("the text leaves no table")
	}
	return l.table, nil
}

// excerpt shortens a command for an error message: an element command
// may hold a thousand elements.
func excerpt(line string) string {
	const max = 120
	if len(line) <= max {
		return line
	}
	return line[:max] + "..."
}

// loader applies commands to the one table a text names.
type loader struct {
	family knftables.Family
	name   string
	// table is nil until the table is added and after it is deleted.
	table *Table
}

// command applies one command line.
func (l *loader) command(line string) error {
	f := strings.SplitN(line, " ", 5)
	if len(f) < 4 {
		return errors.New("want VERB KIND FAMILY TABLE and the rest")
	}
	verb, kind, rest := f[0], f[1], ""
	if len(f) == 5 {
		rest = f[4]
	}
	if err := l.sameTable(knftables.Family(f[2]), f[3]); err != nil {
		return err
	}
	if kind == "table" {
		return l.tableCommand(verb, rest)
	}
	if l.table == nil {
		return fmt.Errorf("no table %s %s", l.family, l.name)
	}
	name, body, _ := strings.Cut(rest, " ")
	if name == "" {
		return fmt.Errorf("%s %s names no object", verb, kind)
	}
	switch verb + " " + kind {
	case "add chain":
		return l.table.addChain(name, body)
	case "add set", "add map":
		return l.table.addSet(kind == "map", name, body)
	case "flush set", "flush map":
		return l.table.flushSet(kind == "map", name, body)
	case "add rule":
		return l.table.addRule(name, body)
	case "add element":
		return l.table.addElements(name, body)
	}
	return fmt.Errorf("unsupported command %q", verb+" "+kind)
}

// sameTable checks that a command names the table the text's first
// command named.
func (l *loader) sameTable(family knftables.Family, name string) error {
	if family != knftables.IPv4Family && family != knftables.IPv6Family {
		return fmt.Errorf("unsupported family %q", family)
	}
	if l.name == "" {
		l.family, l.name = family, name
		return nil
	}
	if family != l.family || name != l.name {
		return fmt.Errorf("table %s %s after %s %s: Load reads one table", family, name, l.family, l.name)
	}
	return nil
}

// tableCommand applies add, delete or flush to the table itself.
// Flushing removes the rules of every chain but keeps the elements of
// sets and maps, as nft does.
func (l *loader) tableCommand(verb, rest string) error {
	switch verb {
	case "add":
		if _, err := clauses(rest, "comment"); err != nil {
			return err
		}
		if l.table == nil {
			l.table = newTable(l.family, l.name)
		}
		return nil
	case "delete", "flush":
		if rest != "" {
			return fmt.Errorf("unexpected %q", rest)
		}
		if l.table == nil {
			return fmt.Errorf("no table %s %s", l.family, l.name)
		}
		if verb == "delete" {
			l.table = nil
			return nil
		}
		for _, c := range l.table.Chains {
			c.Rules, c.Comments = nil, nil
		}
		return nil
	}
	return fmt.Errorf("unsupported command %q", verb+" table")
}
