package sync

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/svcproxy/svcproxy/pkg/render/iptables"
)

// changedRuleset is testRuleset with KUBE-SVC-AAAA jumping to a new
// endpoint chain instead of KUBE-SEP-BBBB.
func changedRuleset() *iptables.Ruleset {
	rs := testRuleset()
	rs.Tables[0].Chains = []iptables.Chain{
		rs.Tables[0].Chains[0],
		{Name: "KUBE-SVC-AAAA", Rules: []string{`-j KUBE-SEP-CCCC`}},
		{Name: "KUBE-SEP-CCCC", Rules: []string{`-p tcp -j DNAT --to-destination 10.1.0.6:80`}},
	}
	return rs
}

func TestIPTablesUpdate(t *testing.T) {
	restore := "iptables-legacy-restore --noflush --wait"
	tests := []struct {
		name string
		// failFirst makes the first update's restore fail.
		failFirst bool
		next      *iptables.Ruleset
		// want is the restore input of the (last) update; "" means
		// none ran.
		want string
		// wantSave is whether the update read the tables (full path).
		wantSave bool
	}{
		{
			name: "only the changed chains, and the removed one deleted last",
			next: changedRuleset(),
			want: "*nat\n:KUBE-SEP-BBBB - [0:0]\n:KUBE-SEP-CCCC - [0:0]\n:KUBE-SVC-AAAA - [0:0]\n" +
				"-A KUBE-SVC-AAAA -j KUBE-SEP-CCCC\n-A KUBE-SEP-CCCC -p tcp -j DNAT --to-destination 10.1.0.6:80\n" +
				"-X KUBE-SEP-BBBB\nCOMMIT\n",
		},
		{name: "nothing changed, nothing sent", next: testRuleset()},
		{name: "after a failed restore, the full path", failFirst: true, next: changedRuleset(), wantSave: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeRunner{}
			a := &IPTables{Family: 4, Mode: ModeIPTablesLegacy, Runner: f}
			ctx := context.Background()
			if err := a.Apply(ctx, testRuleset()); err != nil {
				t.Fatal(err)
			}
			if tt.failFirst {
				f.errs = map[string]error{restore: errors.New("line 2 failed")}
				if err := a.Update(ctx, changedRuleset()); err == nil {
					t.Fatal("a failing restore did not fail the update")
				}
				f.errs = nil
			}
			f.ran, f.stdin = nil, nil
			if err := a.Update(ctx, tt.next); err != nil {
				t.Fatal(err)
			}
			saved := slices.ContainsFunc(f.ran, func(c string) bool { return strings.Contains(c, "-save") })
			if saved != tt.wantSave || a.LastIncremental() == tt.wantSave {
				t.Errorf("read the tables: %v, incremental: %v; want full path %v (ran %q)", saved, a.LastIncremental(), tt.wantSave, f.ran)
			}
			if tt.wantSave {
				return
			}
			if got := f.stdin[restore]; got != tt.want {
				t.Errorf("restore input:\n%s\nwant:\n%s", got, tt.want)
			}
		})
	}
}
