package model

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
)

// Warning says that an object, or part of one, was skipped and why. The
// rest of the input still renders.
type Warning struct {
	// Kind is the object's kind: "Service", "EndpointSlice", "Node".
	Kind string
	// Object is "namespace/name" (or "name" for cluster-scoped objects).
	Object string
	// Reason says what is wrong and what was skipped.
	Reason string
}

// String returns "Kind namespace/name: reason", with control characters
// escaped (see EscapeControl).
func (w Warning) String() string {
	return EscapeControl(fmt.Sprintf("%s %s: %s", w.Kind, w.Object, w.Reason))
}

// EscapeControl returns s with every control character (a newline, a
// terminal escape, any C0 or C1 code, DEL) written as a Go escape, so
// that text quoting input stays on its line and reaches a terminal as
// text: a name holding "\n" cannot forge another warning line, nor one
// holding ESC recolor the screen.
func EscapeControl(s string) string {
	if !strings.ContainsFunc(s, unicode.IsControl) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if unicode.IsControl(r) {
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// warnings collects Warnings while a model is built.
type warnings []Warning

func (w *warnings) add(kind, object, format string, args ...any) {
	*w = append(*w, Warning{Kind: kind, Object: object, Reason: fmt.Sprintf(format, args...)})
}
