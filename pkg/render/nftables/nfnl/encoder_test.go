package nfnl

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
	"sigs.k8s.io/knftables"
)

const header = "add table ip svcproxy\n"

var refusedCases = []struct {
	name, text, want string
}{
	{"another table", "add chain ip other c\n", "not table ip svcproxy"},
	{"another family", "add chain ip6 svcproxy c\n", "not table ip svcproxy"},
	{"an unknown statement", "add rule ip svcproxy c counter\n", `expression ["counter"]`},
	{"a set of two", "add rule ip svcproxy c ip daddr { 10.0.0.1, 10.0.0.2 } drop\n", "more than one element"},
	{"an undeclared set", "add rule ip svcproxy c ip daddr @nowhere drop\n", `no set or map "nowhere"`},
	{"an interval deleted", "add set ip svcproxy s { type ipv4_addr ; flags interval ; }\ndelete element ip svcproxy s { 10.0.0.0/8 }\n", "delete element of set s"},
	{"a key of the wrong family", "add set ip svcproxy s { type ipv4_addr ; }\nadd element ip svcproxy s { fd00::1 }\n", `address "fd00::1"`},
	{"a port out of range", "add map ip svcproxy m { type inet_proto . inet_service : verdict ; }\nadd element ip svcproxy m { tcp . 70000 : drop }\n", `number "70000"`},
	{"a quoted comment with a quote", `add rule ip svcproxy c drop comment "a"b"` + "\n", "not a quoted string"},
	{"a zero prefix", "add rule ip svcproxy c ip saddr 0.0.0.0/0 drop\n", `prefix "0.0.0.0/0"`},
}

// TestEncodeRefuses checks that text outside render/nftables' grammar is
// refused with ErrUnsupported, naming the line and the reason, rather
// than encoded into something else.
func TestEncodeRefuses(t *testing.T) {
	for _, tt := range refusedCases {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewEncoder(knftables.IPv4Family, "svcproxy").Encode(header + tt.text)
			if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "line ") {
				t.Errorf("error %v, want ErrUnsupported naming the line and %q", err, tt.want)
			}
		})
	}
}

// elements decodes the keys of the elements of NEWSETELEM messages.
func elements(t *testing.T, b *Batch) (keys [][]byte, flags []uint32) {
	t.Helper()
	for _, m := range b.Messages {
		if binary.NativeEndian.Uint16(m.Data[4:])&0xff != unix.NFT_MSG_NEWSETELEM {
			continue
		}
		list := find(t, m.Data[unix.NLMSG_HDRLEN+4:], unix.NFTA_SET_ELEM_LIST_ELEMENTS)
		for _, el := range each(list) {
			key := find(t, find(t, el, unix.NFTA_SET_ELEM_KEY), unix.NFTA_DATA_VALUE)
			var f uint32
			if v, ok := lookup(el, unix.NFTA_SET_ELEM_FLAGS); ok {
				f = binary.BigEndian.Uint32(v)
			}
			keys, flags = append(keys, key), append(flags, f)
		}
	}
	return keys, flags
}

func each(a []byte) [][]byte {
	var out [][]byte
	for len(a) >= 4 {
		l := int(binary.NativeEndian.Uint16(a))
		out = append(out, a[4:l])
		a = a[min(len(a), align(l)):]
	}
	return out
}

func lookup(a []byte, typ uint16) ([]byte, bool) {
	for len(a) >= 4 {
		l := int(binary.NativeEndian.Uint16(a))
		if binary.NativeEndian.Uint16(a[2:])&^unix.NLA_F_NESTED == typ {
			return a[4:l], true
		}
		a = a[min(len(a), align(l)):]
	}
	return nil, false
}

func find(t *testing.T, a []byte, typ uint16) []byte {
	t.Helper()
	v, ok := lookup(a, typ)
	if !ok {
		t.Fatalf("no attribute %d", typ)
	}
	return v
}

var intervalCases = []struct {
	name     string
	elements string
	// want are the keys sent, "-" marking an interval's end.
	want []string
}{
	{"one prefix", "10.1.0.0/16", []string{"10.1.0.0", "-10.2.0.0"}},
	{"a prefix inside another", "10.1.0.0/16, 10.0.0.0/8", []string{"10.0.0.0", "-11.0.0.0"}},
	{"adjacent halves", "10.128.0.0/9, 10.0.0.0/9", []string{"10.0.0.0", "-11.0.0.0"}},
	{"apart, sorted", "192.168.0.0/24, 10.0.0.0/8", []string{"10.0.0.0", "-11.0.0.0", "192.168.0.0", "-192.168.1.0"}},
	{"an address", "10.0.0.1", []string{"10.0.0.1", "-10.0.0.2"}},
	{"up to the last address", "255.255.255.0/24", []string{"255.255.255.0"}},
	{"unmasked bits are masked", "10.1.2.3/16", []string{"10.1.0.0", "-10.2.0.0"}},
}

