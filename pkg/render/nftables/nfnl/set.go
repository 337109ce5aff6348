package nfnl

import (
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// field is one part of a set's key or of a map's value.
type field struct {
	// dtype is nft's datatype (its TYPE_* number), size the bytes of a
	// value.
	dtype uint32
	size  int
	// host is true for integers in host byte order (numgen's).
	host bool
	// typeof is the expression the field was declared by (its type and
	// data, as nft keeps them in user data); nil for `type` fields.
	typeof *typeofExpr
	// proto is the protocol of a protocol's port (`tcp dport`).
	proto byte
}

// nft's datatypes, and its expression types as its typeof user data
// names them.
const (
	typeInteger     = 4
	typeIPv4Addr    = 7
	typeIPv6Addr    = 8
	typeInetProto   = 12
	typeInetService = 13
	typeBits        = 6 // a concatenation's type is its parts', 6 bits each

	exprVerdict = 1
	exprPayload = 7
	exprMeta    = 9
	exprConcat  = 13
	exprNumgen  = 23

	dataVerdict = 0xffffff00 // NFT_DATA_VERDICT
)

// User data records of a set (NFTNL_UDATA_SET_*) and its typeof.
const (
	udataSetKeyByteorder  = 0
	udataSetDataByteorder = 1
	udataSetMergeElements = 2
	udataSetKeyTypeof     = 3
	udataSetDataTypeof    = 4
	udataSetDataInterval  = 6

	udataTypeofExpr = 0
	udataTypeofData = 1

	byteorderInvalid = 0
	byteorderHost    = 1
	byteorderBig     = 2
)

// typeofExpr is an expression as a set's typeof user data records it.
type typeofExpr struct {
	kind uint32
	data udata
}

var typeNames = map[string]field{
	"ipv4_addr":    {dtype: typeIPv4Addr, size: 4},
	"ipv6_addr":    {dtype: typeIPv6Addr, size: 16},
	"inet_proto":   {dtype: typeInetProto, size: 1},
	"inet_service": {dtype: typeInetService, size: 2},
}

// set is a set or map as declared.
type set struct {
	name     string
	id       uint32
	flags    uint32
	key      []field
	value    []field // nil for a set or a verdict map
	verdicts bool
	typeof   bool
}

func (s *set) isMap() bool    { return s.flags&unix.NFT_SET_MAP != 0 }
func (s *set) interval() bool { return s.flags&unix.NFT_SET_INTERVAL != 0 }

// setCommand encodes add, flush and delete of a set or map.
func (b *batch) setCommand(verb string, isMap bool, name, rest string) error {
	switch {
	case verb == "add":
		s, merge, err := parseSetDecl(isMap, name, rest)
		if err != nil {
			return err
		}
		b.addSet(s, merge, 0)
	case verb == "flush" && rest == "":
		b.emit(unix.NFT_MSG_DELSETELEM, 0, attrs(nil).str(unix.NFTA_SET_ELEM_LIST_SET, name).str(unix.NFTA_SET_ELEM_LIST_TABLE, b.enc.table))
	case verb == "delete" && rest == "":
		b.emit(unix.NFT_MSG_DELSET, 0, attrs(nil).str(unix.NFTA_SET_TABLE, b.enc.table).str(unix.NFTA_SET_NAME, name))
		delete(b.out.added, name)
		b.out.removed[name] = true
	default:
		return fmt.Errorf("%w: %s set", ErrUnsupported, verb)
	}
	return nil
}

// parseSetDecl reads `{ type K [: V] ; [flags F ;] [auto-merge ;] }` or
// the same with typeof.
func parseSetDecl(isMap bool, name, decl string) (*set, bool, error) {
	inner, ok := strings.CutPrefix(decl, "{ ")
	inner, ok2 := strings.CutSuffix(inner, " ; }")
	if !ok || !ok2 {
		return nil, false, fmt.Errorf("%w: set declaration %q", ErrUnsupported, decl)
	}
	s := &set{name: name}
	if isMap {
		s.flags |= unix.NFT_SET_MAP
	}
	merge := false
	for _, clause := range strings.Split(inner, " ; ") {
		var err error
		switch word, arg, _ := strings.Cut(clause, " "); word {
		case "type":
			err = s.types(arg)
		case "typeof":
			err = s.typeofs(arg)
		case "flags":
			err = s.setFlags(arg)
		case "auto-merge":
			merge = arg == "" && s.interval()
			if !merge {
				err = fmt.Errorf("%w: auto-merge without flags interval", ErrUnsupported)
			}
		default:
			err = fmt.Errorf("%w: set clause %q", ErrUnsupported, clause)
		}
		if err != nil {
			return nil, false, err
		}
	}
	if len(s.key) == 0 || isMap != (s.verdicts || s.value != nil) {
		return nil, false, fmt.Errorf("%w: set declaration %q", ErrUnsupported, decl)
	}
	return s, merge, nil
}

func (s *set) setFlags(arg string) error {
	for _, f := range strings.Split(arg, ",") {
		switch f {
		case "interval":
			s.flags |= unix.NFT_SET_INTERVAL
		case "dynamic":
			s.flags |= unix.NFT_SET_EVAL
		case "timeout":
			s.flags |= unix.NFT_SET_TIMEOUT
		default:
			return fmt.Errorf("%w: set flag %q", ErrUnsupported, f)
		}
	}
	return nil
}

// types reads `K . K [: V . V]` of datatype names.
func (s *set) types(arg string) error {
	key, value, isMap := strings.Cut(arg, " : ")
	for _, name := range strings.Split(key, " . ") {
		f, ok := typeNames[name]
		if !ok {
			return fmt.Errorf("%w: key type %q", ErrUnsupported, name)
		}
		s.key = append(s.key, f)
	}
	switch {
	case !isMap:
	case value == "verdict":
		s.verdicts = true
	default:
		return fmt.Errorf("%w: map value type %q", ErrUnsupported, value)
	}
	return nil
}

// typeofs reads `EXPR . EXPR [: EXPR . EXPR]`.
func (s *set) typeofs(arg string) error {
	s.typeof = true
	key, value, isMap := strings.Cut(arg, " : ")
	var err error
	if s.key, err = typeofFields(key); err != nil {
		return err
	}
	if isMap {
		s.value, err = typeofFields(value)
	}
	return err
}

func typeofFields(list string) ([]field, error) {
	var out []field
	for _, e := range strings.Split(list, " . ") {
		sel, err := parseSelector(strings.Fields(e))
		if err != nil {
			return nil, err
		}
		out = append(out, sel.f)
	}
	return out, nil
}

// keyLen returns the bytes of a key or value of fields: in a
// concatenation each part takes whole 32-bit registers.
func keyLen(fs []field) int {
	if len(fs) == 1 {
		return fs[0].size
	}
	n := 0
	for _, f := range fs {
		n += align(f.size)
	}
	return n
}

func concatType(fs []field) uint32 {
	var t uint32
	for _, f := range fs {
		t = t<<typeBits | f.dtype
	}
	return t
}

// addSet declares s in the batch, giving it the batch's next set ID;
// size is the element count of an anonymous set, 0 otherwise.
func (b *batch) addSet(s *set, merge bool, size int) {
	b.enc.nextID++
	s.id = b.enc.nextID
	a := attrs(nil).str(unix.NFTA_SET_TABLE, b.enc.table).str(unix.NFTA_SET_NAME, s.name).
		u32(unix.NFTA_SET_FLAGS, s.flags).
		u32(unix.NFTA_SET_KEY_TYPE, concatType(s.key)).u32(unix.NFTA_SET_KEY_LEN, uint32(keyLen(s.key)))
	switch {
	case s.verdicts:
		a = a.u32(unix.NFTA_SET_DATA_TYPE, dataVerdict).u32(unix.NFTA_SET_DATA_LEN, 0)
	case s.value != nil:
		a = a.u32(unix.NFTA_SET_DATA_TYPE, concatType(s.value)).u32(unix.NFTA_SET_DATA_LEN, uint32(keyLen(s.value)))
	}
	a = a.u32(unix.NFTA_SET_ID, s.id)
	if size > 0 {
		a = a.nest(unix.NFTA_SET_DESC, func(a attrs) attrs { return a.u32(unix.NFTA_SET_DESC_SIZE, uint32(size)) })
	}
	a = a.put(unix.NFTA_SET_USERDATA, s.udata(merge))
	b.emit(unix.NFT_MSG_NEWSET, unix.NLM_F_CREATE, a)
	if s.flags&unix.NFT_SET_ANONYMOUS == 0 {
		delete(b.out.removed, s.name)
		b.out.added[s.name] = s
	}
}

// udata returns the set's user data as nft writes it.
func (s *set) udata(merge bool) udata {
	order := uint32(byteorderBig)
	switch {
	case len(s.key) > 1:
		order = byteorderInvalid
	case s.key[0].host:
		order = byteorderHost
	}
	u := udata(nil).u32(udataSetKeyByteorder, order)
	if s.isMap() {
		u = u.u32(udataSetDataByteorder, byteorderInvalid)
	}
	if merge {
		u = u.u32(udataSetMergeElements, 1)
	}
	if len(s.key) > 1 || s.typeof {
		u = u.nest(udataSetKeyTypeof, typeofUdata(s.key, s.typeof))
	}
	switch {
	case s.value != nil:
		u = u.nest(udataSetDataTypeof, typeofUdata(s.value, s.typeof))
	case s.verdicts && s.flags&unix.NFT_SET_ANONYMOUS != 0:
		u = u.nest(udataSetDataTypeof, udata(nil).u32(udataTypeofExpr, exprVerdict).nest(udataTypeofData, nil))
	}
	if s.isMap() {
		u = u.u32(udataSetDataInterval, 0)
	}
	return u
}

// typeofUdata records fields as a concatenation of their expressions,
// or with withExprs false, as a concatenation of unnamed types.
func typeofUdata(fs []field, withExprs bool) udata {
	if len(fs) == 1 && withExprs {
		return udata(nil).u32(udataTypeofExpr, fs[0].typeof.kind).nest(udataTypeofData, fs[0].typeof.data)
	}
	var parts udata
	if withExprs {
		for i, f := range fs {
			parts = parts.nest(byte(i), udata(nil).u32(udataTypeofExpr, f.typeof.kind).nest(udataTypeofData, f.typeof.data))
		}
	}
	return udata(nil).u32(udataTypeofExpr, exprConcat).nest(udataTypeofData, parts)
}

// parseUint reads a decimal number of up to bits bits.
func parseUint(s string, bits int) (uint64, error) {
	n, err := strconv.ParseUint(s, 10, bits)
	if err != nil {
		return 0, fmt.Errorf("%w: number %q", ErrUnsupported, s)
	}
	return n, nil
}
