package sync

import (
	"slices"
	"strings"
)

// nftState is a rendered transaction split in two: the skeleton (table,
// chains, rules, sets and maps, and their flushes) and the elements of
// each set and map, by key.
//
// When two transactions have the same skeleton, the state the second
// one builds differs from the first one's only in elements, so deleting
// and adding exactly the elements that differ reaches it: an incremental
// sync that provably ends where a full one would.
type nftState struct {
	skeleton string
	// elements maps a set or map name to its elements: key → the whole
	// element body ("key : value" for maps, "key" for sets).
	elements map[string]map[string]string
	// prefix is "add element FAMILY TABLE " as knftables writes it.
	prefix string
}

// splitState splits tx.String() output: one command per line, one
// element per "add element" line.
func splitState(text string) *nftState {
	st := &nftState{elements: map[string]map[string]string{}}
	var skeleton strings.Builder
	for line := range strings.Lines(text) {
		set, body, prefix, ok := splitElementLine(line)
		if !ok {
			skeleton.WriteString(line)
			continue
		}
		st.prefix = prefix
		if st.elements[set] == nil {
			st.elements[set] = map[string]string{}
		}
		key, _, _ := strings.Cut(body, " : ")
		st.elements[set][key] = body
	}
	st.skeleton = skeleton.String()
	return st
}

// splitElementLine splits "add element ip svcproxy SET { BODY }".
func splitElementLine(line string) (set, body, prefix string, ok bool) {
	if !strings.HasPrefix(line, "add element ") {
		return "", "", "", false
	}
	head, rest, ok := strings.Cut(strings.TrimSuffix(line, "\n"), " { ")
	if !ok || !strings.HasSuffix(rest, " }") {
		return "", "", "", false
	}
	i := strings.LastIndexByte(head, ' ')
	return head[i+1:], strings.TrimSuffix(rest, " }"), head[:i+1], true
}

// elementDelta returns the commands that turn prev's elements into
// next's: deletions of removed and changed keys first, then additions of
// new and changed ones, sets and keys sorted so the text is
// deterministic. The caller has checked that the skeletons are equal.
func elementDelta(prev, next *nftState) string {
	var b strings.Builder
	names := setNames(prev, next)
	for _, set := range names {
		old, cur := prev.elements[set], next.elements[set]
		for _, key := range sortedKeys(old) {
			if body, ok := cur[key]; !ok || body != old[key] {
				b.WriteString("delete" + strings.TrimPrefix(prev.prefix, "add") + set + " { " + key + " }\n")
			}
		}
	}
	for _, set := range names {
		old, cur := prev.elements[set], next.elements[set]
		for _, key := range sortedKeys(cur) {
			if body, ok := old[key]; !ok || body != cur[key] {
				b.WriteString(next.prefix + set + " { " + cur[key] + " }\n")
			}
		}
	}
	return b.String()
}

func setNames(a, b *nftState) []string {
	var names []string
	for n := range a.elements {
		names = append(names, n)
	}
	for n := range b.elements {
		if _, ok := a.elements[n]; !ok {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	return names
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// stats counts the objects of the state, for metrics.
func (st *nftState) stats() []TableStats {
	s := nftablesStats(st.skeleton)[0]
	for _, els := range st.elements {
		s.Elements += len(els)
	}
	return []TableStats{s}
}
