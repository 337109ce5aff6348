package nfnl

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

// maxElementsBytes bounds the elements of one message: their list is
// one attribute, whose length has 16 bits.
const maxElementsBytes = 60000

// elementCommand encodes `add element` and `delete element`.
func (b *batch) elementCommand(verb, name, rest string) error {
	s, err := b.set(name)
	if err != nil {
		return err
	}
	inner, ok := strings.CutPrefix(rest, "{ ")
	inner, ok2 := strings.CutSuffix(inner, " }")
	if !ok || !ok2 {
		return fmt.Errorf("%w: elements %q", ErrUnsupported, excerpt(rest))
	}
	elems := splitElements(inner)
	switch {
	case verb == "add":
		return b.addElements(s, elems)
	case verb == "delete" && !s.interval():
		return b.deleteElements(s, elems)
	}
	return fmt.Errorf("%w: %s element of set %s", ErrUnsupported, verb, name)
}

// splitElements splits the text between an element list's braces at its
// commas, outside quotes.
func splitElements(list string) []string {
	var out []string
	quoted, start := false, 0
	for i := 0; i < len(list); i++ {
		switch list[i] {
		case '"':
			quoted = !quoted
		case ',':
			if !quoted {
				out = append(out, strings.TrimSpace(list[start:i]))
				start = i + 1
			}
		}
	}
	if last := strings.TrimSpace(list[start:]); last != "" {
		out = append(out, last)
	}
	return out
}

// elementWriter packs encoded elements into NEWSETELEM or DELSETELEM
// messages of up to maxElementsBytes each.
type elementWriter struct {
	b     *batch
	s     *set
	typ   uint16
	flags uint16
	list  attrs
	// n counts the elements of the message: nft numbers each one's
	// attribute, though the kernel reads them as a list.
	n uint16
}

func (w *elementWriter) add(elem attrs) {
	if len(w.list)+len(elem) > maxElementsBytes {
		w.flush()
	}
	w.n++
	w.list = w.list.nest(w.n, func(a attrs) attrs { return append(a, elem...) })
}

func (w *elementWriter) flush() {
	if len(w.list) == 0 {
		return
	}
	a := attrs(nil).str(unix.NFTA_SET_ELEM_LIST_TABLE, w.b.enc.table).str(unix.NFTA_SET_ELEM_LIST_SET, w.s.name)
	if w.s.id != 0 {
		a = a.u32(unix.NFTA_SET_ELEM_LIST_SET_ID, w.s.id)
	}
	list := w.list
	a = a.nest(unix.NFTA_SET_ELEM_LIST_ELEMENTS, func(a attrs) attrs { return append(a, list...) })
	w.b.emit(w.typ, w.flags, a)
	w.list, w.n = nil, 0
}

// addElements encodes elems, each `KEY [comment "TEXT"] [: VALUE]`.
func (b *batch) addElements(s *set, elems []string) error {
	if s.interval() {
		return b.addIntervals(s, elems)
	}
	w := &elementWriter{b: b, s: s, typ: unix.NFT_MSG_NEWSETELEM, flags: unix.NLM_F_CREATE}
	for _, el := range elems {
		a, err := encodeElement(s, el)
		if err != nil {
			return err
		}
		w.add(a)
	}
	w.flush()
	return nil
}

func (b *batch) deleteElements(s *set, elems []string) error {
	w := &elementWriter{b: b, s: s, typ: unix.NFT_MSG_DELSETELEM}
	for _, el := range elems {
		key, err := encodeKey(s.key, el)
		if err != nil {
			return err
		}
		w.add(attrs(nil).value(unix.NFTA_SET_ELEM_KEY, key))
	}
	w.flush()
	return nil
}

// encodeElement encodes one element of a set or map.
func encodeElement(s *set, el string) (attrs, error) {
	keyText, value, hasValue := strings.Cut(el, " : ")
	if hasValue != s.isMap() {
		return nil, fmt.Errorf("%w: element %q of %s", ErrUnsupported, el, s.name)
	}
	keyText, comment, err := splitComment(keyText)
	if err != nil {
		return nil, err
	}
	key, err := encodeKey(s.key, keyText)
	if err != nil {
		return nil, err
	}
	a := attrs(nil).value(unix.NFTA_SET_ELEM_KEY, key)
	switch {
	case s.verdicts:
		v, err := parseVerdict(value)
		if err != nil {
			return nil, err
		}
		a = a.verdict(unix.NFTA_SET_ELEM_DATA, v)
	case hasValue:
		data, err := encodeKey(s.value, value)
		if err != nil {
			return nil, err
		}
		a = a.value(unix.NFTA_SET_ELEM_DATA, data)
	}
	if comment != "" {
		a = a.put(unix.NFTA_SET_ELEM_USERDATA, udata(nil).str(udataElemComment, comment))
	}
	return a, nil
}

func parseVerdict(v string) (verdict, error) {
	word, chain, _ := strings.Cut(v, " ")
	code, ok := verdictCodes[word]
	if !ok || (chain != "") != (word == "jump" || word == "goto") {
		return verdict{}, fmt.Errorf("%w: verdict %q", ErrUnsupported, v)
	}
	return verdict{code: code, chain: chain}, nil
}

