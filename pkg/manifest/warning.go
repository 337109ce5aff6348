package manifest

import (
	"strings"

	"github.com/svcproxy/svcproxy/pkg/model"
)

// Warning reports something in the manifests that was skipped or ignored.
type Warning struct {
	// File names the stream (or the directory, for an empty one).
	File string
	// Document is the 1-based number of the document in the stream (YAML
	// documents are separated by "---" lines, JSON ones are concatenated)
	// and Item the object inside a List, as "items[2]" or, in nested Lists,
	// "items[0].items[2]". Document is 0 for a warning about a whole
	// file or directory.
	Document int
	Item     string
	// Kind is the object's kind and Object its "namespace/name" (or "name");
	// either is empty when the document does not say.
	Kind   string
	Object string
	// Reason says what was skipped or ignored, and why.
	Reason string
}

// String returns "FILE: document N: [ITEM: ][KIND OBJECT: ]REASON", with
// control characters escaped (model.EscapeControl).
func (w Warning) String() string {
	var b strings.Builder
	b.WriteString(w.File)
	b.WriteString(": ")
	if w.Document > 0 {
		b.WriteString(location{document: w.Document, item: w.Item}.String())
	}
	if w.Kind != "" || w.Object != "" {
		b.WriteString(strings.TrimSpace(w.Kind + " " + w.Object))
		b.WriteString(": ")
	}
	b.WriteString(w.Reason)
	return model.EscapeControl(b.String())
}
