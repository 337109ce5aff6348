package nfttrace

import (
	"fmt"
	"slices"
	"strings"

	"sigs.k8s.io/knftables"
)

// Table is one nftables table in the state a transaction text left it:
// its chains with their rules and its sets and maps with their elements.
type Table struct {
	Family knftables.Family
	Name   string
	Chains map[string]*Chain
	// Sets and Maps share one namespace, as in nft.
	Sets map[string]*Set
	Maps map[string]*Set
}

// Chain is a chain of a Table.
type Chain struct {
	Name string
	// Hook is empty for a regular chain; Priority then means nothing.
	Hook     knftables.BaseChainHook
	Priority int
	// Rules are the rules' texts without their comments, in order, and
	// Comments their comments ("" for none).
	Rules    []string
	Comments []string
}

// Set is a named set or map of a Table.
type Set struct {
	Name string
	// keyParts and valueParts are how many " . "-joined parts the
	// declared type has in its key and, for a map, in its value.
	keyParts, valueParts int
	// interval says the set was declared with `flags interval`, which
	// nft requires before it takes a prefix as an element.
	interval bool
	Elements []Element
	// index finds an element by its joined key, so that loading stays
	// linear in the number of elements.
	index map[string]int
}

// Element is a set or map element, its key and value split at " . ".
type Element struct {
	Key []string
	// Value is nil for a set element.
	Value []string
	// Comment is the element's comment, "" for none.
	Comment string
}

// String returns the element as nft writes it, without its comment.
func (e Element) String() string {
	s := strings.Join(e.Key, " . ")
	if e.Value != nil {
		s += " : " + strings.Join(e.Value, " . ")
	}
	return s
}

func newTable(family knftables.Family, name string) *Table {
	return &Table{Family: family, Name: name, Chains: map[string]*Chain{}, Sets: map[string]*Set{}, Maps: map[string]*Set{}}
}

// add adds e to s unless s holds its key already. nft refuses a map
// element whose key is there with another value, which is why the
// renderer flushes every map it adds before filling it.
func (s *Set) add(e Element) error {
	key := strings.Join(e.Key, " . ")
	if i, ok := s.index[key]; ok {
		if !slices.Equal(s.Elements[i].Value, e.Value) {
			return fmt.Errorf("element %s exists with another value", key)
		}
		return nil
	}
	if s.index == nil {
		s.index = map[string]int{}
	}
	s.index[key] = len(s.Elements)
	s.Elements = append(s.Elements, e)
	return nil
}

// flush removes every element.
func (s *Set) flush() { s.Elements, s.index = nil, nil }
