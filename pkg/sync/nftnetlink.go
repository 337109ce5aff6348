package sync

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
	"sigs.k8s.io/knftables"

	"github.com/svcproxy/svcproxy/pkg/render/nftables/nfnl"
)

// BatchSender commits nftables batches. NFTables sends through it
// instead of running nft when it is set.
type BatchSender interface {
	// SendBatch sends msgs as one transaction: the kernel commits all
	// of them or none. An error wrapping ErrNetlinkUnavailable means
	// nothing reached the kernel because netlink itself failed.
	SendBatch(msgs []nfnl.Message) error
}

// ErrNetlinkUnavailable is wrapped by the error of a batch that could
// not be sent at all: no netfilter netlink socket, or no buffer for the
// batch.
var ErrNetlinkUnavailable = errors.New("nftables netlink unavailable")

// BatchError is a batch the kernel refused, with the command of the
// message it refused first.
type BatchError struct {
	Command string
	Err     error
}

// Error returns "the kernel refused <command>: <errno>".
func (e *BatchError) Error() string {
	return fmt.Sprintf("the kernel refused %q: %v", e.Command, e.Err)
}

// Unwrap returns the kernel's errno.
func (e *BatchError) Unwrap() error { return e.Err }

// KernelNetlink sends batches to the kernel of the network namespace at
// NetNS ("" for the process's) over a netfilter netlink socket, as nft
// does: one write holding the batch, which the kernel processes before
// the write returns, then the errors it queued for refused messages, if
// any. No acknowledgement is asked for the messages it took. The socket
// is kept from one batch to the next (netlinkConn); Close closes it.
type KernelNetlink struct {
	NetNS string
	conn  netlinkConn
}

var _ BatchSender = (*KernelNetlink)(nil)

// SendBatch sends msgs between a batch begin and end.
func (k *KernelNetlink) SendBatch(msgs []nfnl.Message) error {
	buf := frameBatch(msgs)
	opened := false
	err := k.conn.use(k.NetNS, func(fd int) error {
		opened = true
		// The batch is one message to the socket, which must have room
		// for all of it; the kernel counts twice what is asked. Only a
		// batch larger than any before needs a larger buffer.
		if len(buf) > k.conn.sndbuf {
			if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, len(buf)); err != nil {
				return fmt.Errorf("%w: sizing the socket for a batch of %d bytes: %w", ErrNetlinkUnavailable, len(buf), err)
			}
			k.conn.sndbuf = len(buf)
		}
		if err := unix.Sendto(fd, buf, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
			return fmt.Errorf("%w: sending a batch of %d bytes: %w", ErrNetlinkUnavailable, len(buf), err)
		}
		return batchErrors(fd, msgs)
	})
	if err != nil && !opened {
		return fmt.Errorf("%w: %w", ErrNetlinkUnavailable, err)
	}
	return err
}

// Close closes the socket, if one is open.
func (k *KernelNetlink) Close() error { return k.conn.Close() }

// frameBatch puts msgs, numbered from 1, between a batch begin and end.
func frameBatch(msgs []nfnl.Message) []byte {
	size := 2 * (unix.NLMSG_HDRLEN + nfgenmsgLen)
	for _, m := range msgs {
		size += len(m.Data)
	}
	buf := make([]byte, 0, size)
	buf = appendBatchMarker(buf, unix.NFNL_MSG_BATCH_BEGIN, 0)
	for i, m := range msgs {
		start := len(buf)
		buf = append(buf, m.Data...)
		binary.NativeEndian.PutUint32(buf[start+8:], uint32(i+1))
	}
	return appendBatchMarker(buf, unix.NFNL_MSG_BATCH_END, uint32(len(msgs)+1))
}

