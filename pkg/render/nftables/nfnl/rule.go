package nfnl

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// rule encodes `add rule ... CHAIN BODY [comment "TEXT"]`: its
// statements, then the rule, after any anonymous set a statement
// declares.
func (b *batch) rule(chain, body string) error {
	text, comment, err := splitComment(body)
	if err != nil {
		return err
	}
	r := &ruleEnc{b: b, toks: strings.Fields(text)}
	for r.pos < len(r.toks) {
		if err := r.statement(); err != nil {
			return err
		}
	}
	a := attrs(nil).str(unix.NFTA_RULE_TABLE, b.enc.table).str(unix.NFTA_RULE_CHAIN, chain).
		nest(unix.NFTA_RULE_EXPRESSIONS, func(a attrs) attrs { return append(a, r.e.a...) })
	if comment != "" {
		a = a.put(unix.NFTA_RULE_USERDATA, udata(nil).str(udataRuleComment, comment))
	}
	b.emit(unix.NFT_MSG_NEWRULE, unix.NLM_F_CREATE|unix.NLM_F_APPEND, a)
	return nil
}

// splitComment splits a rule's trailing `comment "TEXT"` off.
func splitComment(body string) (string, string, error) {
	i := strings.LastIndex(body, ` comment "`)
	if i < 0 {
		return body, "", nil
	}
	c, err := unquote(body[i+len(" comment "):])
	return body[:i], c, err
}

// ruleEnc is one rule being encoded: its words and its expressions.
type ruleEnc struct {
	b    *batch
	toks []string
	pos  int
	e    exprs
}

func (r *ruleEnc) peek(off int) string {
	if r.pos+off < len(r.toks) {
		return r.toks[r.pos+off]
	}
	return ""
}

func (r *ruleEnc) next() string {
	t := r.peek(0)
	r.pos++
	return t
}

// expect consumes words, which must come next.
func (r *ruleEnc) expect(words ...string) error {
	for _, w := range words {
		if got := r.next(); got != w {
			return fmt.Errorf("%w: %q where %q was expected", ErrUnsupported, got, w)
		}
	}
	return nil
}

var verdictCodes = map[string]int32{
	"accept": nfAccept, "drop": nfDrop, "return": unix.NFT_RETURN,
	"jump": unix.NFT_JUMP, "goto": unix.NFT_GOTO,
}

// statement encodes the statement at the current word.
func (r *ruleEnc) statement() error {
	switch t := r.peek(0); {
	case t == "jump" || t == "goto":
		r.pos += 2
		r.e.immediateVerdict(verdict{code: verdictCodes[t], chain: r.peek(-1)})
		return nil
	case t == "accept" || t == "drop" || t == "return":
		r.pos++
		r.e.immediateVerdict(verdict{code: verdictCodes[t]})
		return nil
	case t == "ct":
		return r.ct()
	case t == "iifname":
		return r.iifname()
	case t == "fib":
		return r.fib()
	case t == "update":
		return r.update()
	case t == "reject":
		r.pos++
		code := byte(3) // ICMP port unreachable
		if r.b.enc.nfproto == unix.NFPROTO_IPV6 {
			code = 4 // ICMPv6 port unreachable
		}
		r.e.add("reject", attrs(nil).u32(unix.NFTA_REJECT_TYPE, unix.NFT_REJECT_ICMP_UNREACH).put(unix.NFTA_REJECT_ICMP_CODE, []byte{code}))
		return nil
	case t == "masquerade":
		r.pos++
		if err := r.expect("fully-random"); err != nil {
			return err
		}
		r.e.add("masq", attrs(nil).u32(unix.NFTA_MASQ_FLAGS, unix.NF_NAT_RANGE_PROTO_RANDOM_FULLY))
		return nil
	case t == "dnat":
		return r.dnat()
	case t == "meta" && r.peek(1) == "mark":
		return r.mark()
	}
	return r.match()
}

// selectors reads a concatenation of selectors.
func (r *ruleEnc) selectors() ([]selector, error) {
	var out []selector
	for {
		n := 2
		if r.peek(0) == "numgen" {
			n = 4
		}
		if r.pos+n > len(r.toks) {
			return nil, fmt.Errorf("%w: expression %q", ErrUnsupported, r.toks[r.pos:])
		}
		s, err := parseSelector(r.toks[r.pos : r.pos+n])
		if err != nil {
			return nil, err
		}
		r.pos += n
		out = append(out, s)
		if r.peek(0) != "." {
			return out, nil
		}
		r.pos++
	}
}

