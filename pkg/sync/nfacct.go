package sync

import (
	"encoding/binary"
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// The nfnetlink_acct messages and attributes svcproxy uses (the kernel's
// linux/netfilter/nfnetlink_acct.h; x/sys has none of them).
const (
	nfnlSubsysAcct = 7
	nfnlMsgAcctNew = 0
	nfnlMsgAcctGet = 1
	nfacctName     = 1
	nfacctPkts     = 2
)

// ensureNFAcct creates the named nfacct counter in the network namespace
// at netns, unless it exists; the counters are what iptables rules with
// `-m nfacct` count packets in, as kube-proxy's do.
func ensureNFAcct(netns, name string) error {
	_, err := nfnetlink(netns, nfnlSubsysAcct<<8|nfnlMsgAcctNew, unix.NLM_F_CREATE|unix.NLM_F_ACK, stringAttribute(nfacctName, name))
	// The kernel answers EBUSY for a counter that exists already.
	if err != nil && !errors.Is(err, unix.EBUSY) {
		return fmt.Errorf("creating the nfacct counter %s: %w", name, err)
	}
	return nil
}

// NFAcctPackets returns the packets the named nfacct counter in the
// network namespace at netns ("" for the process's) has counted.
func NFAcctPackets(netns, name string) (uint64, error) {
	msgs, err := nfnetlink(netns, nfnlSubsysAcct<<8|nfnlMsgAcctGet, unix.NLM_F_ACK, stringAttribute(nfacctName, name))
	if err != nil {
		return 0, fmt.Errorf("reading the nfacct counter %s: %w", name, err)
	}
	for _, m := range msgs {
		if m.Header.Type != nfnlSubsysAcct<<8|nfnlMsgAcctNew || len(m.Data) < nfgenmsgLen {
			continue
		}
		if v, ok := attribute(m.Data[nfgenmsgLen:], nfacctPkts); ok && len(v) == 8 {
			return binary.BigEndian.Uint64(v), nil
		}
	}
	return 0, fmt.Errorf("reading the nfacct counter %s: no packet count in the kernel's answer", name)
}
