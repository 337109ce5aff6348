// Package nfnl encodes svcproxy's nftables text as the netlink batch that
// carries it to the kernel: the messages nft would send for the same
// `nft -f` input, without nft's parser, evaluator and cache between the
// text and the kernel.
//
// The text stays the one form of a ruleset that svcproxy renders, prints,
// diffs and traces; this package is a second encoding of it, as pure as
// the renderer (no I/O, no clock). It reads only the grammar
// render/nftables writes and refuses anything else with ErrUnsupported,
// so a caller can hand such a text to nft instead.
//
// What nft adds of its own is added here too, so that a table loaded
// either way lists identically: the user data beside tables, sets,
// elements and rules (comments, a set's typeof and byte orders), the
// protocol match a port-mapping dnat depends on, single-element
// anonymous sets folded into a comparison, whole-byte prefixes compared
// without a mask, and interval sets sent as merged ranges.
package nfnl
