package nfnl

import (
	"encoding/binary"
	"fmt"

	"golang.org/x/sys/unix"
)

// Protocol descriptions and header fields as nft numbers them in typeof
// user data (its PROTO_DESC_* and *HDR_* enumerations).
const (
	descUDP  = 6
	descTCP  = 8
	descSCTP = 10
	descTH   = 11
	descIP   = 12
	descIP6  = 13

	fieldIPSaddr  = 11
	fieldIPDaddr  = 12
	fieldIP6Saddr = 8
	fieldIP6Daddr = 9
	fieldDport    = 2

	ngRandom = 1 // NFT_NG_RANDOM
)

// selector is a packet field a rule loads into a register: a header
// field (payload), a meta key, or a random number.
type selector struct {
	kind        string // "payload", "meta" or "numgen"
	base        uint32 // payload: NFT_PAYLOAD_*_HEADER
	offset, len uint32 // payload: where the field is; len also for meta
	key         uint32 // meta: NFT_META_*
	mod         uint32 // numgen: modulus
	f           field
}

type headerField struct {
	base, offset, len, desc, tmpl uint32
	dtype                         uint32
}

var headerFields = map[[2]string]headerField{
	{"ip", "saddr"}:   {unix.NFT_PAYLOAD_NETWORK_HEADER, 12, 4, descIP, fieldIPSaddr, typeIPv4Addr},
	{"ip", "daddr"}:   {unix.NFT_PAYLOAD_NETWORK_HEADER, 16, 4, descIP, fieldIPDaddr, typeIPv4Addr},
	{"ip6", "saddr"}:  {unix.NFT_PAYLOAD_NETWORK_HEADER, 8, 16, descIP6, fieldIP6Saddr, typeIPv6Addr},
	{"ip6", "daddr"}:  {unix.NFT_PAYLOAD_NETWORK_HEADER, 24, 16, descIP6, fieldIP6Daddr, typeIPv6Addr},
	{"th", "dport"}:   {unix.NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2, descTH, fieldDport, typeInetService},
	{"tcp", "dport"}:  {unix.NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2, descTCP, fieldDport, typeInetService},
	{"udp", "dport"}:  {unix.NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2, descUDP, fieldDport, typeInetService},
	{"sctp", "dport"}: {unix.NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2, descSCTP, fieldDport, typeInetService},
}

// protocols are the IP protocol numbers by name.
var protocols = map[string]byte{"tcp": unix.IPPROTO_TCP, "udp": unix.IPPROTO_UDP, "sctp": unix.IPPROTO_SCTP}

// parseSelector reads the words of one selector (exactly them).
func parseSelector(w []string) (selector, error) {
	switch {
	case len(w) == 2 && w[0] == "meta" && w[1] == "l4proto":
		u := udata(nil).u32(0, unix.NFT_META_L4PROTO)
		return selector{kind: "meta", key: unix.NFT_META_L4PROTO, len: 1,
			f: field{dtype: typeInetProto, size: 1, typeof: &typeofExpr{exprMeta, u}}}, nil
	case len(w) == 4 && w[0] == "numgen" && w[1] == "random" && w[2] == "mod":
		mod, err := parseUint(w[3], 32)
		if err != nil || mod == 0 {
			return selector{}, fmt.Errorf("%w: numgen modulus %q", ErrUnsupported, w[3])
		}
		u := udata(nil).u32(0, ngRandom).u32(1, uint32(mod)).u32(2, 0)
		return selector{kind: "numgen", mod: uint32(mod), len: 4,
			f: field{dtype: typeInteger, size: 4, host: true, typeof: &typeofExpr{exprNumgen, u}}}, nil
	case len(w) == 2:
		h, ok := headerFields[[2]string{w[0], w[1]}]
		if !ok {
			break
		}
		u := udata(nil).u32(0, h.desc).u32(1, h.tmpl)
		return selector{kind: "payload", base: h.base, offset: h.offset, len: h.len,
			f: field{dtype: h.dtype, size: int(h.len), typeof: &typeofExpr{exprPayload, u}, proto: protocols[w[0]]}}, nil
	}
	return selector{}, fmt.Errorf("%w: expression %q", ErrUnsupported, w)
}

// reg returns the register number nft gives to the value at off 32-bit
// words into the registers: the 128-bit register when it starts one,
// the 32-bit register otherwise.
func reg(off int) uint32 {
	if off%4 == 0 {
		return uint32(off/4 + unix.NFT_REG_1)
	}
	return uint32(unix.NFT_REG32_00 + off)
}

// exprs is a rule's expressions being encoded.
type exprs struct{ a attrs }

