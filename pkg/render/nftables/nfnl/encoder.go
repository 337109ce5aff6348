package nfnl

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/sys/unix"
	"sigs.k8s.io/knftables"
)

// ErrUnsupported is wrapped by the error for text this package cannot
// encode: nft can still load it.
var ErrUnsupported = errors.New("not in the grammar the netlink encoder reads")

// Message is one nf_tables request of a batch.
type Message struct {
	// Data is the netlink message: header (sequence number 0, for the
	// sender to fill in), nfgenmsg and attributes.
	Data []byte
	// Command is the line of text it encodes, for errors.
	Command string
}

// Batch is one transaction's messages, in order, without the batch
// begin and end messages that the sender wraps them in.
type Batch struct {
	Messages []Message

	// What the batch does to the sets, applied to the Encoder by
	// Commit once the kernel has taken it.
	tableGone bool
	added     map[string]*set
	removed   map[string]bool
}

// Encoder encodes the texts loaded into one table. It remembers the sets
// and maps the kernel holds (as the committed batches declared them),
// since a rule or an element names a set whose declaration an
// incremental text may not repeat.
type Encoder struct {
	family  knftables.Family
	nfproto byte
	table   string
	sets    map[string]*set
	// nextID numbers the sets of a batch, which its rules and elements
	// name them by: anonymous sets have no name until the kernel
	// commits them.
	nextID uint32
}

// NewEncoder returns the encoder of a table that does not exist yet.
func NewEncoder(family knftables.Family, table string) *Encoder {
	p := byte(unix.NFPROTO_IPV4)
	switch family {
	case knftables.IPv6Family:
		p = unix.NFPROTO_IPV6
	case knftables.InetFamily:
		p = unix.NFPROTO_INET
	}
	return &Encoder{family: family, nfproto: p, table: table, sets: map[string]*set{}}
}

// Commit records that the kernel took b: later batches can name its
// sets.
func (e *Encoder) Commit(b *Batch) {
	if b.tableGone {
		clear(e.sets)
	}
	for name := range b.removed {
		delete(e.sets, name)
	}
	for name, s := range b.added {
		// Later batches name it by name: its ID was this batch's.
		s.id = 0
		e.sets[name] = s
	}
}

// Encode encodes text, commands of `nft -f` as render/nftables writes
// them, one a line, for this encoder's table.
func (e *Encoder) Encode(text string) (*Batch, error) {
	b := &batch{enc: e, out: &Batch{added: map[string]*set{}, removed: map[string]bool{}}}
	for n := 1; text != ""; n++ {
		var line string
		line, text, _ = strings.Cut(text, "\n")
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		b.line = line
		if err := b.command(line); err != nil {
			return nil, fmt.Errorf("line %d (%s): %w", n, excerpt(line), err)
		}
	}
	return b.out, nil
}

func excerpt(line string) string {
	if len(line) > 100 {
		return line[:100] + "..."
	}
	return line
}

// batch is the state of one Encode.
type batch struct {
	enc  *Encoder
	out  *Batch
	line string
}

// set returns the set or map called name as the batch so far leaves it.
func (b *batch) set(name string) (*set, error) {
	if s, ok := b.out.added[name]; ok {
		return s, nil
	}
	if s, ok := b.enc.sets[name]; ok && !b.out.tableGone && !b.out.removed[name] {
		return s, nil
	}
	return nil, fmt.Errorf("%w: no set or map %q declared", ErrUnsupported, name)
}

// emit appends a message of type typ (an NFT_MSG_*) with attrs.
func (b *batch) emit(typ uint16, flags uint16, a attrs) {
	data := make([]byte, unix.NLMSG_HDRLEN, unix.NLMSG_HDRLEN+4+len(a))
	data = append(data, b.enc.nfproto, unix.NFNETLINK_V0, 0, 0)
	data = append(data, a...)
	binary.NativeEndian.PutUint32(data[0:], uint32(len(data)))
	binary.NativeEndian.PutUint16(data[4:], unix.NFNL_SUBSYS_NFTABLES<<8|typ)
	binary.NativeEndian.PutUint16(data[6:], unix.NLM_F_REQUEST|flags)
	b.out.Messages = append(b.out.Messages, Message{Data: data, Command: b.line})
}

