package sync

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"sigs.k8s.io/knftables"

	"github.com/svcproxy/svcproxy/pkg/model"
	"github.com/svcproxy/svcproxy/pkg/render/nftables"
)

// NFTables applies nftables rulesets of one IP family: the table
// `ip svcproxy` or `ip6 svcproxy`.
//
// The transaction is built with knftables and fed to `nft -f` as
// nftables.Text, which merges element commands. nft checks the whole
// transaction before committing any of it, so a reference to an object
// that does not exist fails it atomically. (knftables' fake could check
// that earlier, but it looks elements up one by one in a list: at 10,000
// Services the check alone took minutes.)
// knftables' own Run would write one command per element, and at 10,000
// Services that takes 8 s instead of 2 s.
type NFTables struct {
	Family model.Family
	Runner Runner

	stats []TableStats
	// last is what the last successful apply loaded; nil when unknown
	// (before the first apply, after a failure, after ApplyText).
	last *nftState
	// incremental says whether the last successful apply was one.
	incremental bool
}

// LastStats returns what the last successful apply loaded.
func (a *NFTables) LastStats() []TableStats { return a.stats }

// Apply brings the table to the state m describes in one nft transaction:
// the table is flushed and refilled, and chains, sets and maps that m no
// longer needs are deleted in the same transaction. Other tables are never
// touched. If nft rejects the transaction, nothing changes.
func (a *NFTables) Apply(ctx context.Context, m *model.Model) error {
	return a.applyFull(ctx, render(m))
}

// Update brings the table to m's state like Apply, but when m renders to
// the same chains, rules, sets and maps as the last successful apply, it
// sends only the elements that changed: one endpoint change then costs a
// few element commands, not a reload of every map. Anything else — the
// first sync, a changed skeleton, a failed delta — takes the full path.
func (a *NFTables) Update(ctx context.Context, m *model.Model) error {
	text := render(m)
	next := splitState(text)
	if a.last == nil || next.skeleton != a.last.skeleton {
		return a.applyFull(ctx, text)
	}
	if delta := elementDelta(a.last, next); delta != "" {
		if _, err := a.Runner.Run(ctx, []byte(nftables.MergeElements(delta)), "nft", "-f", "-"); err != nil {
			// The kernel may have drifted from what we last loaded; a full
			// apply brings it back whatever it holds.
			return a.applyFull(ctx, text)
		}
	}
	a.last, a.stats, a.incremental = next, next.stats(), true
	return nil
}

// LastIncremental reports whether the last successful apply sent only
// changed elements.
func (a *NFTables) LastIncremental() bool { return a.incremental }

// applyFull applies an unmerged transaction text in full and remembers it.
func (a *NFTables) applyFull(ctx context.Context, text string) error {
	if err := a.ApplyText(ctx, nftables.MergeElements(text)); err != nil {
		a.last = nil
		return err
	}
	a.last, a.incremental = splitState(text), false
	a.stats = a.last.stats()
	return nil
}

// ApplyText applies a transaction text as Apply does, deleting the objects
// it does not add.
func (a *NFTables) ApplyText(ctx context.Context, text string) error {
	existing, err := a.objects(ctx)
	if err != nil {
		return err
	}
	text += staleDeletes(a.Family, text, existing)
	a.last = nil
	if _, err := a.Runner.Run(ctx, []byte(text), "nft", "-f", "-"); err != nil {
		return fmt.Errorf("applying %s nftables rules: %w", a.Family, err)
	}
	a.stats = nftablesStats(text)
	return nil
}

// Transaction renders m and returns the `nft -f` text of the transaction.
func Transaction(m *model.Model) string {
	return nftables.MergeElements(render(m))
}

// render renders m into tx.String() form: one command, and one element, a
// line. The fake only makes the transaction; it never runs it.
func render(m *model.Model) string {
	tx := knftables.NewFake(nftables.Family(m.Family), nftables.TableName).NewTransaction()
	nftables.Render(m, tx)
	return tx.String()
}

// nftObject is a chain, set or map of the table.
type nftObject struct {
	kind, name string
}

// objects lists the chains, sets and maps the table holds now; none when
// the table does not exist.
func (a *NFTables) objects(ctx context.Context) ([]nftObject, error) {
	out, err := a.Runner.Run(ctx, nil, "nft", "--json", "list", "table", string(nftables.Family(a.Family)), nftables.TableName)
	if err != nil {
		var ce *CommandError
		if errors.As(err, &ce) && strings.Contains(ce.Stderr, "No such file or directory") {
			return nil, nil
		}
		return nil, fmt.Errorf("listing the %s nftables table: %w", a.Family, err)
	}
	return parseNFTObjects(out)
}

func parseNFTObjects(out []byte) ([]nftObject, error) {
	var doc struct {
		Nftables []map[string]json.RawMessage `json:"nftables"`
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		return nil, fmt.Errorf("reading nft --json output: %w", err)
	}
	var objs []nftObject
	for _, entry := range doc.Nftables {
		for _, kind := range []string{"chain", "set", "map"} {
			raw, ok := entry[kind]
			if !ok {
				continue
			}
			var o struct {
				Name string `json:"name"`
			}
			if err := json.Unmarshal(raw, &o); err != nil {
				return nil, fmt.Errorf("reading nft --json %s: %w", kind, err)
			}
			objs = append(objs, nftObject{kind, o.Name})
		}
	}
	return objs, nil
}

// staleDeletes returns delete commands for the existing objects the new
// transaction text does not add. They come after the flush, so no rule
// refers to them any more.
func staleDeletes(fam model.Family, text string, existing []nftObject) string {
	family := string(nftables.Family(fam))
	want := map[nftObject]bool{}
	prefix := func(kind string) string { return "add " + kind + " " + family + " " + nftables.TableName + " " }
	for line := range strings.Lines(text) {
		for _, kind := range []string{"chain", "set", "map"} {
			if rest, ok := strings.CutPrefix(line, prefix(kind)); ok {
				name, _, _ := strings.Cut(strings.TrimSpace(rest), " ")
				want[nftObject{kind, name}] = true
			}
		}
	}
	var b strings.Builder
	// Sets and maps first: an element of a stale map may name a stale
	// chain, which stays busy until the map is gone. Stale chains' rules,
	// which could name stale sets, went with the table flush.
	slices.SortStableFunc(existing, func(x, y nftObject) int {
		return strings.Compare(kindOrder(x.kind), kindOrder(y.kind))
	})
	for _, o := range existing {
		if !want[o] {
			fmt.Fprintf(&b, "delete %s %s %s %s\n", o.kind, family, nftables.TableName, o.name)
		}
	}
	return b.String()
}

func kindOrder(kind string) string {
	if kind == "chain" {
		return "1"
	}
	return "0" + kind
}
