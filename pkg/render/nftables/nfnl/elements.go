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
	switch {
	case verb == "add":
		return b.addElements(s, inner)
	case verb == "delete" && !s.interval():
		return b.deleteElements(s, inner)
	}
	return fmt.Errorf("%w: %s element of set %s", ErrUnsupported, verb, name)
}

// eachElement calls fn with each element of the text between an element
// list's braces, split at its commas outside quotes, until fn fails.
func eachElement(list string, fn func(string) error) error {
	start, from := 0, 0
	for {
		i := strings.IndexByte(list[from:], ',')
		if i < 0 {
			break
		}
		end := from + i
		// A comma inside a comment's quotes does not end the element.
		if strings.Count(list[start:end], `"`)%2 == 1 {
			from = end + 1
			continue
		}
		if err := fn(strings.TrimSpace(list[start:end])); err != nil {
			return err
		}
		start, from = end+1, end+1
	}
	if last := strings.TrimSpace(list[start:]); last != "" {
		return fn(last)
	}
	return nil
}

// countElements returns how many elements eachElement would find.
func countElements(list string) int {
	n := 0
	_ = eachElement(list, func(string) error { n++; return nil })
	return n
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

// add appends one element, whose attributes fill writes, numbered as
// the next of the message; when that makes the message too long, the
// element starts the next one.
func (w *elementWriter) add(fill func(attrs) (attrs, error)) error {
	if w.list == nil {
		// One buffer for all the writer's messages, never grown in
		// steps: growing it was most of the encoder's garbage.
		w.list = make(attrs, 0, maxElementsBytes+4096)
	}
	start := len(w.list)
	list, open := w.list.open()
	list, err := fill(list)
	if err != nil {
		return err
	}
	w.n++
	w.list = list.closeNested(open, w.n)
	if len(w.list) > maxElementsBytes && start > 0 {
		elem := slices.Clone(w.list[start:])
		w.list = w.list[:start]
		w.n--
		w.flush()
		binary.NativeEndian.PutUint16(elem[2:], 1|unix.NLA_F_NESTED)
		w.list, w.n = append(w.list[:0], elem...), 1
	}
	return nil
}

func (w *elementWriter) flush() {
	if len(w.list) == 0 {
		return
	}
	a := make(attrs, 0, 64+len(w.b.enc.table)+len(w.s.name)+len(w.list))
	a = a.str(unix.NFTA_SET_ELEM_LIST_TABLE, w.b.enc.table).str(unix.NFTA_SET_ELEM_LIST_SET, w.s.name)
	if w.s.id != 0 {
		a = a.u32(unix.NFTA_SET_ELEM_LIST_SET_ID, w.s.id)
	}
	a, open := a.open()
	a = append(a, w.list...).closeNested(open, unix.NFTA_SET_ELEM_LIST_ELEMENTS)
	w.b.emit(w.typ, w.flags, a)
	w.list, w.n = w.list[:0], 0
}

// addElements encodes the elements of list, each `KEY [comment "TEXT"]
// [: VALUE]`.
func (b *batch) addElements(s *set, list string) error {
	if s.interval() {
		return b.addIntervals(s, list)
	}
	w := &elementWriter{b: b, s: s, typ: unix.NFT_MSG_NEWSETELEM, flags: unix.NLM_F_CREATE}
	err := eachElement(list, func(el string) error {
		return w.add(func(a attrs) (attrs, error) { return appendElement(a, s, el) })
	})
	w.flush()
	return err
}

func (b *batch) deleteElements(s *set, list string) error {
	w := &elementWriter{b: b, s: s, typ: unix.NFT_MSG_DELSETELEM}
	err := eachElement(list, func(el string) error {
		return w.add(func(a attrs) (attrs, error) { return appendData(a, unix.NFTA_SET_ELEM_KEY, s.key, el) })
	})
	w.flush()
	return err
}

// appendElement appends the attributes of one element of a set or map.
func appendElement(a attrs, s *set, el string) (attrs, error) {
	keyText, value, hasValue := strings.Cut(el, " : ")
	if hasValue != s.isMap() {
		return nil, fmt.Errorf("%w: element %q of %s", ErrUnsupported, el, s.name)
	}
	keyText, comment, err := splitComment(keyText)
	if err != nil {
		return nil, err
	}
	if a, err = appendData(a, unix.NFTA_SET_ELEM_KEY, s.key, keyText); err != nil {
		return nil, err
	}
	switch {
	case s.verdicts:
		v, err := parseVerdict(value)
		if err != nil {
			return nil, err
		}
		a = a.verdict(unix.NFTA_SET_ELEM_DATA, v)
	case hasValue:
		if a, err = appendData(a, unix.NFTA_SET_ELEM_DATA, s.value, value); err != nil {
			return nil, err
		}
	}
	if comment != "" {
		a, open := a.open()
		a = append(a, udataElemComment, byte(len(comment)+1))
		a = append(append(a, comment...), 0).closeFlat(open, unix.NFTA_SET_ELEM_USERDATA)
		return a, nil
	}
	return a, nil
}

// appendData appends a nested NFTA_DATA_VALUE of type typ holding text,
// `PART . PART ...` of fields (encodeKey).
func appendData(a attrs, typ uint16, fs []field, text string) (attrs, error) {
	a, outer := a.open()
	a, inner := a.open()
	a, err := appendKey(a, fs, text)
	if err != nil {
		return nil, err
	}
	return a.closeFlat(inner, unix.NFTA_DATA_VALUE).closeNested(outer, typ), nil
}

func parseVerdict(v string) (verdict, error) {
	word, chain, _ := strings.Cut(v, " ")
	code, ok := verdictCodes[word]
	if !ok || (chain != "") != (word == "jump" || word == "goto") {
		return verdict{}, fmt.Errorf("%w: verdict %q", ErrUnsupported, v)
	}
	return verdict{code: code, chain: chain}, nil
}

// appendKey appends `PART . PART ...` of fields: in a concatenation,
// each part padded to 32 bits.
func appendKey(out []byte, fs []field, text string) ([]byte, error) {
	rest := text
	for i, f := range fs {
		part, tail, more := strings.Cut(rest, " . ")
		if more != (i < len(fs)-1) {
			return nil, fmt.Errorf("%w: %q does not have %d parts", ErrUnsupported, text, len(fs))
		}
		start := len(out)
		var err error
		if out, err = appendValue(out, f, part); err != nil {
			return nil, err
		}
		if len(fs) > 1 {
			n := len(out) - start
			out = append(out, make([]byte, align(n)-n)...)
		}
		rest = tail
	}
	return out, nil
}

// encodeValue encodes one value of a field as the kernel compares it.
func encodeValue(f field, v string) ([]byte, error) { return appendValue(nil, f, v) }

func appendValue(out []byte, f field, v string) ([]byte, error) {
	switch f.dtype {
	case typeIPv4Addr, typeIPv6Addr:
		a, err := netip.ParseAddr(v)
		if err != nil || a.Zone() != "" || a.BitLen() != f.size*8 {
			return nil, fmt.Errorf("%w: address %q", ErrUnsupported, v)
		}
		return a.AppendBinary(out)
	case typeInetProto:
		if p, ok := protocols[v]; ok {
			return append(out, p), nil
		}
		n, err := parseUint(v, 8)
		return append(out, byte(n)), err
	case typeInetService:
		n, err := parseUint(v, 16)
		return binary.BigEndian.AppendUint16(out, uint16(n)), err
	case typeInteger:
		n, err := parseUint(v, 32)
		return binary.NativeEndian.AppendUint32(out, uint32(n)), err
	}
	return nil, fmt.Errorf("%w: a value of type %d", ErrUnsupported, f.dtype)
}

// addIntervals encodes the elements of an interval set (addresses and
// prefixes) as nft sends them with auto-merge: merged ranges, each a
// start and, unless it runs to the last address, an end flagged as one.
// (nft also sends the set's elements, and an end at the zero address,
// with the set's declaration when the text adds both; render/nftables
// flushes the set after declaring it, so that copy never lasts.)
func (b *batch) addIntervals(s *set, list string) error {
	if len(s.key) != 1 || (s.key[0].dtype != typeIPv4Addr && s.key[0].dtype != typeIPv6Addr) {
		return fmt.Errorf("%w: interval set %s", ErrUnsupported, s.name)
	}
	var elems []string
	_ = eachElement(list, func(el string) error { elems = append(elems, el); return nil })
	ranges, err := mergedRanges(s.key[0].size, elems)
	if err != nil {
		return err
	}
	w := &elementWriter{b: b, s: s, typ: unix.NFT_MSG_NEWSETELEM, flags: unix.NLM_F_CREATE}
	for _, r := range ranges {
		_ = w.add(func(a attrs) (attrs, error) { return a.value(unix.NFTA_SET_ELEM_KEY, r.start), nil })
		if r.end != nil {
			_ = w.add(func(a attrs) (attrs, error) {
				return a.u32(unix.NFTA_SET_ELEM_FLAGS, unix.NFT_SET_ELEM_INTERVAL_END).value(unix.NFTA_SET_ELEM_KEY, r.end), nil
			})
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
