package model

import (
	"fmt"
	"slices"

	"net/netip"
	"strings"

	netutils "k8s.io/utils/net"
)

// ParseIP parses a plain IP address. Leading zeros in IPv4 octets are read
// as decimal and dropped ("010.0.0.1" is 10.0.0.1), as the API server's
// legacy validation did; anything that is not a plain address — a CIDR, a
// port, a zone, surrounding space, an IPv4-mapped IPv6 address whose family
// is ambiguous — is an error. Only addresses that pass reach the rules.
func ParseIP(s string) (netip.Addr, error) {
	if s == "" {
		return netip.Addr{}, fmt.Errorf("empty IP address")
	}
	ip := netutils.ParseIPSloppy(s)
	if ip == nil {
		return netip.Addr{}, fmt.Errorf("%q is not an IP address", s)
	}
	if strings.Contains(s, ":") && ip.To4() != nil {
		return netip.Addr{}, fmt.Errorf("%q is an IPv4-mapped IPv6 address", s)
	}
	addr, ok := netip.AddrFromSlice(ip)
	if !ok {
		return netip.Addr{}, fmt.Errorf("%q is not an IP address", s)
	}
	return addr.Unmap(), nil
}

// ParseCIDR parses a CIDR, tolerating surrounding white space (which
// loadBalancerSourceRanges in the wild often has) and leading zeros, and
// returns it masked: "10.1.2.3/8" becomes 10.0.0.0/8.
func ParseCIDR(s string) (netip.Prefix, error) {
	t := strings.TrimSpace(s)
	_, ipnet, err := netutils.ParseCIDRSloppy(t)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not a CIDR", s)
	}
	bits, _ := ipnet.Mask.Size()
	addr, ok := netip.AddrFromSlice(ipnet.IP)
	if !ok {
		return netip.Prefix{}, fmt.Errorf("%q is not a CIDR", s)
	}
	if ipnet.IP.To4() != nil {
		addr = addr.Unmap()
		if strings.Contains(t, ":") {
			return netip.Prefix{}, fmt.Errorf("%q is an IPv4-mapped IPv6 CIDR", s)
		}
	}
	return netip.PrefixFrom(addr, bits).Masked(), nil
}

// ParseCIDRs parses a list of CIDRs, failing on the first bad one.
func ParseCIDRs(list []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range list {
		p, err := ParseCIDR(s)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// NodePortAddressesPrimary is the --nodeport-addresses value that means
// the node's primary address of each family, as it does for kube-proxy.
const NodePortAddressesPrimary = "primary"

// ParseNodePortAddresses parses --nodeport-addresses: CIDRs, or
// NodePortAddressesPrimary alone.
func ParseNodePortAddresses(list []string) (cidrs []netip.Prefix, primary bool, err error) {
	if slices.Contains(list, NodePortAddressesPrimary) {
		if len(list) != 1 {
			return nil, false, fmt.Errorf("%q cannot be combined with CIDRs", NodePortAddressesPrimary)
		}
		return nil, true, nil
	}
	cidrs, err = ParseCIDRs(list)
	return cidrs, false, err
}

// usableAddress rejects addresses that can be neither a pod nor a
// Service's: traffic DNATed to them would go nowhere or somewhere it must
// not, and rules matching them would capture the node's own traffic
// (127.0.0.1, ::1, 169.254.169.254, multicast, broadcast), not a
// Service's.
func usableAddress(addr netip.Addr) error {
	switch {
	case addr == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return fmt.Errorf("%s is the broadcast address", addr)
	case addr.IsUnspecified():
		return fmt.Errorf("%s is unspecified", addr)
	case addr.IsLoopback():
		return fmt.Errorf("%s is a loopback address", addr)
	case addr.IsMulticast():
		return fmt.Errorf("%s is a multicast address", addr)
	case addr.IsLinkLocalUnicast():
		return fmt.Errorf("%s is a link-local address", addr)
	}
	return nil
}

// ParseInterfaceName checks a network interface name, or a prefix of
// one, for the rules: 1 to 15 characters (the kernel's IFNAMSIZ, less
// its NUL), of letters, digits and "._-" only, so that no name can carry
// rule syntax.
func ParseInterfaceName(name string) (string, error) {
	if name == "" || len(name) > 15 {
		return "", fmt.Errorf("interface name %q: want 1 to 15 characters", name)
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return "", fmt.Errorf("interface name %q: %q is not a letter, digit, '.', '_' or '-'", name, r)
		}
	}
	return name, nil
}
