package nfnl

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// dnat encodes `dnat ip to ADDR:PORT` and `dnat ip to SELECTORS map
// @MAP`, whose map gives an address and a port. The second depends on
// the protocol of the map's port, which nft matches first.
func (r *ruleEnc) dnat() error {
	r.pos++
	family := map[string]uint32{"ip": unix.NFPROTO_IPV4, "ip6": unix.NFPROTO_IPV6}[r.next()]
	if family == 0 || family != uint32(r.b.enc.nfproto) {
		return fmt.Errorf("%w: dnat of family %q", ErrUnsupported, r.peek(-1))
	}
	if err := r.expect("to"); err != nil {
		return err
	}
	if _, err := netip.ParseAddrPort(r.peek(0)); err == nil {
		return r.dnatTo(family, r.next())
	}
	sels, err := r.selectors()
	if err != nil {
		return err
	}
	if err := r.expect("map"); err != nil {
		return err
	}
	s, err := r.setRef(r.next())
	if err != nil {
		return err
	}
	if len(s.value) != 2 || s.value[1].proto == 0 {
		return fmt.Errorf("%w: map %s does not give an address and a protocol's port", ErrUnsupported, s.name)
	}
	r.e.meta(unix.NFT_META_L4PROTO, unix.NFT_REG_1)
	r.e.cmp(unix.NFT_CMP_EQ, []byte{s.value[1].proto})
	r.e.loadAll(sels, 0)
	r.e.lookup(s, unix.NFT_REG_1, false)
	r.e.add("nat", attrs(nil).u32(unix.NFTA_NAT_TYPE, unix.NFT_NAT_DNAT).u32(unix.NFTA_NAT_FAMILY, family).
		u32(unix.NFTA_NAT_REG_ADDR_MIN, unix.NFT_REG_1).u32(unix.NFTA_NAT_REG_PROTO_MIN, reg(s.value[0].size/4)))
	return nil
}

// dnatTo encodes a dnat to one address and port.
func (r *ruleEnc) dnatTo(family uint32, to string) error {
	ap, err := netip.ParseAddrPort(to)
	if err != nil || ap.Addr().Is4() != (family == unix.NFPROTO_IPV4) {
		return fmt.Errorf("%w: dnat to %q", ErrUnsupported, to)
	}
	port := ap.Port()
	r.e.immediate(unix.NFT_REG_1, ap.Addr().AsSlice())
	r.e.immediate(unix.NFT_REG_2, []byte{byte(port >> 8), byte(port)})
	r.e.add("nat", attrs(nil).u32(unix.NFTA_NAT_TYPE, unix.NFT_NAT_DNAT).u32(unix.NFTA_NAT_FAMILY, family).
		u32(unix.NFTA_NAT_REG_ADDR_MIN, unix.NFT_REG_1).u32(unix.NFTA_NAT_REG_PROTO_MIN, unix.NFT_REG_2).
		u32(unix.NFTA_NAT_FLAGS, unix.NF_NAT_RANGE_PROTO_SPECIFIED))
	return nil
}

// mark encodes `meta mark & M == V` and `meta mark set meta mark OP V`
// (OP and, or, xor).
func (r *ruleEnc) mark() error {
	r.pos += 2
	if r.peek(0) == "&" {
		m, err1 := parseMark(r.peek(1))
		v, err2 := parseMark(r.peek(3))
		if err1 != nil || err2 != nil || r.peek(2) != "==" {
			return fmt.Errorf("%w: mark test %q", ErrUnsupported, strings.Join(r.toks[r.pos:], " "))
		}
		r.pos += 4
		r.e.meta(unix.NFT_META_MARK, unix.NFT_REG_1)
		r.e.bitwise(hostU32(m), hostU32(0), true)
		r.e.cmp(unix.NFT_CMP_EQ, hostU32(v))
		return nil
	}
	if err := r.expect("set", "meta", "mark"); err != nil {
		return err
	}
	op := r.next()
	v, err := parseMark(r.next())
	if err != nil {
		return err
	}
	var mask, xor uint32
	switch op {
	case "or":
		mask, xor = ^v, v
	case "xor":
		mask, xor = 0xffffffff, v
	case "and":
		mask, xor = v, 0
	default:
		return fmt.Errorf("%w: mark operation %q", ErrUnsupported, op)
	}
	r.e.meta(unix.NFT_META_MARK, unix.NFT_REG_1)
	r.e.bitwise(hostU32(mask), hostU32(xor), true)
	r.e.add("meta", attrs(nil).u32(unix.NFTA_META_KEY, unix.NFT_META_MARK).u32(unix.NFTA_META_SREG, unix.NFT_REG_1))
	return nil
}

func parseMark(s string) (uint32, error) {
	n, err := strconv.ParseUint(s, 0, 32)
	if err != nil {
		return 0, fmt.Errorf("%w: mark %q", ErrUnsupported, s)
	}
	return uint32(n), nil
}
