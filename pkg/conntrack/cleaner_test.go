package conntrack

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/svcproxy/svcproxy/pkg/model"
)

func ap(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }
func addr(s string) netip.Addr   { return netip.MustParseAddr(s) }

// fakeTable records the deletions a Cleaner asks for.
type fakeTable struct {
	opens   int
	closed  int
	family  netlink.InetFamily
	filters []netlink.CustomConntrackFilter
	deleted uint
	err     error
}

func (f *fakeTable) ConntrackDeleteFilters(table netlink.ConntrackTableType, family netlink.InetFamily, filters ...netlink.CustomConntrackFilter) (uint, error) {
	f.family, f.filters = family, filters
	return f.deleted, f.err
}

func (f *fakeTable) Close() { f.closed++ }

// cleanerOn returns a Cleaner that uses table.
func cleanerOn(table *fakeTable) *Cleaner {
	return &Cleaner{open: func() (flowDeleter, error) { table.opens++; return table, nil }}
}

func TestReconcileUDP(t *testing.T) {
	v4 := &model.Model{Family: model.IPv4, Services: []*model.ServicePort{udpPort("10.1.1.5:8080")}}
	tests := []struct {
		name       string
		m          *model.Model
		tableErr   error
		wantFamily netlink.InetFamily
		wantOpens  int
		wantErr    string
	}{
		{name: "no UDP Service with endpoints: nothing opened", m: &model.Model{Family: model.IPv4}},
		{name: "IPv4", m: v4, wantFamily: unix.AF_INET, wantOpens: 1},
		{name: "IPv6", m: &model.Model{Family: model.IPv6, Services: []*model.ServicePort{udpPort("[fd00:1:1::5]:8080")}},
			wantFamily: unix.AF_INET6, wantOpens: 1},
		{name: "kernel error", m: v4, tableErr: netlink.ErrDumpInterrupted, wantFamily: unix.AF_INET, wantOpens: 1,
			wantErr: "reconciling ipv4 UDP conntrack entries: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			table := &fakeTable{deleted: 3, err: tt.tableErr}
			n, err := cleanerOn(table).ReconcileUDP(tt.m)
			checkErr(t, err, tt.wantErr, tt.tableErr)
			if table.opens != tt.wantOpens || table.closed != tt.wantOpens {
				t.Errorf("handles opened %d, closed %d; want %d", table.opens, table.closed, tt.wantOpens)
			}
			if tt.wantOpens == 0 {
				return
			}
			if n != 3 || table.family != tt.wantFamily || len(table.filters) != 1 {
				t.Errorf("deleted %d in family %d with %d filters, want 3 in %d with one", n, table.family, len(table.filters), tt.wantFamily)
			}
		})
	}
}

func TestCleanerOpenError(t *testing.T) {
	c := NewCleaner("/nonexistent/netns")
	_, err := c.ReconcileUDP(&model.Model{Family: model.IPv4, Services: []*model.ServicePort{udpPort("10.1.1.5:8080")}})
	checkErr(t, err, "opening network namespace /nonexistent/netns", nil)
}

// checkErr checks that err contains want (or is nil when want is empty)
// and wraps cause when cause is set.
func checkErr(t *testing.T, err error, want string, cause error) {
	t.Helper()
	switch {
	case want == "" && err != nil:
		t.Errorf("error = %v, want none", err)
	case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
		t.Errorf("error = %v, want one containing %q", err, want)
	case cause != nil && !errors.Is(err, cause):
		t.Errorf("error = %v, want it to wrap %v", err, cause)
	}
}
