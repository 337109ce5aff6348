package nfttrace

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/svcproxy/svcproxy/pkg/model"
)

// clauses splits a declaration, "{ CLAUSE ; CLAUSE ; }", into its
// clauses, and refuses one whose first word is not allowed. An empty
// declaration has none.
func clauses(decl string, allowed ...string) ([]string, error) {
	if decl == "" {
		return nil, nil
	}
	inner, err := braced(decl)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, c := range splitUnquoted(inner, ';') {
		c = strings.TrimSpace(c)
		if c == "" {
			continue
		}
		word, arg, _ := strings.Cut(c, " ")
		if !slices.Contains(allowed, word) {
			return nil, fmt.Errorf("unsupported %q", c)
		}
		if word == "comment" {
			if _, err := strconv.Unquote(arg); err != nil {
				return nil, fmt.Errorf("bad comment %s: %w", arg, err)
			}
		}
		out = append(out, c)
	}
	return out, nil
}

// braced returns what stands between "{ " and " }".
func braced(s string) (string, error) {
	inner, ok := strings.CutPrefix(s, "{ ")
	if ok {
		inner, ok = strings.CutSuffix(inner, " }")
	}
	if !ok {
		return "", fmt.Errorf("want { ... }, got %q", excerpt(s))
	}
	return inner, nil
}

// splitUnquoted splits s at every sep that is not inside a quoted
// string.
func splitUnquoted(s string, sep byte) []string {
	var out []string
	start, quoted := 0, false
	for i := 0; i < len(s); i++ {
		switch {
		case quoted && s[i] == '\\':
			i++ // the escaped byte cannot end the string
		case s[i] == '"':
			quoted = !quoted
		case !quoted && s[i] == sep:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

// stripComment returns a rule without its trailing `comment "..."`, and
// the comment.
// svcproxy's rules quote nothing else but an interface name after
// iifname, so a quote anywhere else is refused rather than guessed at.
func stripComment(rule string) (text, comment string, err error) {
	from := 0
	for {
		i := strings.IndexByte(rule[from:], '"')
		if i < 0 {
			return rule, "", nil
		}
		i += from
		if n := quotedInterface(rule, i); n > 0 {
			from = i + n
			continue
		}
		text, ok := strings.CutSuffix(rule[:i], " comment ")
		if !ok {
			return "", "", fmt.Errorf("a quote outside a trailing comment")
		}
		comment, err := strconv.Unquote(rule[i:])
		if err != nil {
			return "", "", fmt.Errorf("bad comment %s: %w", rule[i:], err)
		}
		return text, comment, nil
	}
}

// quotedInterface returns the length of the quoted interface name that
// starts at rule[i] after "iifname " or "iifname != ", or 0: a name
// model.ParseInterfaceName accepts, perhaps ending in "*".
func quotedInterface(rule string, i int) int {
	if !strings.HasSuffix(rule[:i], "iifname ") && !strings.HasSuffix(rule[:i], "iifname != ") {
		return 0
	}
	end := strings.IndexByte(rule[i+1:], '"')
	if end < 1 {
		return 0
	}
	if _, err := model.ParseInterfaceName(strings.TrimSuffix(rule[i+1:i+1+end], "*")); err != nil {
		return 0
	}
	return end + 2
}

// splitParts splits a key, value or type at " . ", the concatenation
// operator.
func splitParts(s string) []string {
	parts := strings.Split(s, " . ")
	for i := range parts {
		parts[i] = strings.TrimSpace(parts[i])
	}
	return parts
}
