package conntrack

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
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

func TestDeleteUDPEndpoints(t *testing.T) {
	tests := []struct {
		name       string
		family     model.Family
		endpoints  []netip.AddrPort
		tableErr   error
		wantFilter netlink.CustomConntrackFilter
		wantFamily netlink.InetFamily
		wantOpens  int
		wantErr    string
	}{
		{name: "nothing to delete"},
		{
			name: "IPv4", family: model.IPv4, endpoints: []netip.AddrPort{ap("10.1.1.5:8080"), ap("[::ffff:10.1.3.5]:8080")},
			wantFilter: endpointFilter{ap("10.1.1.5:8080"): true, ap("10.1.3.5:8080"): true}, wantFamily: unix.AF_INET, wantOpens: 1,
		},
		{
			name: "IPv6", family: model.IPv6, endpoints: []netip.AddrPort{ap("[fd00:1:1::5]:8080")},
			wantFilter: endpointFilter{ap("[fd00:1:1::5]:8080"): true}, wantFamily: unix.AF_INET6, wantOpens: 1,
		},
		{
			name: "wrong family", family: model.IPv6, endpoints: []netip.AddrPort{ap("10.1.1.5:8080")},
			wantErr: "endpoint 10.1.1.5:8080 is not ipv6",
		},
		{
			name: "kernel error", family: model.IPv4, endpoints: []netip.AddrPort{ap("10.1.1.5:8080")}, tableErr: netlink.ErrDumpInterrupted,
			wantFilter: endpointFilter{ap("10.1.1.5:8080"): true}, wantFamily: unix.AF_INET, wantOpens: 1,
			wantErr: "deleting ipv4 UDP conntrack entries of 1 endpoints: ",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			table := &fakeTable{deleted: 3, err: tt.tableErr}
			n, err := cleanerOn(table).DeleteUDPEndpoints(tt.family, tt.endpoints)
			checkErr(t, err, tt.wantErr, tt.tableErr)
			if table.opens != tt.wantOpens || table.closed != tt.wantOpens {
				t.Errorf("handles opened %d, closed %d; want %d", table.opens, table.closed, tt.wantOpens)
			}
			if tt.wantOpens == 0 {
				return
			}
			if n != 3 || table.family != tt.wantFamily {
				t.Errorf("deleted %d in family %d, want 3 in %d", n, table.family, tt.wantFamily)
			}
			if diff := cmp.Diff([]netlink.CustomConntrackFilter{tt.wantFilter}, table.filters, cmpopts.EquateComparable(netip.AddrPort{})); diff != "" {
				t.Errorf("filters (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDeleteUDPServiceIP(t *testing.T) {
	tests := []struct {
		name       string
		ip         netip.Addr
		port       uint16
		wantFilter netlink.CustomConntrackFilter
		wantFamily netlink.InetFamily
		wantErr    string
	}{
		{name: "IPv4", ip: addr("172.30.0.53"), port: 53, wantFilter: serviceFilter{addr("172.30.0.53"), 53}, wantFamily: unix.AF_INET},
		{name: "mapped IPv4", ip: addr("::ffff:172.30.0.53"), port: 53, wantFilter: serviceFilter{addr("172.30.0.53"), 53}, wantFamily: unix.AF_INET},
		{name: "IPv6", ip: addr("fd00:30::53"), port: 53, wantFilter: serviceFilter{addr("fd00:30::53"), 53}, wantFamily: unix.AF_INET6},
		{name: "invalid", wantErr: "invalid IP"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			table := &fakeTable{deleted: 1}
			n, err := cleanerOn(table).DeleteUDPServiceIP(tt.ip, tt.port)
			checkErr(t, err, tt.wantErr, nil)
			if tt.wantErr != "" {
				return
			}
			if n != 1 || table.family != tt.wantFamily || table.closed != 1 {
				t.Errorf("deleted %d in family %d, closed %d; want 1 in %d, closed 1", n, table.family, table.closed, tt.wantFamily)
			}
			if len(table.filters) != 1 || table.filters[0] != tt.wantFilter {
				t.Errorf("filters = %v, want [%v]", table.filters, tt.wantFilter)
			}
		})
	}
}

func TestCleanerOpenError(t *testing.T) {
	c := NewCleaner("/nonexistent/netns")
	_, err := c.DeleteUDPEndpoints(model.IPv4, []netip.AddrPort{ap("10.1.1.5:8080")})
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
