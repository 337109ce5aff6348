package nftables

import (
	"strings"

	"sigs.k8s.io/knftables"
)

// maxElementsPerCommand bounds how many elements Text merges into one
// command: enough to make per-command overhead vanish, few enough that an
// error message from nft, which quotes the failing command, stays readable.
const maxElementsPerCommand = 1000

// Text returns tx as `nft -f` input, with consecutive element additions to
// the same set or map merged into one command.
//
// knftables writes one "add element" command per element, and nft pays per
// command: 221,000 single-element commands (10,000 Services × 10
// endpoints) load in about 8 s, the same elements in a few hundred
// commands in under 2 s. The merged text means exactly the same
// transaction.
func Text(tx *knftables.Transaction) string {
	return MergeElements(tx.String())
}

// MergeElements merges consecutive element additions to the same set or
// map in `nft -f` text, as Text does. Appliers that look at the
// transaction's elements one by one (to apply only what changed) split
// tx.String() themselves and merge what they send.
func MergeElements(text string) string {
	return compactElements(text)
}

func compactElements(text string) string {
	var out strings.Builder
	// Sizing the output exactly first saves growing, or over-allocating,
	// a buffer of several megabytes for a large cluster.
	out.Grow(mergeElements(text, nil))
	mergeElements(text, &out)
	return out.String()
}

// mergeElements writes text with element runs merged to out, or only
// counts the bytes when out is nil, and returns the count.
func mergeElements(text string, out *strings.Builder) int {
	size := 0
	write := func(s string) {
		size += len(s)
		if out != nil {
			out.WriteString(s)
		}
	}
	var prefix string
	n := 0
	flush := func() {
		if n > 0 {
			write(" }\n")
		}
		prefix, n = "", 0
	}
	for line := range strings.Lines(text) {
		p, body, ok := splitElementCommand(line)
		switch {
		case !ok:
			flush()
			write(line)
			continue
		case p != prefix || n == maxElementsPerCommand:
			flush()
			prefix = p
			write(p)
			write(" { ")
		default:
			write(", ")
		}
		write(body)
		n++
	}
	flush()
	return size
}

// splitElementCommand splits `add element FAMILY TABLE SET { BODY }` into
// the part before the brace and BODY.
func splitElementCommand(line string) (prefix, body string, ok bool) {
	if !strings.HasPrefix(line, "add element ") {
		return "", "", false
	}
	prefix, rest, ok := strings.Cut(strings.TrimSuffix(line, "\n"), " { ")
	if !ok || !strings.HasSuffix(rest, " }") {
		return "", "", false
	}
	return prefix, strings.TrimSuffix(rest, " }"), true
}