func fieldsOf(sels []selector) []field {
	fs := make([]field, len(sels))
	for i, s := range sels {
		fs[i] = s.f
	}
	return fs
}

// match encodes SELECTORS followed by a set lookup (`@set`, `!= @set`),
// a verdict map (`vmap @map`, `vmap { ... }`) or a value (`V`, `!= V`,
// `{ V }`).
func (r *ruleEnc) match() error {
	sels, err := r.selectors()
	if err != nil {
		return err
	}
	op := unix.NFT_CMP_EQ
	switch t := r.next(); {
	case t == "vmap" && r.peek(0) == "{":
		return r.anonymousVmap(sels)
	case t == "vmap":
		s, err := r.setRef(r.next())
		if err != nil {
			return err
		}
		r.e.loadAll(sels, 0)
		r.e.lookup(s, unix.NFT_REG_VERDICT, false)
		return nil
	case t == "!=":
		op = unix.NFT_CMP_NEQ
	default:
		r.pos--
	}
	v := r.next()
	if strings.HasPrefix(v, "@") {
		s, err := r.setRef(v)
		if err != nil {
			return err
		}
		r.e.loadAll(sels, 0)
		r.e.lookup(s, -1, op == unix.NFT_CMP_NEQ)
		return nil
	}
	if v == "{" {
		// nft compares a set of one value as the value.
		if v = r.next(); r.next() != "}" || op != unix.NFT_CMP_EQ {
			return fmt.Errorf("%w: an anonymous set of more than one element", ErrUnsupported)
		}
	}
	if len(sels) != 1 {
		return fmt.Errorf("%w: a concatenation compared to a value", ErrUnsupported)
	}
	return r.compare(sels[0], uint32(op), v)
}

// setRef returns the set an `@name` word names.
func (r *ruleEnc) setRef(ref string) (*set, error) {
	name, ok := strings.CutPrefix(ref, "@")
	if !ok {
		return nil, fmt.Errorf("%w: %q is not a set reference", ErrUnsupported, ref)
	}
	return r.b.set(name)
}

// compare loads s and compares it with the value v. A prefix is
// compared as nft does: by its whole bytes alone where it ends on a
// byte, masked otherwise.
func (r *ruleEnc) compare(s selector, op uint32, v string) error {
	if s.f.dtype == typeIPv4Addr || s.f.dtype == typeIPv6Addr {
		if strings.Contains(v, "/") {
			return r.comparePrefix(s, op, v)
		}
	}
	data, err := encodeValue(s.f, v)
	if err != nil {
		return err
	}
	r.e.load(s, 0, 0)
	r.e.cmp(op, data)
	return nil
}

func (r *ruleEnc) comparePrefix(s selector, op uint32, v string) error {
	p, err := netip.ParsePrefix(v)
	if err != nil || p.Addr().BitLen() != s.f.size*8 || p.Bits() == 0 {
		return fmt.Errorf("%w: prefix %q", ErrUnsupported, v)
	}
	addr := p.Masked().Addr().AsSlice()
	bits := p.Bits()
	switch {
	case bits == len(addr)*8:
		r.e.load(s, 0, 0)
		r.e.cmp(op, addr)
	case bits%8 == 0:
		r.e.load(s, 0, uint32(bits/8))
		r.e.cmp(op, addr[:bits/8])
	default:
		r.e.load(s, 0, 0)
		r.e.bitwise(prefixMask(len(addr), bits), make([]byte, len(addr)), false)
		r.e.cmp(op, addr)
	}
	return nil
}

func prefixMask(size, bits int) []byte {
	m := make([]byte, size)
	for i := range bits {
		m[i/8] |= 0x80 >> (i % 8)
	}
	return m
}