// command encodes one line: VERB KIND FAMILY TABLE [REST].
func (b *batch) command(line string) error {
	f := strings.SplitN(line, " ", 5)
	if len(f) < 4 {
		return fmt.Errorf("%w: too few words", ErrUnsupported)
	}
	verb, kind, rest := f[0], f[1], ""
	if len(f) == 5 {
		rest = f[4]
	}
	if knftables.Family(f[2]) != b.enc.family || f[3] != b.enc.table {
		return fmt.Errorf("%w: not table %s %s", ErrUnsupported, b.enc.family, b.enc.table)
	}
	if kind == "table" {
		return b.tableCommand(verb, rest)
	}
	name, rest, _ := strings.Cut(rest, " ")
	if name == "" {
		return fmt.Errorf("%w: no name", ErrUnsupported)
	}
	switch kind {
	case "chain":
		return b.chainCommand(verb, name, rest)
	case "set", "map":
		return b.setCommand(verb, kind == "map", name, rest)
	case "rule":
		if verb != "add" {
			return fmt.Errorf("%w: %s rule", ErrUnsupported, verb)
		}
		return b.rule(name, rest)
	case "element":
		return b.elementCommand(verb, name, rest)
	}
	return fmt.Errorf("%w: %s %s", ErrUnsupported, verb, kind)
}

// tableCommand encodes add, delete and flush of the table. Flushing a
// table removes its rules only, as nft's does.
func (b *batch) tableCommand(verb, rest string) error {
	name := attrs(nil).str(unix.NFTA_TABLE_NAME, b.enc.table)
	switch {
	case verb == "add":
		a := name.u32(unix.NFTA_TABLE_FLAGS, 0)
		if rest != "" {
			comment, err := declComment(rest)
			if err != nil {
				return err
			}
			a = a.put(nftaTableUserdata, udata(nil).str(udataTableComment, comment))
		}
		b.emit(unix.NFT_MSG_NEWTABLE, unix.NLM_F_CREATE, a)
	case verb == "delete" && rest == "":
		b.emit(unix.NFT_MSG_DELTABLE, 0, name)
		b.out.tableGone = true
		clear(b.out.added)
		clear(b.out.removed)
	case verb == "flush" && rest == "":
		b.emit(unix.NFT_MSG_DELRULE, 0, attrs(nil).str(unix.NFTA_RULE_TABLE, b.enc.table))
	default:
		return fmt.Errorf("%w: %s table", ErrUnsupported, verb)
	}
	return nil
}

// declComment reads `{ comment "TEXT" ; }`.
func declComment(decl string) (string, error) {
	inner, ok := strings.CutPrefix(decl, "{ comment ")
	if inner, ok2 := strings.CutSuffix(inner, " ; }"); ok && ok2 {
		if s, err := unquote(inner); err == nil {
			return s, nil
		}
	}
	return "", fmt.Errorf("%w: table declaration %q", ErrUnsupported, decl)
}

// unquote reads a string as knftables quotes it: in double quotes, with
// no quote inside.
func unquote(s string) (string, error) {
	if len(s) < 2 || s[0] != '"' || s[len(s)-1] != '"' || strings.Contains(s[1:len(s)-1], `"`) {
		return "", fmt.Errorf("%w: %q is not a quoted string", ErrUnsupported, s)
	}
	return s[1 : len(s)-1], nil
}

// Attributes and user data that golang.org/x/sys/unix does not name.
const (
	nftaTableUserdata = 6 // NFTA_TABLE_USERDATA
	nftaBitwiseOp     = 6 // NFTA_BITWISE_OP

	udataTableComment = 0 // NFTNL_UDATA_TABLE_COMMENT
	udataRuleComment  = 0 // NFTNL_UDATA_RULE_COMMENT
	udataElemComment  = 0 // NFTNL_UDATA_SET_ELEM_COMMENT
)

// Verdict codes of netfilter itself.
const (
	nfDrop   = 0 // NF_DROP
	nfAccept = 1 // NF_ACCEPT
)

// DeleteTable returns the batch that deletes table name of family, for
// removing tables other than the encoder's (another proxy's leftovers).
func DeleteTable(family knftables.Family, name string) *Batch {
	b := &batch{enc: NewEncoder(family, name), out: &Batch{added: map[string]*set{}, removed: map[string]bool{}}}
	b.line = "delete table " + string(family) + " " + name
	_ = b.tableCommand("delete", "")
	return b.out
}
