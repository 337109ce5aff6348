package model

import "fmt"

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

// String returns "Kind namespace/name: reason".
func (w Warning) String() string {
	return fmt.Sprintf("%s %s: %s", w.Kind, w.Object, w.Reason)
}

// warnings collects Warnings while a model is built.
type warnings []Warning

func (w *warnings) add(kind, object, format string, args ...any) {
	*w = append(*w, Warning{Kind: kind, Object: object, Reason: fmt.Sprintf(format, args...)})
}