// appendBatchMarker appends a batch begin or end for nf_tables.
func appendBatchMarker(buf []byte, typ uint16, seq uint32) []byte {
	start := len(buf)
	buf = append(buf, make([]byte, unix.NLMSG_HDRLEN)...)
	buf = append(buf, unix.AF_UNSPEC, unix.NFNETLINK_V0)
	buf = binary.BigEndian.AppendUint16(buf, unix.NFNL_SUBSYS_NFTABLES)
	binary.NativeEndian.PutUint32(buf[start:], uint32(len(buf)-start))
	binary.NativeEndian.PutUint16(buf[start+4:], typ)
	binary.NativeEndian.PutUint16(buf[start+6:], unix.NLM_F_REQUEST)
	binary.NativeEndian.PutUint32(buf[start+8:], seq)
	return buf
}

// batchErrors reads what the kernel queued while it processed the
// batch: nothing when it committed it, an error for each message it
// refused otherwise. The first refusal is the error returned.
func batchErrors(fd int, msgs []nfnl.Message) error {
	var first error
	for {
		buf := make([]byte, 65536)
		n, _, err := unix.Recvfrom(fd, buf, unix.MSG_DONTWAIT)
		if errors.Is(err, unix.EAGAIN) {
			return first
		}
		if err != nil {
			// ENOBUFS: errors were lost, so the batch failed.
			return errors.Join(first, fmt.Errorf("reading the kernel's answer to a batch: %w", err))
		}
		parsed, err := syscall.ParseNetlinkMessage(buf[:n])
		if err != nil {
			return errors.Join(first, err)
		}
		for _, m := range parsed {
			if err := refusal(m, msgs); err != nil && first == nil {
				first = err
			}
		}
	}
}

// refusal returns the error an NLMSG_ERROR message reports, naming the
// command of the message it answers; nil for anything else.
func refusal(m syscall.NetlinkMessage, msgs []nfnl.Message) error {
	if m.Header.Type != unix.NLMSG_ERROR || len(m.Data) < 4 {
		return nil
	}
	code := int32(binary.NativeEndian.Uint32(m.Data))
	if code == 0 {
		return nil
	}
	err := &BatchError{Command: "the batch", Err: unix.Errno(-code)}
	if len(m.Data) >= 4+unix.NLMSG_HDRLEN {
		seq := binary.NativeEndian.Uint32(m.Data[4+8:])
		if seq >= 1 && int(seq) <= len(msgs) {
			err.Command = msgs[seq-1].Command
		}
	}
	return err
}

// TableLister lists the nftables tables of the host as "FAMILY NAME",
// as `nft list tables` prints them without "table ". nft 1.0.6 fills its
// whole cache first, every set element included, to list even the
// tables: 3.7 s beside 10,000 Services.
type TableLister interface {
	NFTablesTables() ([]string, error)
}

var _ TableLister = (*KernelNetlink)(nil)

// familyNames are nft's names of the netfilter families.
var familyNames = map[byte]string{
	unix.NFPROTO_INET: "inet", unix.NFPROTO_IPV4: "ip", unix.NFPROTO_ARP: "arp",
	unix.NFPROTO_NETDEV: "netdev", unix.NFPROTO_BRIDGE: "bridge", unix.NFPROTO_IPV6: "ip6",
}

