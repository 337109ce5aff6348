package nfnl

import (
	"encoding/binary"

	"golang.org/x/sys/unix"
)

// attrs is netlink attributes being encoded (struct nlattr, each padded
// to four bytes). nf_tables reads its integer attributes in network byte
// order.
type attrs []byte

func align(n int) int { return (n + unix.NLA_ALIGNTO - 1) &^ (unix.NLA_ALIGNTO - 1) }

// put appends an attribute of type typ holding v.
func (a attrs) put(typ uint16, v []byte) attrs {
	l := unix.NLA_HDRLEN + len(v)
	a = binary.NativeEndian.AppendUint16(a, uint16(l))
	a = binary.NativeEndian.AppendUint16(a, typ)
	a = append(a, v...)
	return append(a, make([]byte, align(l)-l)...)
}

func (a attrs) u32(typ uint16, v uint32) attrs {
	a = binary.NativeEndian.AppendUint16(a, unix.NLA_HDRLEN+4)
	a = binary.NativeEndian.AppendUint16(a, typ)
	return binary.BigEndian.AppendUint32(a, v)
}

func (a attrs) u64(typ uint16, v uint64) attrs {
	return a.put(typ, binary.BigEndian.AppendUint64(nil, v))
}

// str appends a NUL-terminated string.
func (a attrs) str(typ uint16, s string) attrs {
	a, start := a.open()
	return append(append(a, s...), 0).closeFlat(start, typ)
}

// nest appends a nested attribute whose contents fill writes.
func (a attrs) nest(typ uint16, fill func(attrs) attrs) attrs {
	a, start := a.open()
	return fill(a).closeNested(start, typ)
}

// open starts an attribute whose contents the caller appends, for
// closeNested or closeFlat to finish: the element path writes this way,
// without a buffer per attribute.
func (a attrs) open() (attrs, int) { return append(a, 0, 0, 0, 0), len(a) }

// closeNested finishes the nested attribute opened at start.
func (a attrs) closeNested(start int, typ uint16) attrs {
	binary.NativeEndian.PutUint16(a[start:], uint16(len(a)-start))
	binary.NativeEndian.PutUint16(a[start+2:], typ|unix.NLA_F_NESTED)
	return a
}

// closeFlat finishes the attribute opened at start, padding it.
func (a attrs) closeFlat(start int, typ uint16) attrs {
	l := len(a) - start
	binary.NativeEndian.PutUint16(a[start:], uint16(l))
	binary.NativeEndian.PutUint16(a[start+2:], typ)
	return append(a, make([]byte, align(l)-l)...)
}

// value appends a nested NFTA_DATA_VALUE: data as nf_tables compares it.
func (a attrs) value(typ uint16, data []byte) attrs {
	a, outer := a.open()
	return a.put(unix.NFTA_DATA_VALUE, data).closeNested(outer, typ)
}

// verdict appends a nested NFTA_DATA_VERDICT.
func (a attrs) verdict(typ uint16, v verdict) attrs {
	a, outer := a.open()
	a, inner := a.open()
	a = a.u32(unix.NFTA_VERDICT_CODE, uint32(v.code))
	if v.chain != "" {
		a = a.str(unix.NFTA_VERDICT_CHAIN, v.chain)
	}
	return a.closeNested(inner, unix.NFTA_DATA_VERDICT).closeNested(outer, typ)
}

// udata is nftables' user data (libnftnl's udata): type-length-value
// records of one byte each for type and length, which nft writes beside
// tables, sets, elements and rules and reads back to list them. The
// kernel keeps it without looking.
type udata []byte

func (u udata) put(typ byte, v []byte) udata {
	return append(append(u, typ, byte(len(v))), v...)
}

// u32 appends a value in host byte order, as nft writes it.
func (u udata) u32(typ byte, v uint32) udata {
	return u.put(typ, binary.NativeEndian.AppendUint32(nil, v))
}

func (u udata) str(typ byte, s string) udata {
	return u.put(typ, append([]byte(s), 0))
}

func (u udata) nest(typ byte, inner udata) udata { return u.put(typ, inner) }