func (e *exprs) add(name string, data attrs) {
	e.a = e.a.nest(unix.NFTA_LIST_ELEM, func(a attrs) attrs {
		return a.str(unix.NFTA_EXPR_NAME, name).nest(unix.NFTA_EXPR_DATA, func(a attrs) attrs { return append(a, data...) })
	})
}

// load loads s into the register at off, its length cut to n bytes when
// n > 0 (a whole-byte prefix).
func (e *exprs) load(s selector, off int, n uint32) {
	r := reg(off)
	switch s.kind {
	case "payload":
		l := s.len
		if n > 0 {
			l = n
		}
		e.add("payload", attrs(nil).u32(unix.NFTA_PAYLOAD_DREG, r).u32(unix.NFTA_PAYLOAD_BASE, s.base).
			u32(unix.NFTA_PAYLOAD_OFFSET, s.offset).u32(unix.NFTA_PAYLOAD_LEN, l))
	case "meta":
		e.meta(s.key, r)
	case "numgen":
		e.add("numgen", attrs(nil).u32(unix.NFTA_NG_DREG, r).u32(unix.NFTA_NG_MODULUS, s.mod).
			u32(unix.NFTA_NG_TYPE, ngRandom).u32(unix.NFTA_NG_OFFSET, 0))
	}
}

func (e *exprs) meta(key, dreg uint32) {
	e.add("meta", attrs(nil).u32(unix.NFTA_META_KEY, key).u32(unix.NFTA_META_DREG, dreg))
}

// loadAll loads a concatenation into consecutive registers from
// register 1, the last cut to n bytes when n > 0.
func (e *exprs) loadAll(sels []selector, n uint32) {
	off := 0
	for i, s := range sels {
		cut := uint32(0)
		if i == len(sels)-1 {
			cut = n
		}
		e.load(s, off, cut)
		off += align(int(s.len)) / 4
	}
}

func (e *exprs) cmp(op uint32, data []byte) {
	e.add("cmp", attrs(nil).u32(unix.NFTA_CMP_SREG, unix.NFT_REG_1).u32(unix.NFTA_CMP_OP, op).value(unix.NFTA_CMP_DATA, data))
}

// bitwise masks register 1: (reg & mask) ^ xor; withOp writes the
// operation too, as nft does for explicit masks but not for prefixes and
// flag tests.
func (e *exprs) bitwise(mask, xor []byte, withOp bool) {
	a := attrs(nil).u32(unix.NFTA_BITWISE_SREG, unix.NFT_REG_1).u32(unix.NFTA_BITWISE_DREG, unix.NFT_REG_1)
	if withOp {
		a = a.u32(nftaBitwiseOp, 0)
	}
	a = a.u32(unix.NFTA_BITWISE_LEN, uint32(len(mask))).value(unix.NFTA_BITWISE_MASK, mask).value(unix.NFTA_BITWISE_XOR, xor)
	e.add("bitwise", a)
}

// lookup looks register 1 up in s; dreg is the register a map's value
// goes to (unix.NFT_REG_VERDICT for a verdict map), or -1 for a set.
func (e *exprs) lookup(s *set, dreg int, invert bool) {
	a := attrs(nil).u32(unix.NFTA_LOOKUP_SREG, unix.NFT_REG_1)
	if dreg >= 0 {
		a = a.u32(unix.NFTA_LOOKUP_DREG, uint32(dreg))
	}
	a = a.str(unix.NFTA_LOOKUP_SET, s.name)
	if s.id != 0 {
		a = a.u32(unix.NFTA_LOOKUP_SET_ID, s.id)
	}
	if invert {
		a = a.u32(unix.NFTA_LOOKUP_FLAGS, unix.NFT_LOOKUP_F_INV)
	}
	e.add("lookup", a)
}

// verdict is a verdict: its code, and the chain of a jump or goto.
type verdict struct {
	code  int32
	chain string
}

func (e *exprs) immediateVerdict(v verdict) {
	e.add("immediate", attrs(nil).u32(unix.NFTA_IMMEDIATE_DREG, unix.NFT_REG_VERDICT).verdict(unix.NFTA_IMMEDIATE_DATA, v))
}

func (e *exprs) immediate(dreg uint32, data []byte) {
	e.add("immediate", attrs(nil).u32(unix.NFTA_IMMEDIATE_DREG, dreg).value(unix.NFTA_IMMEDIATE_DATA, data))
}

// hostU32 is v as nf_tables compares a host-order register.
func hostU32(v uint32) []byte { return binary.NativeEndian.AppendUint32(nil, v) }
