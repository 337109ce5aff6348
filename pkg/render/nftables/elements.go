package nftables

import (
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/svcproxy/svcproxy/pkg/model"
)

// elementList holds the elements of one set or map as the text nft reads
// between the braces of "add element": "KEY" for a set, "KEY : VALUE" for
// a map, the parts of each joined by " . ". The elements are packed into
// one buffer: at 221,000 elements an object (and a few strings) per
// element was most of a render's memory and time, and the text form is
// what both the loader and the incremental diff want.
type elementList struct {
	buf []byte
	// ends[i] is where element i ends in buf, keys[i] where its key ends.
	ends []int32
	keys []int32
}

// len returns the number of elements; a nil list has none.
func (l *elementList) len() int {
	if l == nil {
		return 0
	}
	return len(l.ends)
}

// start returns where element i begins in buf.
func (l *elementList) start(i int) int {
	if i == 0 {
		return 0
	}
	return int(l.ends[i-1])
}

// body returns element i as nft text.
func (l *elementList) body(i int) []byte { return l.buf[l.start(i):l.ends[i]] }

// key returns the key of element i: what "delete element" names.
func (l *elementList) key(i int) []byte { return l.buf[l.start(i):l.keys[i]] }

// reserve makes room for one more element of up to n bytes, doubling
// the buffers when full: append grows large slices by a quarter, and
// copying a buffer of megabytes that often was most of a render's
// garbage.
func (l *elementList) reserve(n int) {
	if cap(l.buf)-len(l.buf) < n {
		l.buf = slices.Grow(l.buf, max(len(l.buf), 4096)+n)
	}
	if len(l.ends) == cap(l.ends) {
		l.ends = slices.Grow(l.ends, max(len(l.ends), 64))
		l.keys = slices.Grow(l.keys, max(len(l.keys), 64))
	}
}

// maxElementSize bounds the text of one element the renderer writes
// itself: two IPv6 addresses, protocol, ports, index and separators.
const maxElementSize = 2*len("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff") + len(" . sctp . 65535 . 65535 : . 65535")

// add appends an element; value is empty for a set element.
func (l *elementList) add(key, value string) {
	l.reserve(len(key) + len(" : ") + len(value))
	l.buf = append(l.buf, key...)
	l.endKey()
	if value != "" {
		l.buf = append(l.buf, " : "...)
		l.buf = append(l.buf, value...)
	}
	l.end()
}

// endKey marks the end of the key of the element being appended, end
// the end of the element.
func (l *elementList) endKey() { l.keys = append(l.keys, int32(len(l.buf))) }
func (l *elementList) end()    { l.ends = append(l.ends, int32(len(l.buf))) }

// addCommented appends a map element with a comment between its key
// and its value, where nft takes one: the port's name, written straight
// into the buffer (at 11,000 dispatch elements a string each showed in
// the render's allocations), cut to the length nft keeps.
func (l *elementList) addCommented(key string, port model.PortName, value string) {
	l.reserve(len(key) + len(` comment "" : `) + maxCommentLen + len(value))
	l.buf = append(l.buf, key...)
	l.endKey()
	l.buf = append(l.buf, ` comment "`...)
	start := len(l.buf)
	l.buf = append(l.buf, port.Namespace...)
	l.buf = append(l.buf, '/')
	l.buf = append(l.buf, port.Name...)
	if port.Port != "" {
		l.buf = append(l.buf, ':')
		l.buf = append(l.buf, port.Port...)
	}
	l.buf = l.buf[:start+min(len(l.buf)-start, maxCommentLen)]
	l.buf = append(l.buf, `" : `...)
	l.buf = append(l.buf, value...)
	l.end()
}

// addRaw appends an element taken from another list.
func (l *elementList) addRaw(key, body []byte) {
	l.reserve(len(body))
	l.buf = append(l.buf, body...)
	l.keys = append(l.keys, int32(len(l.buf)-len(body)+len(key)))
	l.end()
}

// addSelection appends a select map element: destination key and index
// to the endpoint's address and port, written straight into the buffer.
func (l *elementList) addSelection(key string, i int, ip netip.Addr, port uint16) {
	l.reserve(len(key) + maxElementSize)
	l.buf = append(l.buf, key...)
	l.buf = append(l.buf, " . "...)
	l.buf = strconv.AppendInt(l.buf, int64(i), 10)
	l.endKey()
	l.buf = append(l.buf, " : "...)
	l.buf = ip.AppendTo(l.buf)
	l.buf = append(l.buf, " . "...)
	l.buf = strconv.AppendUint(l.buf, uint64(port), 10)
	l.end()
}

// addAddr appends the set element "ip", as the cluster IPs set holds.
func (l *elementList) addAddr(ip netip.Addr) {
	l.reserve(maxElementSize)
	l.buf = ip.AppendTo(l.buf)
	l.endKey()
	l.end()
}

// addPair appends the set element "ip . ip", as the hairpin set holds.
func (l *elementList) addPair(ip netip.Addr) {
	l.reserve(maxElementSize)
	l.buf = ip.AppendTo(l.buf)
	l.buf = append(l.buf, " . "...)
	l.buf = ip.AppendTo(l.buf)
	l.endKey()
	l.end()
}

// maxElementsPerCommand bounds how many elements one command holds:
// enough to make per-command overhead vanish, few enough that an error
// message from nft, which quotes the failing command, stays readable.
//
// Element commands are merged at all because nft pays per command:
// 221,000 single-element commands (10,000 Services × 10 endpoints), as
// knftables writes them, load in about 8 s, the same elements in a few
// hundred commands in under 2 s.
const maxElementsPerCommand = 1000

// writeCommands writes the elements as "VERB element FAMILY TABLE NAME
// { ... }" commands of up to maxElementsPerCommand elements each.
// keysOnly writes keys alone, as "delete element" wants.
func (l *elementList) writeCommands(b *strings.Builder, prefix string, keysOnly bool) {
	for i := range l.len() {
		switch {
		case i%maxElementsPerCommand == 0:
			if i > 0 {
				b.WriteString(" }\n")
			}
			b.WriteString(prefix)
			b.WriteString(" { ")
		default:
			b.WriteString(", ")
		}
		if keysOnly {
			b.Write(l.key(i))
		} else {
			b.Write(l.body(i))
		}
	}
	if l.len() > 0 {
		b.WriteString(" }\n")
	}
}

// commandsSize returns how many bytes writeCommands writes.
func (l *elementList) commandsSize(prefix string) int {
	n := l.len()
	if n == 0 {
		return 0
	}
	commands := (n + maxElementsPerCommand - 1) / maxElementsPerCommand
	return len(l.buf) + commands*(len(prefix)+len(" { ")+len(" }\n")) + (n-commands)*len(", ")
}
