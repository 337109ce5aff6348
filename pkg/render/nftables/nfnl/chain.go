package nfnl

import (
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// hooks are the netfilter hook numbers by name.
var hooks = map[string]uint32{
	"prerouting":  unix.NF_INET_PRE_ROUTING,
	"input":       unix.NF_INET_LOCAL_IN,
	"forward":     unix.NF_INET_FORWARD,
	"output":      unix.NF_INET_LOCAL_OUT,
	"postrouting": unix.NF_INET_POST_ROUTING,
}

// namedPriorities are the priorities nft knows by name.
var namedPriorities = map[string]int32{
	"raw": -300, "mangle": -150, "dstnat": -100, "filter": 0, "security": 50, "srcnat": 100,
}

// chainCommand encodes add, flush and delete of a chain; an added base
// chain has `{ type T hook H priority P ; }`.
func (b *batch) chainCommand(verb, name, rest string) error {
	switch {
	case verb == "add":
		a := attrs(nil).str(unix.NFTA_CHAIN_TABLE, b.enc.table).str(unix.NFTA_CHAIN_NAME, name)
		if rest != "" {
			var err error
			if a, err = baseChain(a, rest); err != nil {
				return err
			}
		}
		b.emit(unix.NFT_MSG_NEWCHAIN, unix.NLM_F_CREATE, a)
	case verb == "flush" && rest == "":
		b.emit(unix.NFT_MSG_DELRULE, 0, attrs(nil).str(unix.NFTA_RULE_TABLE, b.enc.table).str(unix.NFTA_RULE_CHAIN, name))
	case verb == "delete" && rest == "":
		b.emit(unix.NFT_MSG_DELCHAIN, 0, attrs(nil).str(unix.NFTA_CHAIN_TABLE, b.enc.table).str(unix.NFTA_CHAIN_NAME, name))
	default:
		return fmt.Errorf("%w: %s chain", ErrUnsupported, verb)
	}
	return nil
}

// baseChain appends a base chain's type and hook, read from decl.
func baseChain(a attrs, decl string) (attrs, error) {
	f := strings.Fields(decl)
	if len(f) != 9 || f[0] != "{" || f[1] != "type" || f[3] != "hook" || f[5] != "priority" || f[7] != ";" || f[8] != "}" {
		return nil, fmt.Errorf("%w: chain declaration %q", ErrUnsupported, decl)
	}
	hook, ok := hooks[f[4]]
	if !ok {
		return nil, fmt.Errorf("%w: hook %q", ErrUnsupported, f[4])
	}
	prio, ok := namedPriorities[f[6]]
	if !ok {
		n, err := strconv.ParseInt(f[6], 10, 32)
		if err != nil {
			return nil, fmt.Errorf("%w: priority %q", ErrUnsupported, f[6])
		}
		prio = int32(n)
	}
	a = a.str(unix.NFTA_CHAIN_TYPE, f[2])
	return a.nest(unix.NFTA_CHAIN_HOOK, func(a attrs) attrs {
		return a.u32(unix.NFTA_HOOK_HOOKNUM, hook).u32(unix.NFTA_HOOK_PRIORITY, uint32(prio))
	}), nil
}
