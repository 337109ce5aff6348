package sync

import (
	"net/netip"
	"slices"
	"testing"
)

// TestLocalAddrs reads this namespace's addresses: loopback is on every
// Linux host, and every address comes back in its plain form.
func TestLocalAddrs(t *testing.T) {
	addrs, err := LocalAddrs()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(addrs, netip.MustParseAddr("127.0.0.1")) {
		t.Errorf("LocalAddrs() = %v, want 127.0.0.1 among them", addrs)
	}
	for _, a := range addrs {
		if a.Is4In6() {
			t.Errorf("%v is IPv4-mapped", a)
		}
	}
}