// encodeKey encodes `PART . PART ...` of fields: in a concatenation,
// each part padded to 32 bits.
func encodeKey(fs []field, text string) ([]byte, error) {
	parts := strings.Split(text, " . ")
	if len(parts) != len(fs) {
		return nil, fmt.Errorf("%w: %q has %d parts, not %d", ErrUnsupported, text, len(parts), len(fs))
	}
	var out []byte
	for i, p := range parts {
		v, err := encodeValue(fs[i], p)
		if err != nil {
			return nil, err
		}
		out = append(out, v...)
		if len(fs) > 1 {
			out = append(out, make([]byte, align(len(v))-len(v))...)
		}
	}
	return out, nil
}

// encodeValue encodes one value of a field as the kernel compares it.
func encodeValue(f field, v string) ([]byte, error) {
	switch f.dtype {
	case typeIPv4Addr, typeIPv6Addr:
		a, err := netip.ParseAddr(v)
		if err != nil || a.Zone() != "" || a.BitLen() != f.size*8 {
			return nil, fmt.Errorf("%w: address %q", ErrUnsupported, v)
		}
		return a.AsSlice(), nil
	case typeInetProto:
		if p, ok := protocols[v]; ok {
			return []byte{p}, nil
		}
		n, err := parseUint(v, 8)
		return []byte{byte(n)}, err
	case typeInetService:
		n, err := parseUint(v, 16)
		return binary.BigEndian.AppendUint16(nil, uint16(n)), err
	case typeInteger:
		n, err := parseUint(v, 32)
		return hostU32(uint32(n)), err
	}
	return nil, fmt.Errorf("%w: a value of type %d", ErrUnsupported, f.dtype)
}

// addIntervals encodes the elements of an interval set (addresses and
// prefixes) as nft sends them with auto-merge: merged ranges, each a
// start and, unless it runs to the last address, an end flagged as one.
// (nft also sends the set's elements, and an end at the zero address,
// with the set's declaration when the text adds both; render/nftables
// flushes the set after declaring it, so that copy never lasts.)
func (b *batch) addIntervals(s *set, elems []string) error {
	if len(s.key) != 1 || (s.key[0].dtype != typeIPv4Addr && s.key[0].dtype != typeIPv6Addr) {
		return fmt.Errorf("%w: interval set %s", ErrUnsupported, s.name)
	}
	ranges, err := mergedRanges(s.key[0].size, elems)
	if err != nil {
		return err
	}
	w := &elementWriter{b: b, s: s, typ: unix.NFT_MSG_NEWSETELEM, flags: unix.NLM_F_CREATE}
	end := func(key []byte) {
		w.add(attrs(nil).u32(unix.NFTA_SET_ELEM_FLAGS, unix.NFT_SET_ELEM_INTERVAL_END).value(unix.NFTA_SET_ELEM_KEY, key))
	}
	for _, r := range ranges {
		w.add(attrs(nil).value(unix.NFTA_SET_ELEM_KEY, r.start))
		if r.end != nil {
			end(r.end)
		}
	}
	w.flush()
	return nil
}

// span is the addresses from start up to end, exclusive; end is nil
// when the span runs to the last address.
type span struct{ start, end []byte }

func mergedRanges(size int, elems []string) ([]span, error) {
	var spans []span
	for _, el := range elems {
		p, err := netip.ParsePrefix(el)
		if err != nil {
			a, aerr := netip.ParseAddr(el)
			if aerr != nil {
				return nil, fmt.Errorf("%w: interval %q", ErrUnsupported, el)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		if p.Addr().BitLen() != size*8 || p.Addr().Zone() != "" {
			return nil, fmt.Errorf("%w: interval %q", ErrUnsupported, el)
		}
		start := p.Masked().Addr().AsSlice()
		spans = append(spans, span{start: start, end: addBit(start, p.Bits())})
	}
	slices.SortFunc(spans, func(a, b span) int { return bytes.Compare(a.start, b.start) })
	var out []span
	for _, s := range spans {
		if n := len(out); n > 0 && (out[n-1].end == nil || bytes.Compare(s.start, out[n-1].end) <= 0) {
			if out[n-1].end != nil && (s.end == nil || bytes.Compare(s.end, out[n-1].end) > 0) {
				out[n-1].end = s.end
			}
			continue
		}
		out = append(out, s)
	}
	return out, nil
}

// addBit returns addr plus one at prefix length bits (the address after
// the prefix), or nil when that overflows.
func addBit(addr []byte, bits int) []byte {
	out := slices.Clone(addr)
	if bits == 0 {
		return nil
	}
	i, inc := (bits-1)/8, byte(1)<<(7-(bits-1)%8)
	for ; i >= 0; i, inc = i-1, 1 {
		sum := uint16(out[i]) + uint16(inc)
		out[i] = byte(sum)
		if sum < 0x100 {
			return out
		}
	}
	return nil
}
