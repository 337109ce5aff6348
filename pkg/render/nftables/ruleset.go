package nftables

import (
	"strings"

	"sigs.k8s.io/knftables"

	"github.com/svcproxy/svcproxy/pkg/model"
)

// Ruleset is a model rendered for loading: the `nft -f` text, the chains,
// sets and maps it adds, and the Index an incremental sync starts from.
type Ruleset struct {
	// Text is the transaction as Text would write it for Render's tx,
	// byte for byte.
	Text string
	// Objects lists the chains, sets and maps the text adds, so the
	// applier can delete the ones the table holds beyond them.
	Objects []Object
	// Index describes the rendered table for Diff.
	Index *Index
}

// Object is a chain, set or map of the table.
type Object struct {
	// Kind is "chain", "set" or "map".
	Kind, Name string
}

// RenderRuleset renders m as Render does and writes the text directly:
// knftables formats each element with fmt, and at 221,000 elements that
// took twice as long as rendering and most of the garbage. The skeleton,
// a few dozen commands, still goes through knftables.
func RenderRuleset(m *model.Model) *Ruleset {
	r := renderAll(m, true)
	tx := knftables.NewFake(Family(m.Family), TableName).NewTransaction()
	r.emitSkeleton(tx)
	skeleton := tx.String()
	names := sortedKeys(r.elements)
	prefix := func(name string) string {
		return "add element " + string(Family(m.Family)) + " " + TableName + " " + name
	}
	size := len(skeleton)
	for _, name := range names {
		size += r.elements[name].commandsSize(prefix(name))
	}
	var b strings.Builder
	b.Grow(size)
	b.WriteString(skeleton)
	for _, name := range names {
		r.elements[name].writeCommands(&b, prefix(name), false)
	}
	return &Ruleset{Text: b.String(), Objects: r.objects(), Index: newIndex(r)}
}

// objects lists the chains, sets and maps the renderer made.
func (r *renderer) objects() []Object {
	objs := make([]Object, 0, len(r.chains)+len(r.sets)+len(r.maps))
	for _, name := range sortedKeys(r.chains) {
		objs = append(objs, Object{"chain", name})
	}
	for _, name := range sortedKeys(r.sets) {
		objs = append(objs, Object{"set", name})
	}
	for _, name := range sortedKeys(r.maps) {
		objs = append(objs, Object{"map", name})
	}
	return objs
}