// TestIntervals checks that an interval set's elements go as merged
// ranges in address order, as nft's auto-merge sends them.
func TestIntervals(t *testing.T) {
	for _, tt := range intervalCases {
		t.Run(tt.name, func(t *testing.T) {
			text := header + "add set ip svcproxy s { type ipv4_addr ; flags interval ; auto-merge ; }\n" +
				"add element ip svcproxy s { " + tt.elements + " }\n"
			b, err := NewEncoder(knftables.IPv4Family, "svcproxy").Encode(text)
			if err != nil {
				t.Fatal(err)
			}
			keys, flags := elements(t, b)
			var got []string
			for i, k := range keys {
				s := netip.AddrFrom4([4]byte(k)).String()
				if flags[i] == unix.NFT_SET_ELEM_INTERVAL_END {
					s = "-" + s
				}
				got = append(got, s)
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("sent %v, want %v", got, tt.want)
			}
		})
	}
}

// TestElementsSplitAcrossMessages checks that a long element list goes
// in several messages, each short enough for its 16-bit attribute
// length, and that none is lost.
func TestElementsSplitAcrossMessages(t *testing.T) {
	var elems []string
	for i := range 20000 {
		elems = append(elems, fmt.Sprintf("10.%d.%d.1 . tcp . 80 comment \"ns/svc-%d:http\" : goto c", i/256, i%256, i))
	}
	text := header + "add chain ip svcproxy c\nadd map ip svcproxy m { type ipv4_addr . inet_proto . inet_service : verdict ; }\n" +
		"add element ip svcproxy m { " + strings.Join(elems, ", ") + " }\n"
	b, err := NewEncoder(knftables.IPv4Family, "svcproxy").Encode(text)
	if err != nil {
		t.Fatal(err)
	}
	keys, _ := elements(t, b)
	if len(keys) != len(elems) {
		t.Errorf("%d elements sent, want %d", len(keys), len(elems))
	}
	messages := 0
	for _, m := range b.Messages {
		if binary.NativeEndian.Uint16(m.Data[4:])&0xff == unix.NFT_MSG_NEWSETELEM {
			messages++
			if len(m.Data) > 0xffff {
				t.Errorf("a message of %d bytes", len(m.Data))
			}
		}
	}
	if messages < 2 {
		t.Errorf("%d element messages, want the list split", messages)
	}
}

// TestEncoderRemembersCommittedSets checks what a delta may name: the
// sets of committed batches, not those of a batch that was never
// committed, nor those of a table that a committed batch deleted.
func TestEncoderRemembersCommittedSets(t *testing.T) {
	decl := header + "add set ip svcproxy s { type ipv4_addr ; }\n"
	use := "add element ip svcproxy s { 10.0.0.1 }\n"
	e := NewEncoder(knftables.IPv4Family, "svcproxy")
	b, err := e.Encode(decl)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Encode(use); err == nil {
		t.Error("an uncommitted batch's set was named")
	}
	e.Commit(b)
	if _, err := e.Encode(use); err != nil {
		t.Errorf("a committed set could not be named: %v", err)
	}
	gone, err := e.Encode("delete table ip svcproxy\n")
	if err != nil {
		t.Fatal(err)
	}
	e.Commit(gone)
	if _, err := e.Encode(use); err == nil {
		t.Error("a set of a deleted table was named")
	}
}

// TestEncodeDeterministic checks that the same text gives the same bytes.
func TestEncodeDeterministic(t *testing.T) {
	text := header + "add chain ip svcproxy c\nadd rule ip svcproxy c numgen random mod 2 vmap { 0 : goto c , 1 : drop } comment \"x\"\n"
	a, errA := NewEncoder(knftables.IPv4Family, "svcproxy").Encode(text)
	b, errB := NewEncoder(knftables.IPv4Family, "svcproxy").Encode(text)
	if errA != nil || errB != nil {
		t.Fatal(errA, errB)
	}
	if len(a.Messages) != len(b.Messages) {
		t.Fatalf("%d and %d messages", len(a.Messages), len(b.Messages))
	}
	for i := range a.Messages {
		if !bytes.Equal(a.Messages[i].Data, b.Messages[i].Data) {
			t.Errorf("message %d differs", i)
		}
	}
}