// anonymousVmap encodes `vmap { K : VERDICT , ... }`: an anonymous
// constant map, its elements, and a lookup in it.
func (r *ruleEnc) anonymousVmap(sels []selector) error {
	end := r.pos
	for end < len(r.toks) && r.toks[end] != "}" {
		end++
	}
	if end == len(r.toks) {
		return fmt.Errorf("%w: an unclosed map", ErrUnsupported)
	}
	body := strings.Join(r.toks[r.pos+1:end], " ")
	r.pos = end + 1
	s := &set{name: "__map%d", flags: unix.NFT_SET_ANONYMOUS | unix.NFT_SET_CONSTANT | unix.NFT_SET_MAP,
		key: fieldsOf(sels), verdicts: true}
	r.b.addSet(s, false, countElements(body))
	if err := r.b.addElements(s, body); err != nil {
		return err
	}
	r.e.loadAll(sels, 0)
	r.e.lookup(s, unix.NFT_REG_VERDICT, false)
	return nil
}

// ct encodes `ct state new` and `ct status dnat`: a test of one bit.
func (r *ruleEnc) ct() error {
	var key, bit uint32
	switch kv := r.peek(1) + " " + r.peek(2); kv {
	case "state new":
		key, bit = unix.NFT_CT_STATE, 1<<3 // NF_CT_STATE_BIT(IP_CT_NEW)
	case "status dnat":
		key, bit = unix.NFT_CT_STATUS, 1<<5 // IPS_DST_NAT
	default:
		return fmt.Errorf("%w: ct %s", ErrUnsupported, kv)
	}
	r.pos += 3
	r.e.add("ct", attrs(nil).u32(unix.NFTA_CT_KEY, key).u32(unix.NFTA_CT_DREG, unix.NFT_REG_1))
	r.e.bitwise(hostU32(bit), hostU32(0), false)
	r.e.cmp(unix.NFT_CMP_NEQ, hostU32(0))
	return nil
}

// iifname encodes `iifname [!=] "NAME"`, where a trailing * matches
// names starting with the rest.
func (r *ruleEnc) iifname() error {
	r.pos++
	op := uint32(unix.NFT_CMP_EQ)
	if r.peek(0) == "!=" {
		op = unix.NFT_CMP_NEQ
		r.pos++
	}
	name, err := unquote(r.next())
	if err != nil {
		return err
	}
	data := make([]byte, unix.IFNAMSIZ)
	if prefix, ok := strings.CutSuffix(name, "*"); ok {
		data = []byte(prefix)
	} else if len(name) >= unix.IFNAMSIZ {
		return fmt.Errorf("%w: interface name %q", ErrUnsupported, name)
	} else {
		copy(data, name)
	}
	r.e.meta(unix.NFT_META_IIFNAME, unix.NFT_REG_1)
	r.e.cmp(op, data)
	return nil
}

// fib encodes `fib saddr type local`.
func (r *ruleEnc) fib() error {
	if err := r.expect("fib", "saddr", "type", "local"); err != nil {
		return err
	}
	r.e.add("fib", attrs(nil).u32(unix.NFTA_FIB_FLAGS, unix.NFTA_FIB_F_SADDR).
		u32(unix.NFTA_FIB_RESULT, unix.NFT_FIB_RESULT_ADDRTYPE).u32(unix.NFTA_FIB_DREG, unix.NFT_REG_1))
	r.e.cmp(unix.NFT_CMP_EQ, hostU32(unix.RTN_LOCAL))
	return nil
}

// update encodes `update @SET { SELECTOR timeout Ns }`.
func (r *ruleEnc) update() error {
	r.pos++
	s, err := r.setRef(r.next())
	if err != nil {
		return err
	}
	if err := r.expect("{"); err != nil {
		return err
	}
	sels, err := r.selectors()
	if err != nil {
		return err
	}
	if err := r.expect("timeout"); err != nil {
		return err
	}
	secs, ok := strings.CutSuffix(r.next(), "s")
	n, err := strconv.ParseUint(secs, 10, 32)
	if !ok || err != nil {
		return fmt.Errorf("%w: timeout %q", ErrUnsupported, r.peek(-1))
	}
	if err := r.expect("}"); err != nil {
		return err
	}
	r.e.loadAll(sels, 0)
	a := attrs(nil).u32(unix.NFTA_DYNSET_SREG_KEY, unix.NFT_REG_1).u32(unix.NFTA_DYNSET_OP, unix.NFT_DYNSET_OP_UPDATE).
		u64(unix.NFTA_DYNSET_TIMEOUT, n*1000).str(unix.NFTA_DYNSET_SET_NAME, s.name)
	if s.id != 0 {
		a = a.u32(unix.NFTA_DYNSET_SET_ID, s.id)
	}
	r.e.add("dynset", a)
	return nil
}