// NFTablesTables dumps the tables of every family over netlink.
func (k *KernelNetlink) NFTablesTables() ([]string, error) {
	var msgs []syscall.NetlinkMessage
	err := k.conn.use(k.NetNS, func(fd int) error {
		var err error
		msgs, err = request(fd, unix.NFNL_SUBSYS_NFTABLES<<8|unix.NFT_MSG_GETTABLE, unix.NLM_F_DUMP, nil)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("%w: listing the nftables tables: %w", ErrNetlinkUnavailable, err)
	}
	var tables []string
	for _, m := range msgs {
		if m.Header.Type != unix.NFNL_SUBSYS_NFTABLES<<8|unix.NFT_MSG_NEWTABLE || len(m.Data) < nfgenmsgLen {
			continue
		}
		name, ok := attribute(m.Data[nfgenmsgLen:], unix.NFTA_TABLE_NAME)
		family, known := familyNames[m.Data[0]]
		if ok && known {
			tables = append(tables, family+" "+strings.TrimRight(string(name), "\x00"))
		}
	}
	return tables, nil
}

var _ verdictReader = (*KernelNetlink)(nil)

// ChainVerdicts returns, for each rule of one chain, the verdicts it can
// give, spelled as nft lists them ("jump services", "goto x",
// "vmap @service-ips") and joined by spaces. It dumps the chain's rules
// over netlink, without the set elements `nft list` loads first: 2.4 s
// at 10,000 Services, which the canary paid every few seconds on a node
// where anything else changes the ruleset. A chain or table that does
// not exist has no rules.
func (k *KernelNetlink) ChainVerdicts(family knftables.Family, table, chain string) ([]string, error) {
	proto, ok := familyProto(family)
	if !ok {
		return nil, fmt.Errorf("listing chain %s: unknown family %q", chain, family)
	}
	attrs := append(stringAttribute(unix.NFTA_RULE_TABLE, table), stringAttribute(unix.NFTA_RULE_CHAIN, chain)...)
	var msgs []syscall.NetlinkMessage
	err := k.conn.use(k.NetNS, func(fd int) error {
		var err error
		msgs, err = requestFamily(fd, proto, unix.NFNL_SUBSYS_NFTABLES<<8|unix.NFT_MSG_GETRULE, unix.NLM_F_DUMP, attrs)
		return err
	})
	if errors.Is(err, unix.ENOENT) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("listing the rules of chain %s %s %s: %w", family, table, chain, err)
	}
	var out []string
	for _, m := range msgs {
		if m.Header.Type != unix.NFNL_SUBSYS_NFTABLES<<8|unix.NFT_MSG_NEWRULE || len(m.Data) < nfgenmsgLen {
			continue
		}
		exprs, _ := attribute(m.Data[nfgenmsgLen:], unix.NFTA_RULE_EXPRESSIONS)
		out = append(out, strings.Join(verdicts(exprs), " "))
	}
	return out, nil
}

// familyProto returns the netfilter family nft names family (familyNames).
func familyProto(family knftables.Family) (byte, bool) {
	for proto, name := range familyNames {
		if name == string(family) {
			return proto, true
		}
	}
	return 0, false
}

// verdicts returns the verdicts of a rule's expressions: the jumps and
// gotos of immediate expressions, and the verdict maps of lookups.
func verdicts(exprs []byte) []string {
	var out []string
	for typ, elem := range attributes(exprs) {
		if typ != unix.NFTA_LIST_ELEM {
			continue
		}
		name, _ := attribute(elem, unix.NFTA_EXPR_NAME)
		data, _ := attribute(elem, unix.NFTA_EXPR_DATA)
		switch strings.TrimRight(string(name), "\x00") {
		case "immediate":
			if v := immediateVerdict(data); v != "" {
				out = append(out, v)
			}
		case "lookup":
			set, _ := attribute(data, unix.NFTA_LOOKUP_SET)
			if dreg, ok := attribute(data, unix.NFTA_LOOKUP_DREG); ok && len(dreg) == 4 && binary.BigEndian.Uint32(dreg) == unix.NFT_REG_VERDICT {
				out = append(out, "vmap @"+strings.TrimRight(string(set), "\x00"))
			}
		}
	}
	return out
}

// immediateVerdict returns "jump CHAIN" or "goto CHAIN" for an immediate
// expression that gives one, "" otherwise.
func immediateVerdict(data []byte) string {
	imm, _ := attribute(data, unix.NFTA_IMMEDIATE_DATA)
	verdict, ok := attribute(imm, unix.NFTA_DATA_VERDICT)
	if !ok {
		return ""
	}
	code, _ := attribute(verdict, unix.NFTA_VERDICT_CODE)
	chain, _ := attribute(verdict, unix.NFTA_VERDICT_CHAIN)
	if len(code) != 4 {
		return ""
	}
	target := strings.TrimRight(string(chain), "\x00")
	switch int32(binary.BigEndian.Uint32(code)) {
	case unix.NFT_JUMP:
		return "jump " + target
	case unix.NFT_GOTO:
		return "goto " + target
	}
	return ""
}
